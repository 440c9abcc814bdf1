import Foundation
import GRDB
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import SyncEngine
import Synchronization
import Testing

@testable import ReplicaStore
@testable import SyncClient

/// A kiosk merges pulled pages while it reads the next ones, several in one transaction: the pull cursor it stores
/// never passes a page it did not merge.
@Suite struct PulledPageMergeTests {
    /// Makes every insert of record `id` into `path`'s database fail, as a full disk would fail the transaction
    /// that holds it (a real SQLite failure, through a second connection, as another process would).
    static func failInserts(of id: String, in path: String) throws {
        let database = try DatabaseQueue(path: path)
        try database.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER failing_insert BEFORE INSERT ON records WHEN NEW.id = '\(id)'
                    BEGIN SELECT RAISE(ABORT, 'disk trouble'); END
                    """
            )
        }
    }

    static func mend(_ path: String) throws {
        let database = try DatabaseQueue(path: path)
        try database.write { db in try db.execute(sql: "DROP TRIGGER failing_insert") }
    }

    @Test func aMergeFailingMidPullLeavesTheCursorBeforeItsPageAndTheNextSyncFetchesTheRest() async throws {
        let server = try await TestServer()
        let writer = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        for index in 0..<300 { try writer.record(order: "ORD-\(index)") }
        #expect(try await writer.sync().pushed == 300)
        let ids = try Set(writer.records.map(\.id))

        // Pages of ten: thirty pages, the merges grouping whatever arrived while the one before ran.
        let kiosk = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let client = SyncClient(store: kiosk.store, batchSize: 10)
        let failing = try #require(ids.sorted().dropFirst(150).first)
        try Self.failInserts(of: failing, in: kiosk.store.path)
        await #expect {
            try await client.sync()
        } throws: { error in
            "\(error)".contains("disk trouble")
        }
        let held = try Set(kiosk.records.map(\.id))
        #expect(!held.contains(failing))
        #expect(held.isSubset(of: ids))

        // Once the disk is mended the next sync fetches every return the failed one skipped: none was passed over.
        try Self.mend(kiosk.store.path)
        let report = try await client.sync()
        #expect(report.pulled == ids.count - held.count)
        #expect(try Set(kiosk.records.map(\.id)) == ids)
        #expect(try await client.sync().pulled == 0)
        try await server.stop()
    }

    @Test func pagesHandedOverBehindAFailedMergeAreNeverMerged() async throws {
        let directory = try TemporaryDirectory()
        let writer = try ReplicaStore.create(
            at: directory.file("a.sqlite"),
            identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID("a"))
        )
        let kiosk = try ReplicaStore.create(
            at: directory.file("b.sqlite"),
            identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID("b"))
        )
        let records = try (0..<3).map { index in
            try writer.returnRecord(
                writer.recordReturn(
                    ReturnCapture(orderID: OrderID("ORD-\(index)"), gtin: GTIN("4006381333931"), reason: .defective)
                ).id
            )
        }
        try Self.failInserts(of: records[0].id, in: kiosk.path)
        // Another connection holds the write lock (a `kiosk record` in another process, say): the first merge
        // begins, alone, and waits; the next two pages wait behind it.
        let holder = try await GroupCommitQueueTests.holdWriteLock(of: kiosk.path)
        let merges = PullMerger(store: kiosk, peer: ReplicaStore.serverPeer)
        try await merges.merge(PreparingPull([records[0]]), cursor: "1")
        await merges.untilTaken()
        try await merges.merge(PreparingPull([records[1]]), cursor: "2")
        try await merges.merge(PreparingPull([records[2]]), cursor: "3")
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        await #expect {
            try await merges.finish()
        } throws: { error in
            "\(error)".contains("disk trouble")
        }
        // Merging the two pages behind it would have stored cursor 3, past a page never merged.
        #expect(try kiosk.returnRecords().isEmpty)
        #expect(try kiosk.checkpoint(for: ReplicaStore.serverPeer).pullCursor == nil)
        await #expect(throws: (any Error).self) {
            try await merges.merge(PreparingPull([records[1]]), cursor: "2")
        }
    }

    /// Counts the `DROP INDEX` statements a store's writer runs from its making on.
    final class DropCount: Sendable {
        private let drops = Mutex(0)
        var count: Int { drops.withLock { $0 } }

        init(_ store: ReplicaStore) {
            store.pool.writeWithoutTransaction { db in
                db.trace(options: .statement) { [self] event in
                    if "\(event)".hasPrefix("DROP INDEX") { drops.withLock { $0 += 1 } }
                }
            }
        }
    }

    @Test func aLargeFirstPullBuildsTheIndexesAtItsEndWhetherItSucceedsOrFails() async throws {
        let server = try await TestServer()
        let writer = try TestKiosk(store: "store-1", kiosk: "a", server: server, bulkLoadMinimum: 20)
        let expected = try writer.store.projectionIndexes()
        let writerDrops = DropCount(writer.store)
        for index in 0..<60 { try writer.record(order: "ORD-\(index)", reason: index % 2 == 0 ? .damaged : .defective) }
        #expect(try await writer.sync().pushed == 60)
        // The server's estimate counted the writer's own 60, which it holds: nothing for it to defer.
        #expect(writerDrops.count == 0)
        let ids = try Set(writer.records.map(\.id))

        let kiosk = try TestKiosk(store: "store-1", kiosk: "b", server: server, bulkLoadMinimum: 20)
        let drops = DropCount(kiosk.store)
        #expect(try await SyncClient(store: kiosk.store, batchSize: 7).sync().pulled == 60)
        #expect(drops.count == 6)  // the nine query indexes but the three partial ones
        #expect(try kiosk.store.projectionIndexes() == expected)
        #expect(try !kiosk.store.hasDeferredIndexes())
        #expect(
            try kiosk.store.findReturns(ReturnSearch(reason: .damaged)).returns.map(\.row.id)
                == writer.store.findReturns(ReturnSearch(reason: .damaged)).returns.map(\.row.id)
        )

        // A pull failing midway (a disk fault on one insert) builds them all the same before the sync reports.
        let failing = try TestKiosk(store: "store-1", kiosk: "c", server: server, bulkLoadMinimum: 20)
        let failingDrops = DropCount(failing.store)
        try Self.failInserts(of: try #require(ids.sorted().dropFirst(30).first), in: failing.store.path)
        let client = SyncClient(store: failing.store, batchSize: 7)
        await #expect {
            try await client.sync()
        } throws: { error in
            "\(error)".contains("disk trouble")
        }
        #expect(failingDrops.count == 6)
        #expect(try failing.store.projectionIndexes() == expected)
        #expect(try !failing.store.hasDeferredIndexes())
        // What it merged before the fault stays; the next pull takes the rest, now into a kiosk holding some. Had
        // the indexes not been built then (the disk full), that pull builds them before its first merge.
        #expect(try failing.store.deferProjectionIndexes(forIncoming: 1_000))
        try Self.mend(failing.store.path)
        _ = try await client.sync()
        #expect(try Set(failing.records.map(\.id)) == ids)
        #expect(try failing.store.projectionIndexes() == expected)
        try await server.stop()
    }

    @Test func aPullInSmallPagesReportsEveryReturnOnceAndStoresTheLastCursor() async throws {
        let server = try await TestServer()
        let writer = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        for index in 0..<120 { try writer.record(order: "ORD-\(index)") }
        _ = try await writer.sync()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let client = SyncClient(store: kiosk.store, batchSize: 7)
        let report = try await client.sync()
        #expect(report.pulled == 120)
        #expect(try Set(kiosk.records.map(\.id)) == Set(writer.records.map(\.id)))
        // Nothing was left behind the stored cursor, and nothing before it comes again.
        #expect(try await client.sync().pulled == 0)
        try await server.stop()
    }
}
