import Foundation
import GRDB
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Synchronization
import Testing

@testable import ReplicaStore

/// A kiosk loading many returns at once builds the projection's query indexes at the end (ReplicaStore+BulkLoad):
/// the same indexes, the same answers, and never a database left without them.
@Suite struct BulkLoadTests {
    static func kiosk(in directory: TemporaryDirectory, name: String = "kiosk", minimum: Int) throws -> ReplicaStore {
        var configuration = ReplicaStore.Configuration()
        configuration.bulkLoadMinimum = minimum
        return try ReplicaStore.create(
            at: directory.file("\(name).sqlite"),
            identity: .kiosk(store: StoreID("store-12"), kiosk: KioskID(name)),
            configuration: configuration
        )
    }

    static func deferredCount(_ store: ReplicaStore) throws -> Int {
        try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM deferred_indexes") ?? 0 }
    }

    /// The statements a store's writer ran since it was made.
    final class Trace: Sendable {
        let statements = Mutex<[String]>([])

        init(_ store: ReplicaStore) {
            store.pool.writeWithoutTransaction { db in
                db.trace(options: .statement) { [self] event in statements.withLock { $0.append("\(event)") } }
            }
        }
    }

    @Test func aLargeImportIntoAnEmptyKioskBuildsTheIndexesOnceAndEndsWithTheSameOnes() throws {
        let directory = try TemporaryDirectory()
        let bulk = try Self.kiosk(in: directory, name: "bulk", minimum: 20)
        let plain = try Self.kiosk(in: directory, name: "plain", minimum: 1_000)
        let expected = try plain.projectionIndexes()
        #expect(expected.count == 10)  // nine of ours and the id's

        let lines = SampleData.importLines(count: 40)
        let traced = Trace(bulk)
        try bulk.importReturns(ndjson: lines)
        try plain.importReturns(ndjson: lines)
        let statements = traced.statements.withLock { $0 }
        // The four an import rebuilds; the partial ones, the store's and the creation time's are kept up to date.
        let deferred = ["returns_by_order", "returns_by_reason", "returns_by_status", "returns_by_unit"]
        #expect(statements.filter { $0.hasPrefix("DROP INDEX") } == deferred.map { "DROP INDEX \"\($0)\"" })
        #expect(
            statements.filter { $0.hasPrefix("CREATE INDEX IF NOT EXISTS returns_") }.map {
                $0.split(separator: " ")[5]
            }
                == deferred.map { Substring($0) }
        )
        #expect(try bulk.projectionIndexes() == expected)
        // The same rows answer the same searches (the ids differ: each kiosk made its own).
        let searches = [
            ReturnSearch(gtin: try GTIN(SampleData.gtin(4_006_381_007))), ReturnSearch(reason: .damaged),
            ReturnSearch(limit: 5),
        ]
        for search in searches {
            #expect(
                try bulk.findReturns(search).returns.map(\.row.orderId)
                    == plain.findReturns(search).returns.map(\.row.orderId)
            )
        }
    }

    /// The returns are committed first, with the indexes' drop noted in `deferred_indexes`; the indexes are built in
    /// a transaction of their own after it, so a process killed in between has them built by the next opening.
    @Test func anImportCommitsItsReturnsBeforeItBuildsTheIndexes() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(in: directory, minimum: 20)
        let traced = Trace(kiosk)
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 40))
        let statements = traced.statements.withLock { $0 }
        let noted = try #require(statements.lastIndex { $0.hasPrefix("INSERT OR REPLACE INTO deferred_indexes") })
        let stored = try #require(statements.lastIndex { $0.hasPrefix("INSERT INTO change_log") })
        let built = try #require(statements.firstIndex { $0.hasPrefix("CREATE INDEX") })
        let commits = statements.indices.filter { statements[$0].hasPrefix("COMMIT") }
        let begins = statements.indices.filter { statements[$0].hasPrefix("BEGIN") }
        // One commit after the returns and the note, and a transaction begun after it and before the first index.
        #expect(commits.contains { $0 > max(noted, stored) && $0 < built }, "\(statements)")
        #expect(begins.contains { $0 > stored && $0 < built }, "\(statements)")
        #expect(try Self.deferredCount(kiosk) == 0)
        #expect(try kiosk.projectionIndexes().count == 10)
    }

    /// An import enlarges the writer's page cache for its transaction only: the connection's own size comes back, a
    /// server's 64 MiB as a kiosk's SQLite default.
    @Test func aLoadGivesTheWriterItsOwnCacheSizeBack() throws {
        let directory = try TemporaryDirectory()
        let server = try ReplicaStore.create(
            at: directory.file("server.sqlite"),
            identity: .server(replicaID: ReplicaID("hq")),
            configuration: .server
        )
        let kiosk = try Self.kiosk(in: directory, minimum: 20)
        func cacheSize(_ store: ReplicaStore) throws -> Int? {
            try store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
        }
        let sizes = (server: try cacheSize(server), kiosk: try cacheSize(kiosk))
        #expect(sizes.server == -65_536)
        // HQ imports returns of a store and kiosk it names.
        let hqLines = String(decoding: SampleData.importLines(count: 5), as: UTF8.self)
            .replacingOccurrences(of: "{", with: #"{"storeId":"store-12","kioskId":"kiosk-a","#)
        try server.importReturns(ndjson: Data(hqLines.utf8))
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 40))  // deferred, then built
        #expect(try kiosk.deferProjectionIndexes(forIncoming: 100) == true)
        #expect(try kiosk.restoreDeferredIndexes() == 6)
        #expect(try cacheSize(server) == sizes.server)
        #expect(try cacheSize(kiosk) == sizes.kiosk)
    }

    /// An import's prepared line is a few words: the rare merged record and its return are boxed, so the common new
    /// return's line is not copied at the size of a whole return in and out of its chunk.
    @Test func anImportsPreparedLineIsAFewWords() {
        #expect(MemoryLayout<ReplicaStore.PreparedLine>.size <= 32, "\(MemoryLayout<ReplicaStore.PreparedLine>.size)")
    }

    @Test func aFailedImportLeavesTheIndexesAsTheyWere() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(in: directory, minimum: 20)
        let before = try kiosk.projectionIndexes()
        var lines = String(decoding: SampleData.importLines(count: 40), as: UTF8.self)
        lines += #"{"orderId":"X","gtin":"12345","reason":"other"}"#
        #expect(throws: ReplicaStoreError.self) { try kiosk.importReturns(ndjson: Data(lines.utf8)) }
        #expect(try kiosk.projectionIndexes() == before)
        #expect(try kiosk.returnRecords().isEmpty)
    }

    @Test func aSmallLoadOrAFullKioskOrAServerKeepsItsIndexes() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(in: directory, minimum: 20)
        let before = try kiosk.projectionIndexes()
        #expect(try kiosk.deferProjectionIndexes(forIncoming: 19) == false)
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 15))
        // 34 coming, of which the 15 held may be some: 19 sure to be new, under the minimum of 20…
        #expect(try kiosk.deferProjectionIndexes(forIncoming: 34) == false)
        #expect(try kiosk.projectionIndexes() == before)
        #expect(try Self.deferredCount(kiosk) == 0)
        // …while 35 leave 20 sure to be new: the minimum, and at least the 15 held.
        #expect(try kiosk.deferProjectionIndexes(forIncoming: 35) == true)
        #expect(try kiosk.restoreDeferredIndexes() == 6)

        var configuration = ReplicaStore.Configuration.server
        configuration.bulkLoadMinimum = 1
        let server = try ReplicaStore.create(
            at: directory.file("server.sqlite"),
            identity: .server(replicaID: ReplicaID("hq")),
            configuration: configuration
        )
        let serverIndexes = try server.projectionIndexes()
        #expect(try server.deferProjectionIndexes(forIncoming: 1_000_000) == false)
        #expect(try server.projectionIndexes() == serverIndexes)
    }

    @Test func deferredIndexesAreNotedAndRestoredOnce() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(in: directory, minimum: 20)
        let before = try kiosk.projectionIndexes()
        #expect(try kiosk.deferProjectionIndexes(forIncoming: 50) == true)
        // The id's and the three partial indexes stay: a load adds few rows or none to them, a rebuild scans all.
        #expect(
            try kiosk.projectionIndexes().map { $0.prefix { $0 != ":" } }
                == [
                    "returns_awaiting_review", "returns_by_customer", "returns_by_recall", "sqlite_autoindex_returns_1",
                ]
        )
        #expect(try Self.deferredCount(kiosk) == 6)
        #expect(try kiosk.hasDeferredIndexes())
        // Returns stored meanwhile are found the same way, and end up in the indexes built.
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 30))
        let found = try kiosk.findReturns(ReturnSearch(reason: .damaged)).returns.map(\.row.id)
        #expect(!found.isEmpty)
        #expect(try kiosk.restoreDeferredIndexes() == 6)
        #expect(try kiosk.restoreDeferredIndexes() == 0)
        #expect(try kiosk.projectionIndexes() == before)
        #expect(try !kiosk.hasDeferredIndexes())
        #expect(try kiosk.findReturns(ReturnSearch(reason: .damaged)).returns.map(\.row.id) == found)
        let integrity = try kiosk.pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }

    @Test func aKioskKilledMidLoadBuildsItsIndexesWhenNextOpened() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(in: directory, minimum: 20)
        let before = try kiosk.projectionIndexes()
        #expect(try kiosk.deferProjectionIndexes(forIncoming: 50) == true)
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 10))
        // What the next process finds after a SIGKILL: the indexes noted, not built.
        let reopened = try ReplicaStore.open(at: kiosk.path)
        #expect(try reopened.projectionIndexes() == before)
        #expect(try Self.deferredCount(reopened) == 0)
        // The process that deferred them finds nothing left to do.
        #expect(try kiosk.restoreDeferredIndexes() == 0)
        let integrity = try reopened.pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }
}
