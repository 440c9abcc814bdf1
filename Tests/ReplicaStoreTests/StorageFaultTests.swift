import Foundation
import GRDB
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import Testing

/// Storage that fails under the store: each failure is a clear error, stores nothing, damages nothing, and the
/// next run works once the cause is gone.
@Suite struct StorageFaultTests {
    static func capture(_ store: ReplicaStore, note: String? = nil) throws -> ProductReturn {
        try store.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .damaged, note: note)
        )
    }

    /// Runs `sqlite3 PATH` as another process holding the database's write lock until `body` returns.
    static func withLockHeldByAnotherProcess(_ path: String, _ body: () throws -> Void) throws {
        let process = try ChildProcess("/usr/bin/env", ["sqlite3", path], input: .pipe)
        let input = process.standardInput!
        input.write(Data("BEGIN IMMEDIATE;\nSELECT 'locked';\n".utf8))
        // The shell prints once it holds the lock.
        var printed = Data()
        while !String(decoding: printed, as: UTF8.self).contains("locked") {
            let chunk = process.standardOutput!.availableData
            guard !chunk.isEmpty else { break }
            printed.append(chunk)
        }
        #expect(String(decoding: printed, as: UTF8.self).contains("locked"), "sqlite3 took the lock")
        defer {
            input.write(Data("ROLLBACK;\n.quit\n".utf8))
            try? input.close()
            process.waitUntilExit()
        }
        try body()
    }

    @Test func aDatabaseANewerVersionMigratedIsRefusedAndLeftAsItIs() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("kiosk.sqlite")
        let store = try ReplicaStore.create(at: path, identity: .kiosk(store: StoreID("s"), kiosk: KioskID("k")))
        _ = try Self.capture(store)
        // As a later version would leave it: a migration this version does not know.
        let sqlite = try ChildProcess(
            "/usr/bin/env",
            ["sqlite3", path, "INSERT INTO grdb_migrations VALUES ('v99: from the future')"],
            output: .discard
        )
        #expect(sqlite.waitUntilExit() == .init(status: 0, bySignal: false))
        #expect {
            _ = try ReplicaStore.open(at: path)
        } throws: { error in
            "\(error)".contains("\(path) was written by a newer version of ReturnSync")
        }
    }

    @Test func aDatabaseLockedByAnotherProcessIsAClearErrorAndWorksOnceReleased() throws {
        let fixture = try KioskFixture()
        let kept = try Self.capture(fixture.store)
        let impatient = try ReplicaStore.open(
            at: fixture.store.path,
            configuration: ReplicaStore.Configuration(busyTimeout: 0.2)
        )
        try Self.withLockHeldByAnotherProcess(fixture.store.path) {
            #expect {
                try Self.capture(impatient)
            } throws: { error in
                let message = (error as? ReplicaStoreError)?.message ?? ""
                // SQLite's own error stays underneath the sentence, for logs and callers that look closer.
                let cause = (error as? ReplicaStoreError)?.cause as? DatabaseError
                return message.contains("is locked by another process") && message.contains(fixture.store.path)
                    && cause?.resultCode == .SQLITE_BUSY
            }
        }
        #expect(try fixture.store.returnRecords().map(\.id) == [kept.id.rawValue], "nothing half-stored")
        _ = try Self.capture(impatient)
        #expect(try impatient.status().totalReturns == 2)
        #expect(try impatient.integrityCheck() == "ok")
    }

    @Test func aFullDiskIsAClearErrorStoresNothingAndTheNextRunWorks() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("kiosk.sqlite")
        let identity = try ReplicaIdentity.kiosk(store: StoreID("s1"), kiosk: KioskID("k1"))
        // SQLite reports a size cap exactly as a full disk (SQLITE_FULL): same code path, no root needed.
        let capped = try ReplicaStore.create(
            at: path,
            identity: identity,
            configuration: ReplicaStore.Configuration(maximumSize: 400_000)
        )
        var recorded: [ReturnID] = []
        var failure: (any Error)?
        let filler = String(repeating: "x", count: 1500)
        for index in 0..<5_000 {
            do {
                recorded.append(try Self.capture(capped, note: "\(index) \(filler)").id)
            } catch {
                failure = error
                break
            }
        }
        let message = (failure as? ReplicaStoreError)?.message ?? "no failure after \(recorded.count) captures"
        #expect(message.contains("is full") && message.contains("nothing was stored"), "\(message)")
        #expect(try capped.returnRecords().map(\.id) == recorded.map(\.rawValue), "every acknowledged capture, once")
        #expect(try capped.integrityCheck() == "ok")

        // Space freed (here: the cap lifted): the next run works.
        let roomy = try ReplicaStore.open(at: path)
        recorded.append(try Self.capture(roomy).id)
        #expect(try roomy.status().totalReturns == recorded.count)
        #expect(try roomy.integrityCheck() == "ok")
    }

    @Test func aReadOnlyDatabaseIsAClearErrorAndWorksOnceWritable() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("kiosk.sqlite")
        do {
            let store = try ReplicaStore.create(
                at: path,
                identity: .kiosk(store: StoreID("s1"), kiosk: KioskID("k1"))
            )
            _ = try Self.capture(store)
        }
        // Root ignores permission bits: make the file immutable instead (ext4 and most Linux filesystems).
        let asRoot = getuid() == 0
        func protect(_ on: Bool) throws {
            if asRoot {
                let chattr = try ChildProcess("/usr/bin/env", ["chattr", on ? "+i" : "-i", path], output: .discard)
                try #require(chattr.waitUntilExit().status == 0, "chattr must work on the temporary directory")
            } else {
                try FileManager.default.setAttributes([.posixPermissions: on ? 0o400 : 0o600], ofItemAtPath: path)
            }
        }
        try protect(true)
        defer { try? protect(false) }
        do {
            let store = try ReplicaStore.open(at: path)
            #expect {
                try Self.capture(store)
            } throws: { error in
                let message = (error as? ReplicaStoreError)?.message ?? "\(error)"
                return message.contains(path) && (message.contains("read-only") || message.contains("cannot be opened"))
            }
        } catch let error as ReplicaStoreError {
            // Refusing to open at all is as good, when it says why.
            #expect(error.message.contains("read-only") || error.message.contains("cannot be opened"), "\(error)")
        }
        try protect(false)
        let store = try ReplicaStore.open(at: path)
        _ = try Self.capture(store)
        #expect(try store.status().totalReturns == 2)
        #expect(try store.integrityCheck() == "ok")
    }
}
