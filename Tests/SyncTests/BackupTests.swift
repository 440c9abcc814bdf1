import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
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
}
