import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine

extension PostgresServerStorage: ReturnAdministration {
    /// An HQ edit: under the server's id, stamped by HQ's clock (kept in the database), stored with its projection
    /// and a place in the store's feed (taken under the feed head's lock, as a push's), announced to every process.
    public func editReturn(
        _ id: ReturnID,
        operation: String,
        operatorID: OperatorID?,
        _ body: @escaping @Sendable (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) async throws -> ProductReturn {
        try await hqEdit(id) { record, replica, stamp in
            _ = try record.updateReturn(by: replica, stamp: try stamp(), operatorID: operatorID, body)
            return try ProductReturn(record: record)
        }
    }

    public func resolveConflict(
        _ id: ReturnID,
        field: String,
        value: String,
        operatorID: OperatorID?
    ) async throws -> ConflictSettlement {
        try await hqEdit(id) { record, replica, stamp in
            try ReplicaStore.settle(
                &record,
                field: field,
                value: value,
                by: replica,
                operatorID: operatorID,
                stamp: stamp
            )
        }
    }

    /// Runs `edit` on a return's record as HQ, then re-verifies the returns sharing its purchase (``hqEdit(_:on:serverID:logger:_:)``
    /// says how the edit is stored), in one transaction.
    func hqEdit<T: Sendable>(
        _ id: ReturnID,
        _ edit:
            @escaping @Sendable (
                _ record: inout VersionedRecord, _ replica: ReplicaID, _ stamp: () throws -> HLCTimestamp
            ) throws -> T
    ) async throws -> T {
        let logger = self.logger
        let serverID = serverReplicaID
        return try await transaction { connection in
            let (result, item) = try await Self.hqEdit(id, on: connection, serverID: serverID, logger: logger, edit)
            // An HQ edit (a void, say) can change what other returns of the purchase verify as.
            try await Self.reverify(
                sharingPurchaseWith: [ReturnFacts(item)],
                on: connection,
                serverID: serverID,
                logger: logger
            )
            return result
        }
    }

    /// Runs `edit` on a return's record as HQ inside a transaction: under the server's id, with a stamp from HQ's
    /// clock (kept in the database; `edit` asks for it once it knows the edit is valid), the result stored with its
    /// projection and a place in the store's feed (under the feed head's lock, as a push's), and announced to every
    /// process.
    ///
    /// - Returns: what `edit` returned, and the return as it now is.
    static func hqEdit<T: Sendable>(
        _ id: ReturnID,
        on connection: PostgresConnection,
        serverID: ReplicaID,
        logger: Logger,
        _ edit: (_ record: inout VersionedRecord, _ replica: ReplicaID, _ stamp: () throws -> HLCTimestamp) throws -> T
    ) async throws -> (T, ProductReturn) {
        var store: String?
        for try await (value) in try await connection.query(
            "SELECT store_id FROM records WHERE entity_type = 'return' AND id = \(id.rawValue)",
            logger: logger
        ).decode(String.self) { store = value }
        guard let store else { throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)") }
        // The store's feed first, then the record: the order every writer of the store locks in.
        _ = try await lockFeedHead(of: store, on: connection, logger: logger)
        var record: VersionedRecord?
        for try await (json) in try await connection.query(
            """
            SELECT record FROM records WHERE store_id = \(store) AND entity_type = 'return' AND id = \(id.rawValue)
            FOR UPDATE
            """,
            logger: logger
        ).decode(String.self) { record = try VersionedRecord(jsonValue: JSONValue.parse(json)) }
        guard var record else { throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)") }
        var clock = try await hqClock(on: connection, logger: logger)
        if let newest = record.latestStamp { clock.witness(newest) }
        let result = try edit(&record, serverID) {
            try clock.tick(wallClock: UInt64(max(0, Date().millisecondsSince1970)))
        }
        try await saveClock(clock, on: connection, logger: logger)
        try await Self.store(record, of: store, on: connection, logger: logger)
        return (result, try ProductReturn(record: record))
    }

    /// HQ's re-verification, as the SQLite store's: the returns sharing a purchase with `seeds` (the same order and
    /// GTIN, or the same GTIN and serial, at any store) are checked again against everything HQ holds, and those
    /// whose verification or exceptions change get an HQ edit saying so, which syncs to their store.
    ///
    /// A changed return of another store takes that store's feed head too (after the caller's): two transactions
    /// taking each other's stores in the other order are told apart by PostgreSQL, which fails one (its kiosk
    /// retries).
    ///
    /// - Parameter extra: ids to verify again besides (the returns nobody could verify yet, after an orders import).
    /// - Returns: how many returns changed.
    @discardableResult
    static func reverify(
        sharingPurchaseWith seeds: [ReturnFacts],
        extra: [String] = [],
        reference known: PurchaseReference? = nil,
        on connection: PostgresConnection,
        serverID: ReplicaID,
        logger: Logger
    ) async throws -> Int {
        let reference: PurchaseReference
        if let known {
            reference = known
        } else {
            reference = try await PurchaseReference.read(on: connection, logger: logger)
        }
        let (policies, hasOrders) = (reference.policies, reference.hasOrders)
        let byCustomer = policies.contains(where: \.limitsCustomers)
        let affected = try await facts(
            sharingPurchaseWith: seeds,
            extra: extra,
            byCustomer: byCustomer,
            on: connection,
            logger: logger
        )
        guard !affected.isEmpty else { return 0 }
        // Everything their verification reads: the other returns of their purchases, units and customers (those not
        // read with them already: usually none), the policies, and their orders once HQ holds any.
        let unread = PurchaseReverification.unread(affected, seeds: seeds, byCustomer: byCustomer)
        let related = try await facts(
            sharingPurchaseWith: unread,
            byCustomer: byCustomer,
            on: connection,
            logger: logger
        )
        var lines: [OrderLine] = []
        if hasOrders {
            let orderIDs = Array(Set(affected.map(\.orderID.rawValue)))
            for row in try await rows(
                "SELECT * FROM orders WHERE order_id = ANY(\(orderIDs))",
                on: connection,
                logger: logger
            ) {
                lines.append(try orderLine(row))
            }
        }
        var verification = PurchaseReverification(
            returns: related + affected,
            lines: lines,
            policies: policies,
            timeZones: reference.timeZones,
            hasOrders: hasOrders
        )
        let changed = verification.reverify(affected.map(\.id))
        for change in changed {
            _ = try await hqEdit(try ReturnID(change.facts.id), on: connection, serverID: serverID, logger: logger) {
                record,
                replica,
                stamp in
                var item = try ProductReturn(record: record)
                let stamp = try stamp()
                guard
                    let update = try item.recordVerification(
                        change.verification,
                        exceptions: change.exceptions,
                        at: ReturnEntity.date(of: stamp)
                    )
                else { return }
                _ = try record.apply(ReturnEntity.edit(for: update), by: replica, stamp: stamp)
            }
        }
        return changed.count
    }

    /// The returns sharing a purchase with `seeds` (the same order and GTIN, or GTIN and serial; with
    /// `byCustomer`, the same customer), and `extra`.
    static func facts(
        sharingPurchaseWith seeds: [ReturnFacts],
        extra: [String] = [],
        byCustomer: Bool = false,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [ReturnFacts] {
        guard !seeds.isEmpty || !extra.isEmpty else { return [] }
        let serialized = seeds.filter { $0.serial != nil }
        let customers = byCustomer ? Array(Set(seeds.compactMap(\.customerRef))) : []
        // Index lookups per seed (by order and GTIN, by GTIN and serial, by id), never a scan of every return: the
        // lateral joins leave the planner no hash join to choose, even before the table's statistics exist (a
        // fleet's first pushes). Only the columns verification reads.
        let columns = """
            r.id, r.store_id, r.order_id, r.gtin, r.serial, r.quantity, r.created_at, r.receipt, r.recall_match,
            r.status, r.verification, r.exceptions, r.customer_ref
            """
        return try await rows(
            """
            SELECT \(unescaped: columns)
            FROM unnest(\(seeds.map(\.orderID.rawValue))::text[], \(seeds.map(\.gtin.digits))::text[]) AS s(order_id, gtin)
            CROSS JOIN LATERAL (SELECT * FROM returns WHERE order_id = s.order_id AND gtin = s.gtin) AS r
            UNION
            SELECT \(unescaped: columns)
            FROM unnest(\(serialized.map(\.gtin.digits))::text[], \(serialized.map { $0.serial!.rawValue })::text[])
                AS s(gtin, serial)
            CROSS JOIN LATERAL (
                SELECT * FROM returns WHERE gtin = s.gtin AND serial = s.serial AND serial IS NOT NULL
            ) AS r
            UNION
            SELECT \(unescaped: columns) FROM unnest(\(extra)::text[]) AS s(id)
            CROSS JOIN LATERAL (SELECT * FROM returns WHERE id = s.id) AS r
            UNION
            SELECT \(unescaped: columns) FROM unnest(\(customers)::text[]) AS s(customer_ref)
            CROSS JOIN LATERAL (
                SELECT * FROM returns WHERE customer_ref = s.customer_ref AND customer_ref IS NOT NULL
            ) AS r
            """,
            on: connection,
            logger: logger
        ).map(ReturnFacts.init)
    }

    /// The rows of `query`, on a connection (a transaction's, or a single statement's), as backend-neutral
    /// ``ReportRow``s.
    static func rows(
        _ query: PostgresQuery,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [ReportRow] {
        var rows: [ReportRow] = []
        for try await row in try await connection.query(query, logger: logger) {
            var cells: [String: ReportCell] = [:]
            for cell in row { cells[cell.columnName] = try reportCell(cell) }
            rows.append(ReportRow(cells))
        }
        return rows
    }

    /// An order line from a row of the orders projection.
    static func orderLine(_ row: ReportRow) throws -> OrderLine {
        try OrderLine(
            orderID: OrderID(row.text("order_id") ?? ""),
            storeID: StoreID(row.text("store_id") ?? ""),
            line: Int(row.integer("line") ?? 0),
            gtin: GTIN(row.text("gtin") ?? ""),
            serial: row.text("serial").map { try ItemCode($0, kind: "serial") },
            quantity: Int(row.integer("quantity") ?? 0),
            unitPriceCents: row.integer("unit_price_cents") ?? 0,
            soldAt: Date(millisecondsSince1970: row.integer("sold_at") ?? 0),
            currency: row.text("currency").map(Currency.init)
        )
    }

    /// The advisory lock between writes to one store's feed (shared) and writes of records every store receives
    /// (exclusive): a global record reaches every store's feed, including one whose first write commits meanwhile.
    static let globalFeedLock: Int64 = 7_420_018

    /// The store's feed head, locked until the transaction ends: its next position is the head plus one. A store's
    /// first write starts its feed with every record all stores receive (recalls, policies).
    static func lockFeedHead(of store: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64
    {
        try await connection.query("SELECT pg_advisory_xact_lock_shared(\(globalFeedLock))", logger: logger)
        var created = false
        for try await (_) in try await connection.query(
            "INSERT INTO feed_heads (store_id, last_seq) VALUES (\(store), 0) ON CONFLICT DO NOTHING RETURNING last_seq",
            logger: logger
        ).decode(Int64.self) { created = true }
        if created {
            try await connection.query(
                """
                WITH global AS (
                    SELECT entity_type, id, row_number() OVER (ORDER BY entity_type, id) AS seq
                    FROM records WHERE store_id = ''
                ), added AS (
                    INSERT INTO global_feed (store_id, seq, entity_type, id)
                    SELECT \(store), seq, entity_type, id FROM global
                    RETURNING seq
                )
                UPDATE feed_heads SET last_seq = (SELECT coalesce(max(seq), 0) FROM added) WHERE store_id = \(store)
                """,
                logger: logger
            )
        }
        var head: Int64 = 0
        for try await (seq) in try await connection.query(
            "SELECT last_seq FROM feed_heads WHERE store_id = \(store) FOR UPDATE",
            logger: logger
        ).decode(Int64.self) { head = seq }
        return head
    }

    /// HQ's clock as the database keeps it; its row stays locked until the transaction ends, so HQ's edits from
    /// several processes take stamps one after another.
    static func hqClock(on connection: PostgresConnection, logger: Logger) async throws -> HybridLogicalClock {
        var clock = HybridLogicalClock()
        for try await (physical, logical) in try await connection.query(
            "SELECT hlc_physical, hlc_logical FROM server_identity FOR UPDATE",
            logger: logger
        ).decode((Int64, Int64).self) {
            clock = HybridLogicalClock(
                latest: try HLCTimestamp(physical: UInt64(max(0, physical)), logical: UInt32(clamping: logical))
            )
        }
        return clock
    }

    public func returnRecords(store: StoreID?) async throws -> [VersionedRecord] {
        let filter = store.map { "WHERE r.store_id = '\(Self.literal($0.rawValue))'" } ?? ""
        let rows = try await readReport([
            "records": """
            SELECT rec.record FROM returns r
            JOIN records rec ON rec.store_id = r.store_id AND rec.entity_type = 'return' AND rec.id = r.id
            \(filter) ORDER BY r.created_at, r.id
            """
        ])
        return try (rows["records"] ?? []).map {
            try VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? ""))
        }
    }

    public func findReturns(_ search: ReturnSearch, records: Bool) async throws -> ReturnSearchResult {
        // Records are keyed by store here: the join names it, so it runs on the primary key.
        let (sql, arguments) = search.statement(recordJoin: records ? "AND rec.store_id = r.store_id" : nil) {
            "$\($0)"
        }
        var binds = PostgresBindings()
        for argument in arguments {
            switch argument {
            case .text(let text): binds.append(text)
            case .integer(let number): binds.append(number)
            }
        }
        let (query, logger) = (PostgresQuery(unsafeSQL: sql, binds: binds), self.logger)
        return try search.result(
            of: await bounded { try await Self.rows(query, on: $0, logger: logger) }
        )
    }

    public func refundTerms(of id: ReturnID) async throws -> RefundTerms {
        let item = try ProductReturn(record: try await returnRecord(id))
        let logger = self.logger
        let (lines, reference) = try await bounded { connection in
            var binds = PostgresBindings()
            binds.append(item.orderID.rawValue)
            var lines: [OrderLine] = []
            for row in try await Self.rows(
                PostgresQuery(unsafeSQL: "SELECT * FROM orders WHERE order_id = $1", binds: binds),
                on: connection,
                logger: logger
            ) {
                lines.append(try Self.orderLine(row))
            }
            return (lines, try await PurchaseReference.read(on: connection, logger: logger))
        }
        return RefundTerms(of: item, lines: lines, policies: reference.policies)
    }

    public func returnIDs(withPrefix prefix: String, limit: Int) async throws -> [ReturnID] {
        var binds = PostgresBindings()
        binds.append(prefix)
        binds.append(ShortReturnID.upperBound(of: prefix))
        let query = PostgresQuery(
            unsafeSQL: ReturnSearch.prefixStatement(limit: limit) { "$\($0)" },
            binds: binds
        )
        let logger = self.logger
        return try await bounded { connection in
            var ids: [ReturnID] = []
            for try await id in try await connection.query(query, logger: logger).decode(String.self) {
                ids.append(try ReturnID(id))
            }
            return ids
        }
    }

    public func storeReturns(_ ids: [ReturnID], store: StoreID) async throws -> [VersionedRecord] {
        guard !ids.isEmpty else { return [] }
        let logger = self.logger
        let texts = ids.map(\.rawValue)
        let byID = try await bounded { connection in
            var byID: [String: VersionedRecord] = [:]
            for try await (id, json) in try await connection.query(
                """
                SELECT id, record FROM records
                WHERE entity_type = 'return' AND store_id = \(store.rawValue) AND id = ANY(\(texts))
                """,
                logger: logger
            ).decode((String, String).self) { byID[id] = try VersionedRecord(jsonValue: JSONValue.parse(json)) }
            return byID
        }
        return ids.compactMap { byID[$0.rawValue] }
    }

    public func returnRecord(_ id: ReturnID) async throws -> VersionedRecord {
        let logger = self.logger
        return try await bounded { connection in
            for try await (json) in try await connection.query(
                "SELECT record FROM records WHERE entity_type = 'return' AND id = \(id.rawValue)",
                logger: logger
            ).decode(String.self) { return try VersionedRecord(jsonValue: JSONValue.parse(json)) }
            throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)")
        }
    }

    public func recallCampaigns() async throws -> [RecallCampaign] {
        let rows = try await readReport([
            "campaigns": "SELECT record FROM records WHERE store_id = '' AND entity_type = 'recall' ORDER BY id"
        ])
        return try (rows["campaigns"] ?? []).map {
            try RecallCampaign(record: VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? "")))
        }
    }

    public func conflictAudit() async throws -> [ConflictAuditEntry] {
        try await conflictEntries(
            """
            FROM conflicts c
            LEFT JOIN records r ON r.store_id = c.store_id AND r.entity_type = c.entity_type AND r.id = c.record_id
            ORDER BY c.id
            """
        )
    }

    public func conflictAudit(after id: Int64, limit: Int) async throws -> [ConflictAuditEntry] {
        try await conflictEntries(
            """
            FROM conflicts c
            LEFT JOIN records r ON r.store_id = c.store_id AND r.entity_type = c.entity_type AND r.id = c.record_id
            WHERE c.id > \(id) ORDER BY c.id LIMIT \(max(limit, 0))
            """
        )
    }

    public func openReturnConflicts() async throws -> [ConflictAuditEntry] {
        // From the returns in conflict (a partial index holds just those) to their audit entries: a settled
        // conflict's record is neither read nor decoded.
        try await conflictEntries(
            """
            FROM returns p
            JOIN conflicts c ON c.store_id = p.store_id AND c.entity_type = 'return' AND c.record_id = p.id
            JOIN records r ON r.store_id = c.store_id AND r.entity_type = c.entity_type AND r.id = c.record_id
            WHERE p.in_conflict
            ORDER BY c.id
            """
        ).filter(\.isOpen)
    }

    /// The audit entries that `from` (a query's `FROM` clause onwards, naming the audit `c` and the current record
    /// `r`) selects, each with the record as it is now.
    private func conflictEntries(_ from: String) async throws -> [ConflictAuditEntry] {
        let rows = try await readReport([
            "audit": """
            SELECT c.id, c.entity_type, c.record_id, c.field, c."values", c.winner,
                   CAST(floor(extract(epoch FROM c.detected_at) * 1000) AS BIGINT) AS detected_ms, c.detected_by,
                   r.record
            \(from)
            """
        ])
        return try (rows["audit"] ?? []).map { row in
            try ConflictAuditEntry(
                id: row.integer("id") ?? 0,
                entityType: row.text("entity_type") ?? "",
                recordID: row.text("record_id") ?? "",
                field: row.text("field") ?? "",
                valuesJSON: row.text("values") ?? "[]",
                winnerJSON: row.text("winner") ?? "{}",
                detectedAt: Date(millisecondsSince1970: row.integer("detected_ms") ?? 0),
                detectedBy: row.text("detected_by") ?? "",
                currentRecordJSON: row.text("record")
            )
        }
    }

    public func reviewQueue() async throws -> [VersionedRecord] {
        let rows = try await readReport([
            "queue": """
            SELECT rec.record FROM returns r
            JOIN records rec ON rec.store_id = r.store_id AND rec.entity_type = 'return' AND rec.id = r.id
            WHERE r.awaits_review ORDER BY r.created_at, r.id
            """
        ])
        return try (rows["queue"] ?? []).map {
            try VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? ""))
        }
    }

    /// `text` inside a SQL string literal. Store ids are checked (lower-case letters, digits, `-`, `_`, `.`) before
    /// they get here; doubling quotes keeps any other text a literal too.
    static func literal(_ text: String) -> String {
        text.replacingOccurrences(of: "'", with: "''")
    }
}

