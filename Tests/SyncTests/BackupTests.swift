import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import SyncEngine
import Testing

@Suite struct BackupTests {
    /// A backup taken while kiosks sync is a valid replica holding every return acknowledged before it began, and
    /// restoring it (putting it in place, restarting) serves kiosks as before.
    @Test func aBackupDuringActiveSyncsRestoresToAWholeDatabase() async throws {
        let server = try await TestServer()
        let kiosks = try (0..<4).map { try TestKiosk(store: "store-\($0 % 2)", kiosk: "k\($0)", server: server) }
        for kiosk in kiosks {
            for index in 0..<50 { try kiosk.record(order: "ORD-\(index)") }
        }
        // The first half is acknowledged before the backup begins.
        try await kiosks[0].sync()
        try await kiosks[1].sync()
        let acknowledged = Set(try server.store.returnRecords().map(\.id))
        #expect(acknowledged.count == 100)

        let copy = server.directory.file("backup.sqlite")
        // The other kiosks sync while the copy is written.
        async let third = kiosks[2].sync()
        async let fourth = kiosks[3].sync()
        try server.store.backup(to: copy)
        _ = try await (third, fourth)

        let restored = try ReplicaStore.open(at: copy)
        #expect(try restored.integrityCheck() == "ok")
        #expect(restored.identity.replicaID == server.store.identity.replicaID && restored.identity.role == .server)
        let held = Set(try restored.returnRecords().map(\.id))
        #expect(acknowledged.isSubset(of: held), "every return acknowledged before the backup")
        // Enrollments travel too: at least those of the kiosks that synced before the backup began.
        #expect(try restored.enrolledKiosks().count >= 2)
        // A backup never overwrites.
        #expect(throws: ReplicaStoreError.self) { try server.store.backup(to: copy) }
        try await server.stop()
    }

    /// A disaster: the server is restored from a backup older than what it acknowledged and wrote since. Nothing is
    /// lost: kiosks see the new server id and re-send everything; HQ's lost edits come back from the kiosks; HQ's
    /// next edits never reuse a lost write's dot; the restored server's new changes reach every kiosk.
    @Test func aRestoredServerGetsBackWhatItAcknowledgedAfterTheBackup() async throws {
        let server = try await TestServer()
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let before = try a.record(order: "ORD-1").id
        try await a.sync()
        try await b.sync()
        let backup = server.directory.file("backup.sqlite")
        try server.store.backup(to: backup)

        // After the backup: a capture acknowledged, an HQ edit that kiosk a received, a kiosk enrolled.
        let after = try a.record(order: "ORD-2").id
        try await a.sync()
        try server.store.updateReturn(before, operation: "note") { item, author, date in
            try item.addNote("HQ: refund approved", by: author, at: date)
        }
        try await a.sync()
        let late = try TestKiosk(store: "store-1", kiosk: "late", server: server)
        let fromLate = try late.record(order: "ORD-3").id
        try await late.sync()
        try await a.sync()  // a holds late's return too
        try await b.sync()  // b's pull cursor is now past the end of the backup's change log
        try await server.stop()

        // The database is lost; the operator restores the backup with the command.
        let path = server.directory.file("restored.sqlite")
        let result = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["restore", "--from", backup, "--db", path])
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("as server hq.r2"))
        let restored = try ReplicaStore.open(at: path)
        #expect(restored.identity.replicaID.rawValue == "hq.r2")
        #expect(try restored.record(entityType: "return", id: after.rawValue) == nil, "the backup predates it")
        let second = try await TestServer(serving: restored)

        // Kiosk a re-sends everything: its capture, HQ's lost edit and late's return come back.
        let report = try await a.client.sync(server: second.address)
        #expect(report.pushed == 3)
        for id in [before, after, fromLate] {
            #expect(try restored.returnRecord(id) == a.store.returnRecord(id))
        }
        #expect(try ProductReturn(record: restored.returnRecord(before)).notes.map(\.text) == ["HQ: refund approved"])

        // HQ edits again, under its new id: a new dot, which every kiosk takes; nothing collides with the lost one.
        try restored.updateReturn(before, operation: "note") { item, author, date in
            try item.addNote("HQ: vendor credited", by: author, at: date)
        }
        _ = try await a.client.sync(server: second.address)
        _ = try await b.client.sync(server: second.address)
        for kiosk in [a, b] {
            #expect(try kiosk.store.returnRecord(before) == restored.returnRecord(before))
            #expect(
                try ProductReturn(record: kiosk.store.returnRecord(before)).notes.map(\.text)
                    == ["HQ: refund approved", "HQ: vendor credited"]
            )
        }
        // Kiosk b had pulled past the end of the restored log: it started over, so the new edit reached it above.
        #expect(Set(try b.store.returnRecords().map(\.id)) == Set([before, after, fromLate].map(\.rawValue)))
        #expect(try restored.integrityCheck() == "ok")
        try await second.stop()
    }

    @Test func restoreRefusesToOverwriteAndRefusesAKioskDatabase() async throws {
        let directory = try TemporaryDirectory()
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("s"), kiosk: KioskID("k"))
        )
        let server = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        try server.backup(to: directory.file("hq-backup.sqlite"))
        try kiosk.backup(to: directory.file("kiosk-backup.sqlite"))
        #expect {
            _ = try ReplicaStore.restore(backup: directory.file("hq-backup.sqlite"), to: server.path)
        } throws: { "\($0)".contains("exists; move it") }
        #expect {
            _ = try ReplicaStore.restore(
                backup: directory.file("kiosk-backup.sqlite"),
                to: directory.file("new.sqlite")
            )
        } throws: { "\($0)".contains("is a kiosk database") }
        #expect(!FileManager.default.fileExists(atPath: directory.file("new.sqlite")))
        // Restored twice: hq, hq.r2, hq.r3.
        let once = try ReplicaStore.restore(backup: directory.file("hq-backup.sqlite"), to: directory.file("r2.sqlite"))
        try once.backup(to: directory.file("r2-backup.sqlite"))
        let twice = try ReplicaStore.restore(
            backup: directory.file("r2-backup.sqlite"),
            to: directory.file("r3.sqlite")
        )
        #expect(once.identity.replicaID.rawValue == "hq.r2")
        #expect(twice.identity.replicaID.rawValue == "hq.r3")
    }
}
