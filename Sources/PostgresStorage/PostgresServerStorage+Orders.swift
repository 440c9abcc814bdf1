import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine

extension PostgresServerStorage {
    /// Imports order lines at HQ in one transaction: each line's record in its store's feed (the stores' feed heads
    /// locked in order, so imports and pushes never wait for each other in a cycle), the orders projection, one
    /// announcement per store. Importing the same lines again writes nothing.
    ///
    /// Then HQ checks again the returns the lines may decide: those of these orders, and those nobody could verify
    /// yet.
    public func importOrders(_ lines: [OrderLine]) async throws -> OrderImportOutcome {
        let logger = self.logger
        let serverID = serverReplicaID
        return try await transaction { connection in
            var heads: [String: Int64] = [:]
            for store in Set(lines.map(\.storeID.rawValue)).sorted() {
                heads[store] = try await Self.lockFeedHead(of: store, on: connection, logger: logger)
            }
            var stored: [String: VersionedRecord] = [:]
            for try await (json) in try await connection.query(
                "SELECT record FROM records WHERE entity_type = 'order' AND id = ANY(\(lines.map(\.recordID))) FOR UPDATE",
                logger: logger
            ).decode(String.self) {
                let record = try VersionedRecord(jsonValue: JSONValue.parse(json))
                stored[record.id] = record
            }
            var clock = try await Self.hqClock(on: connection, logger: logger)
            var outcome = OrderImportOutcome(created: 0, updated: 0, unchanged: 0, reverified: 0)
            var writes: [(line: OrderLine, record: VersionedRecord, seq: Int64)] = []
            for line in lines {
                guard
                    let (record, isNew) = try ReplicaStore.orderRecord(
                        for: line,
                        over: stored[line.recordID],
                        by: serverID,
                        stamp: { try clock.tick(wallClock: UInt64(max(0, Date().millisecondsSince1970))) }
                    )
                else {
                    outcome.unchanged += 1
                    continue
                }
                if isNew { outcome.created += 1 } else { outcome.updated += 1 }
                stored[line.recordID] = record
                let store = line.storeID.rawValue
                let seq = heads[store]! + 1
                heads[store] = seq
                // A line twice in the file: one write, of the last version.
                writes.removeAll { $0.line.recordID == line.recordID }
                writes.append((line, record, seq))
            }
            guard !writes.isEmpty else { return outcome }
            try await Self.saveClock(clock, on: connection, logger: logger)
            let stores = writes.map(\.line.storeID.rawValue)
            let ids = writes.map(\.line.recordID)
            // A line corrected to another store moves there, and out of the old store's feed (its place is on its row).
            for table in ["records", "orders"] {
                let idColumn = table == "records" ? "id" : "record_id"
                let kind = table == "records" ? "AND t.entity_type = 'order'" : ""
                try await connection.query(
                    """
                    DELETE FROM \(unescaped: table) t USING unnest(\(stores)::text[], \(ids)::text[]) AS w(store_id, id)
                    WHERE t.\(unescaped: idColumn) = w.id \(unescaped: kind) AND t.store_id <> w.store_id
                    """,
                    logger: logger
                )
            }
            // Each line with its place in its store's feed.
            try await connection.query(
                """
                INSERT INTO records (store_id, entity_type, id, record, seq, source)
                SELECT w.store_id, 'order', w.id, w.record, w.seq, NULL
                FROM unnest(\(stores)::text[], \(ids)::text[], \(writes.map(\.record.jsonString))::text[],
                    \(writes.map(\.seq))::bigint[]) AS w(store_id, id, record, seq)
                ON CONFLICT (store_id, entity_type, id)
                DO UPDATE SET record = excluded.record, seq = excluded.seq, source = NULL
                """,
                logger: logger
            )
            try await Self.projectOrders(writes.map(\.line), on: connection, logger: logger)
            let touched = Array(Set(stores)).sorted()
            try await connection.query(
                """
                UPDATE feed_heads h SET last_seq = n.seq
                FROM unnest(\(touched)::text[], \(touched.map { heads[$0]! })::bigint[]) AS n(store_id, seq)
                WHERE h.store_id = n.store_id
                """,
                logger: logger
            )
            for store in touched {
                try await connection.query("SELECT pg_notify(\(Self.changesChannel), \(store))", logger: logger)
            }
            // Returns of these orders, and those nobody could verify yet, may be decided now.
            let orderIDs = Array(Set(lines.map(\.orderID.rawValue)))
            var undecided: [String] = []
            for try await (id) in try await connection.query(
                """
                SELECT id FROM returns
                WHERE order_id = ANY(\(orderIDs)) OR verification IS NULL OR verification = 'unverified'
                """,
                logger: logger
            ).decode(String.self) { undecided.append(id) }
            outcome.reverified = try await Self.reverify(
                sharingPurchaseWith: [],
                extra: undecided,
                on: connection,
                serverID: serverID,
                logger: logger
            )
            return outcome
        }
    }