/// What HQ's verification reads besides returns and order lines: the policies, and whether HQ holds any order.
struct PurchaseReference: Sendable {
    var policies: [ReturnPolicy]
    var timeZones: StoreTimeZones
    var hasOrders: Bool

    /// The statement parts that read a reference as `(kind, value)` rows, for ``read(on:logger:)`` and for
    /// statements that read more in the same round trip.
    static let rows = """
        SELECT entity_type, record FROM records WHERE store_id = '' AND entity_type IN ('policy', 'store')
        UNION ALL SELECT 'orders', 'held' WHERE EXISTS (SELECT 1 FROM orders)
        """

    /// The reference in `rows`, each `(kind, value)` as ``rows`` reads it; rows of other kinds are left out.
    init(_ rows: [(kind: String, value: String)]) throws {
        policies = []
        hasOrders = false
        var stores: [VersionedRecord] = []
        for (kind, value) in rows {
            switch kind {
            case "orders": hasOrders = true
            case StoreEntity.entityType: stores.append(try VersionedRecord(jsonValue: JSONValue.parse(value)))
            case PolicyEntity.entityType:
                if let policy = try PolicyEntity.returnPolicy(from: VersionedRecord(jsonValue: JSONValue.parse(value)))
                {
                    policies.append(policy)
                }
            default: continue
            }
        }
        timeZones = StoreTimeZones.decoding(stores)
    }

