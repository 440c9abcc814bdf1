import Foundation
import GRDB
import ReturnSyncTestSupport
import ReturnsModel
import SyncEngine
import Testing

@testable import ReplicaStore

/// What makes an acknowledgement safe to give: the connection that commits syncs every commit to disk.
@Suite struct DurabilityTests {
    /// SQLite's `PRAGMA synchronous` levels: in WAL mode only FULL (2) and above sync the log at each commit;
    /// NORMAL (1) syncs at checkpoints only, so the last commits of a power cut are lost.
    static let full = 2

    static func writerSynchronous(_ store: ReplicaStore) throws -> Int? {
        try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
    }

    @Test func theWriterSyncsEveryCommitOnBothKindsOfReplicaCreatedAndOpened() throws {
        let directory = try TemporaryDirectory()
        let kioskPath = directory.file("kiosk.sqlite")
        let serverPath = directory.file("hq.sqlite")
        let kiosk = try ReplicaStore.create(at: kioskPath, identity: .kiosk(store: StoreID("s"), kiosk: KioskID("k")))
        let server = try ReplicaStore.create(at: serverPath, identity: .server(replicaID: ReplicaID("hq")))
        // GRDB's pool sets NORMAL on its writer after the configuration's own set-up ran: this failed until the
        // store set FULL again on the open pool.
        #expect(try Self.writerSynchronous(kiosk) == Self.full)
        #expect(try Self.writerSynchronous(server) == Self.full)
        _ = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        #expect(try Self.writerSynchronous(kiosk) == Self.full, "still FULL after a write")
        #expect(try Self.writerSynchronous(ReplicaStore.open(at: kioskPath)) == Self.full)
        #expect(try Self.writerSynchronous(ReplicaStore.open(at: serverPath)) == Self.full)
    }
}
