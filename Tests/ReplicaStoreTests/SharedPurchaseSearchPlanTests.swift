import Foundation
import GRDB
import ReturnSyncTestSupport
import SyncEngine
import Testing

@testable import ReplicaStore

/// Re-verification's searches read their keys from `returnsync_rows(?)` and look each one up in the projection's
/// index for it. A plan that scanned the projection for every key instead would still answer right, only a thousand
/// times slower on a large HQ: the plan is what is checked.
@Suite struct SharedPurchaseSearchPlanTests {
    @Test(arguments: [
        (SharedPurchaseSearch.orderLine, "returns_by_order"),
        (.unit, "returns_by_unit"),
        (.customer, "returns_by_customer"),
    ])
    func eachKeySearchesItsIndex(search: SharedPurchaseSearch, index: String) throws {
        let directory = try TemporaryDirectory()
        let server = try ReplicaStore.create(
            at: directory.file("server.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let plan = try server.read { db in
            // Planned, not run: the keys' pointer is not needed.
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(search.sql)", arguments: [nil]).map {
                $0["detail"] as String
            }
        }
        #expect(plan.count == 2, "\(plan)")
        #expect(plan.first?.hasPrefix("SCAN wanted VIRTUAL TABLE") == true, "\(plan)")
        #expect(plan.last?.contains("SEARCH r USING INDEX \(index) (") == true, "\(plan)")
    }

    /// A push's read-ahead of the versions stored of its returns: each id searched in the records' key.
    @Test func theReadAheadSearchesTheRecordsKey() throws {
        let directory = try TemporaryDirectory()
        let server = try ReplicaStore.create(
            at: directory.file("server.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let plan = try server.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(SQLitePushTransaction.readAheadSQL)", arguments: [nil])
                .map { $0["detail"] as String }
        }
        #expect(plan.count == 2, "\(plan)")
        #expect(plan.first?.hasPrefix("SCAN wanted VIRTUAL TABLE") == true, "\(plan)")
        #expect(plan.last?.contains("SEARCH r USING INDEX sqlite_autoindex_records_") == true, "\(plan)")
        #expect(plan.last?.contains("(entity_type=? AND id=?)") == true, "\(plan)")
    }
}
