import Foundation
import GRDB
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

@Suite struct ReplicaStoreTests {
    @Test func createsAWALDatabaseThatPassesIntegrityCheckAndRefusesReinitialisation() throws {
        let fixture = try KioskFixture()
        try fixture.record()
        let queue = try DatabaseQueue(path: fixture.store.path)
        try queue.read { db in
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            #expect(
                Set(tables).isSuperset(of: [
                    "replica", "records", "change_log", "sync_checkpoints", "conflicts", "returns",
                ])
            )
        }
        #expect {
            try ReplicaStore.create(
                at: fixture.store.path,
                identity: .kiosk(store: StoreID("store-12"), kiosk: KioskID("kiosk-b"))
            )
        } throws: { error in
            (error as? ReplicaStoreError)?.code == .alreadyInitialized && "\(error)".contains("store-12/kiosk-a")
        }
        // The identity survives: reopening finds the same replica.
        #expect(try ReplicaStore.open(at: fixture.store.path).identity.replicaID.rawValue == "store-12/kiosk-a")
    }

    @Test func openingAMissingDatabaseFailsWithoutCreatingIt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("missing.sqlite")
        #expect { try ReplicaStore.open(at: path) } throws: { error in
            (error as? ReplicaStoreError)?.code == .databaseMissing && "\(error)".contains(path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func eachOperationWritesTheRecordItsProjectionAndOneChangeLogEntry() throws {
        let fixture = try KioskFixture()
        let item = try fixture.record(note: "box dented")
        #expect(item.status == .received)
        #expect(item.notes.map(\.text) == ["box dented"])
        #expect(try fixture.store.changeLogCount() == 1)

        let inspected = try fixture.store.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
        }
        #expect(inspected.status == .inspected)
        #expect(try fixture.store.changeLogCount() == 2)

        let record = try fixture.store.returnRecord(item.id)
        let replica = fixture.store.identity.replicaID
        #expect(record.clock == [replica: 2])
        #expect(record.values(of: ReturnEntity.Field.condition).first?.dot == (try Dot(replica: replica, counter: 2)))

        let rows = try fixture.store.returnRows()
        #expect(rows.count == 1)
        #expect(
            rows.first?.status == "inspected" && rows.first?.condition == "used" && rows.first?.storeId == "store-12"
        )
        #expect(try fixture.store.returnRows(status: .received).isEmpty)
        #expect(try fixture.store.returnRows(reason: .defective).count == 1)
        #expect(try fixture.store.returnRecords(status: .inspected) == [record])
    }

    @Test func whatChangedSinceIsOrderedByChangeAndLeavesOutWhatCameBefore() throws {
        let fixture = try KioskFixture()
        let first = try fixture.record()
        let second = try fixture.record()
        let checkpoint = try fixture.store.status().lastChangeSeq
        try fixture.store.updateReturn(first.id, operation: "note") { item, author, date in
            try item.addNote("called the customer", by: author, at: date)
        }
        let changes = try fixture.store.changes(since: checkpoint)
        #expect(changes.map(\.record.id) == [first.id.rawValue])
        #expect(try fixture.store.changes(since: 0).map(\.record.id) == [second.id.rawValue, first.id.rawValue])
        #expect(try fixture.store.changes(since: 0, limit: 1).count == 1)
    }

    @Test func returnIDsMadeByOneReplicaStrictlyIncrease() throws {
        let fixture = try KioskFixture()
        let ids = try (0..<50).map { _ in try fixture.record().id }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
    }

    @Test func lifecycleRulesAreCleanErrorsThatLeaveTheDatabaseUntouched() throws {
        let fixture = try KioskFixture()
        let item = try fixture.record(reason: .recall)
        let before = try fixture.snapshot()
        let refusals: [(String, (inout ProductReturn, String, Date) throws -> ReturnUpdate)] = [
            (
                "disposition before inspection",
                { item, author, date in try item.assignDisposition(.repair, by: author, at: date) }
            ),
            ("close before disposition", { item, _, date in try item.close(at: date) }),
            ("void without a note", { item, author, date in try item.void(note: " ", by: author, at: date) }),
        ]
        for (name, operation) in refusals {
            #expect(throws: ReturnsModelError.self, "\(name)") {
                try fixture.store.updateReturn(item.id, operation: name, operation)
            }
        }
        try fixture.store.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .unopened, by: author, at: date)
        }
        let inspected = try fixture.snapshot()
        #expect {
            try fixture.store.updateReturn(item.id, operation: "disposition") { item, author, date in
                try item.assignDisposition(.restock, by: author, at: date)
            }
        } throws: { "\($0)".contains("recalled") }
        #expect(try fixture.snapshot() == inspected)
        #expect(inspected.changes == before.changes + 1)

        #expect {
            try fixture.store.updateReturn(ReturnID.make(), operation: "close") { item, _, date in
                try item.close(at: date)
            }
        } throws: { ($0 as? ReplicaStoreError)?.code == .notFound }
    }

    @Test func mergingAConcurrentVersionAuditsTheConflictWithItsDotsAndWinner() throws {
        let kiosk = try KioskFixture()
        let item = try kiosk.record()
        try kiosk.store.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
        }
        // HQ holds a copy and routes the item while the kiosk, offline, routes it differently.
        var remote = try kiosk.store.returnRecord(item.id)
        let hq = try ReplicaID("hq")
        try remote.updateReturn(by: hq, stamp: HLCTimestamp(physical: 1)) { item, author, date in
            try item.assignDisposition(.recycle, by: author, at: date)
        }
        try kiosk.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.repair, by: author, at: date)
        }

        let outcome = try kiosk.store.merge(remote)
        #expect(outcome.detectedConflicts == [ReturnEntity.Field.disposition])
        let audit = try kiosk.store.conflictAudit()
        #expect(audit.count == 1)
        let entry = try #require(audit.first)
        #expect(entry.recordID == item.id.rawValue && entry.field == "disposition")
        #expect(Set(entry.values.map(\.value)) == ["recycle", "repair"])
        #expect(Set(entry.values.map(\.dot.replica.rawValue)) == ["hq", "store-12/kiosk-a"])
        #expect(entry.winner.value == "recycle")
        #expect(entry.detectedBy == "store-12/kiosk-a")
        #expect(entry.isOpen)
        #expect(try kiosk.store.status().inConflict == 1)
        #expect(try GroupCommitTests.projectionDrift(kiosk.store) == [], "the row shows the open conflict")

        // Merging the same version again is a no-op: nothing new in the log or the audit.
        let changes = try kiosk.store.changeLogCount()
        #expect(try kiosk.store.merge(remote).changed == false)
        #expect(try kiosk.store.changeLogCount() == changes)
        #expect(try kiosk.store.conflictAudit().count == 1)

        // Resolving it locally closes the audit entry.
        try kiosk.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.returnToVendor, by: author, at: date)
        }
        #expect(try kiosk.store.conflictAudit().first?.isOpen == false)
        #expect(try kiosk.store.status().inConflict == 0)
        #expect(try GroupCommitTests.projectionDrift(kiosk.store) == [], "and no longer once it is settled")
    }

    @Test func twoWritersOnOneDatabaseBothSucceedWithNothingLost() async throws {
        let fixture = try KioskFixture()
        let path = fixture.store.path
        let perWriter = 40
        // Two stores opened separately, as two `kiosk` processes would, writing at the same time.
        try await withThrowingTaskGroup(of: [ReturnID].self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let store = try ReplicaStore.open(at: path)
                    var ids: [ReturnID] = []
                    for index in 0..<perWriter {
                        let item = try store.recordReturn(
                            ReturnCapture(orderID: OrderID("O-\(index)"), gtin: GTIN("96385074"), reason: .other)
                        )
                        ids.append(item.id)
                        try store.updateReturn(item.id, operation: "note") { item, author, date in
                            try item.addNote("note \(index)", by: author, at: date)
                        }
                    }
                    return ids
                }
            }
            var all: [ReturnID] = []
            for try await ids in group { all += ids }
            #expect(Set(all).count == 2 * perWriter)
        }
        #expect(try fixture.store.returnRows().count == 2 * perWriter)
        #expect(try fixture.store.changeLogCount() == 4 * perWriter)
        // Every return holds both of its edits: the capture and the note, each with its own dot.
        let replica = fixture.store.identity.replicaID
        #expect(
            try fixture.store.returnRecords().allSatisfy {
                $0.clock == [replica: 2] && $0.elements(of: "notes").count == 1
            }
        )
    }
}

