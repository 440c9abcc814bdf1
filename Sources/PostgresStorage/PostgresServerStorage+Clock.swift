import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine

extension PostgresServerStorage: ClockAdministration {
    public func clockState() async throws -> ClockState {
        let wall = UInt64(max(0, Date().millisecondsSince1970))
        let rows = try await readReport([
            "clock": "SELECT hlc_physical, hlc_logical FROM server_identity",
            "records": "SELECT record FROM records ORDER BY entity_type, id",
        ])
        let clock = rows["clock"]?.first
        let latest = HLCTimestamp(
            uncheckedPhysicalClamped: clock?.integer("hlc_physical") ?? 0,
            logical: clock?.integer("hlc_logical") ?? 0
        )
        let future = try (rows["records"] ?? []).compactMap { row -> String? in
            let record = try VersionedRecord(jsonValue: JSONValue.parse(row.text("record") ?? ""))
            return ReplicaStore.isFromTheFuture(record, wallClock: wall) ? record.id : nil
        }
        return ClockState(latest: latest, wallClock: wall, futureRecords: future)
    }

    /// Sets HQ's clock back to the wall clock and writes again, as HQ edits, the records holding values stamped
    /// from the future (``ReplicaStore/clockRepairEdit(for:wallClock:)``), each in its feed: its store's, or every
    /// store's for a recall or a policy. One transaction, which holds the global feed lock: no push runs meanwhile.
    public func repairClock() async throws -> ClockRepair {
        let logger = self.logger
        let serverID = serverReplicaID
        return try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.globalFeedLock))", logger: logger)
            let before = try await Self.hqClock(on: connection, logger: logger).latest
            let wall = UInt64(max(0, Date().millisecondsSince1970))
            var clock = HybridLogicalClock(latest: HLCTimestamp(uncheckedPhysicalClamped: Int64(wall), logical: 0))
            var repair = ClockRepair(before: before, after: clock.latest, rewritten: [], keptNotes: [])
            var found: [(store: String, record: VersionedRecord)] = []
            for try await (store, json) in try await connection.query(
                "SELECT store_id, record FROM records ORDER BY entity_type, id FOR UPDATE",
                logger: logger
            ).decode((String, String).self) {
                let record = try VersionedRecord(jsonValue: JSONValue.parse(json))
                if ReplicaStore.isFromTheFuture(record, wallClock: wall) { found.append((store, record)) }
            }
            for (store, original) in found {
                var record = original
                let (edit, keepsNote) = ReplicaStore.clockRepairEdit(for: record, wallClock: wall)
                if keepsNote { repair.keptNotes.append(record.id) }
                guard !edit.isEmpty else { continue }
                _ = try record.apply(edit, by: serverID, stamp: try clock.tick(wallClock: wall))
                try await Self.store(record, of: store, on: connection, logger: logger)
                repair.rewritten.append(record.id)
            }
            try await Self.saveClock(clock, on: connection, logger: logger)
            repair.after = clock.latest
            return repair
        }
    }

    /// Stores an HQ version of a record: the record, its projection, and its place in the feed of its store (`''`:
    /// every store's, under the global feed lock the caller holds), announced. Every HQ write ends here.
    static func store(
        _ record: VersionedRecord,
        of store: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        if record.entityType == ReturnEntity.entityType {
            // What this version replaces: HQ's writes are few, so the stored version is read here once.
            for try await (json) in try await connection.query(
                "SELECT record FROM records WHERE entity_type = 'return' AND id = \(record.id)",
                logger: logger
            ).decode(String.self) {
                let old = try VersionedRecord(jsonValue: JSONValue.parse(json))
                try await keep(SupersededStep.between(old, record), on: connection, logger: logger)
            }
        }
        if store.isEmpty {
            try await connection.query(
                """
                INSERT INTO records (store_id, entity_type, id, record)
                VALUES ('', \(record.entityType), \(record.id), \(record.jsonString))
                ON CONFLICT (store_id, entity_type, id) DO UPDATE SET record = excluded.record
                """,
                logger: logger
            )
        } else {
            // The store's feed first, then the record (the order every writer of the store locks in); the record
            // keeps its new place in the feed.
            let head = try await lockFeedHead(of: store, on: connection, logger: logger)
            try await connection.query(
                """
                INSERT INTO records (store_id, entity_type, id, record, seq, source)
                VALUES (\(store), \(record.entityType), \(record.id), \(record.jsonString), \(head + 1), NULL)
                ON CONFLICT (store_id, entity_type, id)
                DO UPDATE SET record = excluded.record, seq = excluded.seq, source = NULL
                """,
                logger: logger
            )
            try await connection.query(
                "UPDATE feed_heads SET last_seq = \(head + 1) WHERE store_id = \(store)",
                logger: logger
            )
        }
        switch record.entityType {
        case ReturnEntity.entityType:
            try await project([(try ProductReturn(record: record), record)], on: connection, logger: logger)
        case OrderEntity.entityType:
            try await projectOrders([try OrderLine(record: record)], on: connection, logger: logger)
        default:
            break
        }
        if store.isEmpty {
            try await connection.query(
                """
                WITH moved AS (UPDATE feed_heads SET last_seq = last_seq + 1 RETURNING store_id, last_seq)
                INSERT INTO global_feed (store_id, seq, entity_type, id)
                SELECT store_id, last_seq, \(record.entityType), \(record.id) FROM moved
                ON CONFLICT (store_id, entity_type, id) DO UPDATE SET seq = excluded.seq
                """,
                logger: logger
            )
        }
        try await connection.query("SELECT pg_notify(\(changesChannel), \(store))", logger: logger)
    }
}