    static func read(on connection: PostgresConnection, logger: Logger) async throws -> PurchaseReference {
        var rows: [(kind: String, value: String)] = []
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: Self.rows), logger: logger)
            .decode((String, String).self)
        {
            rows.append(row)
        }
        return try PurchaseReference(rows)
    }
}

extension PostgresServerStorage {
    /// Keeps step writes later writes replaced (``SupersededStep``), in one statement.
    static func keep(_ steps: [SupersededStep], on connection: PostgresConnection, logger: Logger) async throws {
        guard !steps.isEmpty else { return }
        let ids = steps.map(\.returnID)
        let fields = steps.map(\.field)
        let values = steps.map(\.value)
        let replicas = steps.map(\.dot.replica.rawValue)
        let counters = steps.map { Int64($0.dot.counter) }
        let physicals = steps.map { Int64($0.stamp.physical) }
        let logicals = steps.map { Int64($0.stamp.logical) }
        try await connection.query(
            """
            INSERT INTO superseded_steps (return_id, field, value, replica, counter, stamp_physical, stamp_logical)
            SELECT * FROM unnest(\(ids)::text[], \(fields)::text[], \(values)::text[], \(replicas)::text[],
                \(counters)::bigint[], \(physicals)::bigint[], \(logicals)::bigint[])
            ON CONFLICT DO NOTHING
            """,
            logger: logger
        )
    }

    public func supersededSteps(of ids: [String]) async throws -> [String: [SupersededStep]] {
        guard !ids.isEmpty else { return [:] }
        return try await transaction { [logger] connection in
            var steps: [String: [SupersededStep]] = [:]
            for try await (id, field, value, replica, counter, physical, logical) in try await connection.query(
                """
                SELECT return_id, field, value, replica, counter, stamp_physical, stamp_logical FROM superseded_steps
                WHERE return_id = ANY(\(ids)) ORDER BY stamp_physical, stamp_logical, replica, counter
                """,
                logger: logger
            ).decode((String, String, String, String, Int64, Int64, Int64).self) {
                let step = SupersededStep(
                    returnID: id,
                    field: field,
                    value: value,
                    dot: try Dot(replica: try ReplicaID(replica), counter: UInt64(counter)),
                    stamp: try HLCTimestamp(physical: UInt64(physical), logical: UInt32(logical))
                )
                steps[id, default: []].append(step)
            }
            return steps
        }
    }
}