@Suite struct OutOfRangeTimeTests {
    /// Times stored before times were range-checked must not stop the dashboard the HTML report draws.
    @Test func aStoredTimeAtTheEndOfTimeDoesNotStopTheDashboard() throws {
        let fixture = try KioskFixture()
        try fixture.record()
        try fixture.record()
        let queue = try DatabaseQueue(path: fixture.store.path)
        try queue.write { db in
            try db.execute(
                sql: "UPDATE returns SET created_at = ? WHERE id = (SELECT min(id) FROM returns)",
                arguments: [Int64.max]
            )
        }
        let dashboard = try fixture.store.dashboard()
        #expect(dashboard.returns == 2)
        #expect(dashboard.perDay.map(\.returns).reduce(0, +) == 1, "the implausible time is left out of the days")
    }

    @Test func millisecondsSaturateInsteadOfTrapping() {
        #expect(Date(timeIntervalSince1970: 1e300).millisecondsSince1970 == .max)
        #expect(Date(timeIntervalSince1970: -1e300).millisecondsSince1970 == .min)
        #expect(Date(millisecondsSince1970: 1_780_000_000_123).millisecondsSince1970 == 1_780_000_000_123)
    }

    @Test func aReturnCreatedOutsideTheYears1970To9999DoesNotDecode() throws {
        for createdAt in [Int64.max, -1, ReturnDates.millisecondsRange.upperBound + 1] {
            let item = try ProductReturn(
                id: ReturnID.make(),
                storeID: StoreID("s"),
                kioskID: KioskID("k"),
                orderID: OrderID("O"),
                gtin: GTIN("4006381333931"),
                reason: .damaged,
                createdAt: Date(millisecondsSince1970: createdAt)
            )
            let record = try ReturnEntity.makeRecord(for: item, by: ReplicaID("s/k"), stamp: HLCTimestamp(physical: 1))
            #expect {
                try ProductReturn(record: record)
            } throws: { error in "\(error)".contains("invalid createdAt") }
        }
    }
}

