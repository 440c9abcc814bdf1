import Foundation
import GRDB
import ReturnSyncJSON

/// What sync costs a database in bytes, beside the returns themselves: the version vectors, the dots and stamps
/// of every value, and the history (change log, conflict audit, settled conflicts kept in records).
public struct SyncMetadataCost: Sendable, Hashable {
    /// Records held (returns, orders, recalls, policies).
    public var records: Int
    /// The database's size: the pages in use, as the write-ahead log has them.
    public var databaseBytes: Int64
    /// Free pages in the file (what deleted rows left, e.g. a kiosk's compacted change log), reused by later
    /// writes before the file grows; not counted in ``databaseBytes``.
    public var freeBytes: Int64 = 0
    /// Version vectors, in each record (a column beside it repeated them before schema v27).
    public var clockBytes: Int64
    /// The dots and stamps of the values (`writes` and each value's index into it).
    public var dotBytes: Int64
    /// The change log (on PostgreSQL, what keeps the stores' feeds in its place: each record's place in its store's
    /// feed and their index, the feed rows of records every store receives, the feed heads) and the conflict audit,
    /// with their indexes, and the settled conflicts records keep.
    public var historyBytes: Int64
    /// Of ``historyBytes``: the settled conflicts records keep (their `history`), which a kiosk drops once HQ holds
    /// them (``HistoryRules``).
    public var settledHistoryBytes: Int64 = 0

    /// All of it.
    public var metadataBytes: Int64 { clockBytes + dotBytes + historyBytes }

    /// Nothing counted yet: a backend's measure adds its records (``count(record:)``) and sizes.
    public init() {
        records = 0
        databaseBytes = 0
        clockBytes = 0
        dotBytes = 0
        historyBytes = 0
    }

    /// Counts a stored record (its JSON as stored): its clock, its values' dots and stamps, and the settled
    /// conflicts it keeps — the same on every backend, which stores records as this text.
    public mutating func count(record text: String) throws {
        records += 1
        guard case .object(let members) = try JSONValue.parse(text) else { return }
        func size(_ value: JSONValue) -> Int64 { Int64(value.serializedString.utf8.count) }
        if let clock = members["clock"] { clockBytes += size(clock) + 9 }  // `"clock":` and a comma
        if let writes = members["writes"] { dotBytes += size(writes) + 10 }
        if let history = members["history"] { settledHistoryBytes += size(history) + 11 }
        for key in ["fields", "sets"] {
            guard case .object(let fields) = members[key] else { continue }
            for case .array(let values) in fields.values {
                // Each value is `[value, index]`: all but the value itself is the dot's.
                for case .array(let pair) in values where pair.count == 2 {
                    dotBytes += size(.array(pair)) - size(pair[0])
                }
            }
        }
    }
}

extension ReplicaStore {
    /// Measures ``SyncMetadataCost`` by reading every record (a benchmark's and an operator's question, not the
    /// sync path's).
    public func syncMetadataCost() throws -> SyncMetadataCost {
        try read { db in
            var cost = SyncMetadataCost()
            let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            let free = (try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0) * pageSize
            cost.databaseBytes = (try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0) * pageSize - free
            cost.freeBytes = free
            let rows = try String.fetchCursor(db, sql: "SELECT record FROM records")
            while let text = try rows.next() { try cost.count(record: text) }
            // The history's tables and indexes, as SQLite stores them (dbstat).
            let history = ["change_log", "conflicts", "conflicts_by_record"]
            let tables = try Int64.fetchOne(
                db,
                sql:
                    "SELECT sum(pgsize) FROM dbstat WHERE name IN (\(history.map { "'\($0)'" }.joined(separator: ",")))"
            )
            cost.historyBytes += (tables ?? 0) + cost.settledHistoryBytes
            return cost
        }
    }
}

extension ReplicaStore {
    /// The bytes each table takes with its indexes (pages in use, from SQLite's `dbstat`), largest first: what a
    /// storage table in BENCHMARKS.md is made of. Reads every page: a benchmark's question.
    public func tableSizes() throws -> [(table: String, bytes: Int64)] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT coalesce(s.tbl_name, d.name) AS owner, sum(d.pgsize) AS bytes
                    FROM dbstat d LEFT JOIN sqlite_schema s ON s.name = d.name
                    GROUP BY owner ORDER BY bytes DESC
                    """
            )
            return rows.map { (table: $0["owner"], bytes: $0["bytes"]) }
        }
    }
}