    /// The order lines the database holds, by order id and line; only `store`'s when given.
    public func orderLines(store: StoreID?) async throws -> [OrderLine] {
        let filter = store.map { "WHERE store_id = '\(Self.literal($0.rawValue))'" } ?? ""
        let rows = try await readReport(["lines": "SELECT * FROM orders \(filter) ORDER BY order_id, line"])
        return try (rows["lines"] ?? []).map(Self.orderLine)
    }

    /// The first `limit` order lines, by order id and line, and how many the database holds, in one snapshot.
    public func orderLines(first limit: Int) async throws -> (lines: [OrderLine], total: Int) {
        let rows = try await readReport([
            "lines": "SELECT * FROM orders ORDER BY order_id, line LIMIT \(max(0, limit))",
            "total": "SELECT count(*) AS total FROM orders",
        ])
        return (
            try (rows["lines"] ?? []).map(Self.orderLine),
            Int(rows["total"]?.first?.integer("total") ?? 0)
        )
    }

    public func orderLines(after last: OrderLine?, limit: Int) async throws -> [OrderLine] {
        // An order id may hold a quote (printable ASCII): doubled, as a literal needs it.
        let after = last.map { last in
            let order = "'\(Self.literal(last.orderID.rawValue))'"
            return """
                WHERE order_id >= \(order)
                  AND (order_id, line, store_id) > (\(order), \(last.line), '\(Self.literal(last.storeID.rawValue))')
                """
        }
        let rows = try await readReport([
            "lines": "SELECT * FROM orders \(after ?? "") ORDER BY order_id, line, store_id LIMIT \(max(0, limit))"
        ])
        return try (rows["lines"] ?? []).map(Self.orderLine)
    }

    /// Stores the orders projection rows of `lines`, replacing older ones, in one statement.
    static func projectOrders(_ lines: [OrderLine], on connection: PostgresConnection, logger: Logger) async throws {
        guard !lines.isEmpty else { return }
        let rows = JSONValue.array(
            lines.map { line in
                .object([
                    "store_id": .string(line.storeID.rawValue), "record_id": .string(line.recordID),
                    "order_id": .string(line.orderID.rawValue), "line": .integer(Int64(line.line)),
                    "gtin": .string(line.gtin.digits), "serial": line.serial.map { .string($0.rawValue) } ?? .null,
                    "quantity": .integer(Int64(line.quantity)), "unit_price_cents": .integer(line.unitPriceCents),
                    "sold_at": .integer(line.soldAt.millisecondsSince1970),
                    "currency": line.currency.map { .string($0.code) } ?? .null,
                ])
            }
        ).serializedString
        try await connection.query(
            """
            INSERT INTO orders SELECT * FROM json_populate_recordset(NULL::orders, \(rows)::json)
            ON CONFLICT (store_id, record_id) DO UPDATE SET (order_id, line, gtin, serial, quantity, unit_price_cents,
                sold_at, currency) = (excluded.order_id, excluded.line, excluded.gtin, excluded.serial, excluded.quantity,
                excluded.unit_price_cents, excluded.sold_at, excluded.currency)
            """,
            logger: logger
        )
    }
}