@Suite struct OwnerOnlyFileTests {
    /// Under the permissive umask a machine usually has (0022), the database, its WAL and SHM files and backups are
    /// still the owner's alone: they hold the kiosk's private key (at HQ: every store's returns, the identity key).
    @Test func databasesWALsAndBackupsAreOwnerOnly() throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        let fixture = try KioskFixture()
        try fixture.record()
        let path = fixture.store.path
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(OwnerOnlyFiles.mode(of: file) == 0o600, "\(file)")
        }
        let backup = fixture.directory.file("copy.sqlite")
        try fixture.store.backup(to: backup)
        #expect(OwnerOnlyFiles.mode(of: backup) == 0o600)
    }

    @Test func aKioskDatabaseOthersMayReadIsRefusedNamingTheFix() throws {
        let fixture = try KioskFixture()
        try fixture.record()
        let path = fixture.store.path
        #expect(chmod(path, 0o644) == 0)
        #expect {
            _ = try ReplicaStore.open(at: path)
        } throws: { error in
            "\(error)".contains("holds kiosk store-12/kiosk-a's private key but other users may read it (mode 644)")
                && "\(error)".contains("chmod 600 '\(path)'")
        }
        #expect(chmod(path, 0o600) == 0)
        #expect(try ReplicaStore.open(at: path).identity.replicaID.rawValue == "store-12/kiosk-a")
    }
}
