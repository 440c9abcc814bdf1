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

    /// A serving HQ checkpoints its log every 10,000 pages (fewer writes of the same index pages); a kiosk every
    /// 1,000 (SQLite's own default), and so does a store opened without the setting. Durability is the same either
    /// way: every commit is synced to the log before it returns, and checkpoints only copy what the log holds.
    @Test func aServingHQCheckpointsLessOftenAndStillSyncsEveryCommit() throws {
        let directory = try TemporaryDirectory()
        let serverPath = directory.file("hq.sqlite")
        _ = try ReplicaStore.create(at: serverPath, identity: .server(replicaID: ReplicaID("hq")))
        func autoCheckpointPages(_ store: ReplicaStore) throws -> Int? {
            try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") }
        }
        let serving = try ReplicaStore.open(at: serverPath, configuration: .server)
        #expect(serving.checkpointer.pages == 10_000)
        #expect(try Self.writerSynchronous(serving) == Self.full)
        // SQLite's automatic checkpoint is replaced by the store's hook (`BackgroundCheckpointer`): SQLite reports
        // 0 when a hook other than its own is installed on the writer.
        #expect(try autoCheckpointPages(serving) == 0)
        #expect(try ReplicaStore.open(at: serverPath).checkpointer.pages == 1_000)
        let kiosk = try KioskFixture()
        #expect(kiosk.store.checkpointer.pages == 1_000)
        #expect(try autoCheckpointPages(kiosk.store) == 0)
    }

    /// A deferred commit (a sync's bookkeeping) leaves the writer syncing every commit after it, whether its body
    /// succeeded or threw, and its change is committed.
    @Test func aDeferredCommitLeavesTheWriterSyncingAndItsChangeStored() throws {
        struct Refused: Error {}
        let fixture = try KioskFixture()
        let syncedAt = Date(millisecondsSince1970: 1_790_000_000_000)
        try fixture.store.advancePushCheckpoint(overMergesAfter: 0, peer: "hq", syncedAt: syncedAt)
        #expect(try Self.writerSynchronous(fixture.store) == Self.full)
        #expect(
            try fixture.store.pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT last_sync_at FROM sync_checkpoints WHERE peer = 'hq'")
            } == syncedAt.millisecondsSince1970
        )
        #expect(throws: Refused.self) {
            try fixture.store.write(durability: .deferred) { context in
                try context.db.execute(sql: "UPDATE sync_checkpoints SET last_sync_at = 0")
                throw Refused()
            }
        }
        #expect(try Self.writerSynchronous(fixture.store) == Self.full)
        #expect(
            try fixture.store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT last_sync_at FROM sync_checkpoints")
            }
                == syncedAt.millisecondsSince1970,
            "rolled back"
        )

        let directory = try TemporaryDirectory()
        let server = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let results = server.commitGroup([
            .noteSync(replicaID: "s/k", protocolVersion: 4), .noteSync(replicaID: "s/k2", protocolVersion: 4),
        ])
        #expect(results.count == 2)
        #expect(try Self.writerSynchronous(server) == Self.full, "after a group of sync notes")
    }
}
