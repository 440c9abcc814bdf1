import Foundation
import GRDB
import ReturnsModel
import SyncEngine

/// A search of the returns a replica holds — by serial, order, GTIN, store, status, reason and capture time — the
/// same on a kiosk and at HQ, on SQLite and on PostgreSQL: one statement over the `returns` projection, written once
/// here, that each backend runs with its own placeholders.
///
/// Every filter given must hold (they combine with AND); none given lists every return. Results come oldest first,
/// as every list does, each with its short id (``ShortReturnID``).
public struct ReturnSearch: Hashable, Sendable {
    /// Only this store's returns.
    public var store: StoreID?
    /// Only returns of the unit with this serial number (exact).
    public var serial: ItemCode?
    /// Only returns against this sales order.
    public var orderID: OrderID?
    /// Only returns of this product.
    public var gtin: GTIN?
    /// Only returns with this status.
    public var status: ReturnStatus?
    /// Only returns with this reason.
    public var reason: ReturnReason?
    /// Only returns of this customer (the reference as stored: given or hashed).
    public var customerRef: CustomerReference?
    /// Only returns captured at or after this time.
    public var since: Date?
    /// Only returns captured before this time.
    public var until: Date?
    /// Only returns captured on or after this local day (a day number, ``StoreTimeZone/day(of:)``) of their store.
    public var sinceDay: Int?
    /// Only returns captured on or before this local day of their store.
    public var untilDay: Int?
    /// The stores' time zones, where ``sinceDay`` and ``untilDay`` begin and end.
    public var timeZones: StoreTimeZones
    /// Only returns written (captured or edited) at or after this time.
    public var updatedSince: Date?
    /// Only returns after this one in the list's order (capture time, then id): the next page of a long list.
    public var after: Position?

    /// A place in the list's order.
    public struct Position: Hashable, Sendable {
        public var createdAt: Int64
        public var id: String

        public init(createdAt: Int64, id: String) {
            self.createdAt = createdAt
            self.id = id
        }
    }
    /// Only returns waiting in HQ's review queue.
    public var awaitingReview: Bool
    /// Only returns flagged under this recall campaign.
    public var recallCampaign: String?
    /// Only recall alerts (``ProductReturn/isRecallAlert``): flagged units that were restocked, repackaged or sent
    /// for repair.
    public var recallAlerts: Bool
    /// At most this many returns (the oldest that match); `nil`: all of them.
    public var limit: Int?

    /// Creates a search; with no arguments, it lists every return.
    public init(
        store: StoreID? = nil,
        serial: ItemCode? = nil,
        orderID: OrderID? = nil,
        gtin: GTIN? = nil,
        status: ReturnStatus? = nil,
        reason: ReturnReason? = nil,
        customerRef: CustomerReference? = nil,
        since: Date? = nil,
        until: Date? = nil,
        awaitingReview: Bool = false,
        recallCampaign: String? = nil,
        recallAlerts: Bool = false,
        limit: Int? = nil,
        sinceDay: Int? = nil,
        untilDay: Int? = nil,
        timeZones: StoreTimeZones = StoreTimeZones(),
        updatedSince: Date? = nil,
        after: Position? = nil
    ) {
        self.updatedSince = updatedSince
        self.after = after
        self.sinceDay = sinceDay
        self.untilDay = untilDay
        self.timeZones = timeZones
        self.store = store
        self.serial = serial
        self.orderID = orderID
        self.gtin = gtin
        self.status = status
        self.reason = reason
        self.customerRef = customerRef
        self.since = since
        self.until = until
        self.awaitingReview = awaitingReview
        self.recallCampaign = recallCampaign
        self.recallAlerts = recallAlerts
        self.limit = limit
    }

    /// A value bound to a placeholder of ``statement(recordJoin:placeholder:)``.
    public enum Argument: Hashable, Sendable {
        case text(String)
        case integer(Int64)
    }

    /// The search as one SQL statement over `returns r` (and, when `recordJoin` is given, the return's record as
    /// column `record`), with the columns of the projection, `id_below` and `id_above` (the neighbouring ids among
    /// every return held, for the short id) — and one row more than ``limit``, to tell whether the limit cut the
    /// list.
    ///
    /// - Parameters:
    ///   - recordJoin: extra conditions joining `records rec` to the return's row beyond entity type and id (a
    ///     backend keying records by store adds `AND rec.store_id = r.store_id`); `nil` leaves the record out.
    ///   - placeholder: the backend's spelling of the n-th parameter, from 1 (`?n` for SQLite, `$n` for
    ///     PostgreSQL).
    public func statement(
        recordJoin: String?,
        placeholder: (Int) -> String
    ) -> (sql: String, arguments: [Argument]) {
        var conditions: [String] = []
        var arguments: [Argument] = []
        func require(_ column: String, _ comparison: String, _ value: Argument?) {
            guard let value else { return }
            arguments.append(value)
            conditions.append("r.\(column) \(comparison) \(placeholder(arguments.count))")
        }
        require("store_id", "=", store.map { .text($0.rawValue) })
        require("serial", "=", serial.map { .text($0.rawValue) })
        require("order_id", "=", orderID.map { .text($0.rawValue) })
        require("gtin", "=", gtin.map { .text($0.digits) })
        require("status", "=", status.map { .text($0.rawValue) })
        require("reason", "=", reason.map { .text($0.rawValue) })
        require("customer_ref", "=", customerRef.map { .text($0.rawValue) })
        require("created_at", ">=", since.map { .integer($0.millisecondsSince1970) })
        require("created_at", "<", until.map { .integer($0.millisecondsSince1970) })
        // A day starts at a different instant in each store's zone: one bound per store with a zone of its own.
        func dayBound(_ day: Int?, _ comparison: String) {
            guard let day else { return }
            if let store {
                require("created_at", comparison, .integer(timeZones[store].start(ofDay: day)))
                return
            }
            let zoned = timeZones.zones.filter { $0.value != .utc }
            guard !zoned.isEmpty else {
                require("created_at", comparison, .integer(StoreTimeZone.utc.start(ofDay: day)))
                return
            }
            var cases = ""
            for (store, zone) in zoned.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                arguments.append(.text(store.rawValue))
                arguments.append(.integer(zone.start(ofDay: day)))
                cases += " WHEN \(placeholder(arguments.count - 1)) THEN \(placeholder(arguments.count))"
            }
            arguments.append(.integer(StoreTimeZone.utc.start(ofDay: day)))
            conditions.append(
                "r.created_at \(comparison) CASE r.store_id\(cases) ELSE \(placeholder(arguments.count)) END"
            )
        }
        dayBound(sinceDay, ">=")
        dayBound(untilDay.map { $0 + 1 }, "<")
        require("updated_at", ">=", updatedSince.map { .integer($0.millisecondsSince1970) })
        if let after {
            arguments += [.integer(after.createdAt), .text(after.id)]
            conditions.append(
                "(r.created_at, r.id) > (\(placeholder(arguments.count - 1)), \(placeholder(arguments.count)))"
            )
        }
        if awaitingReview { conditions.append("r.awaits_review") }
        require("recall_campaign", "=", recallCampaign.map { .text($0) })
        if recallAlerts {
            let dispositions = ProductReturn.recallAlertDispositions.map { "'\($0.rawValue)'" }
            conditions.append(
                "r.recall_campaign IS NOT NULL AND r.status <> 'voided' "
                    + "AND r.disposition IN (\(dispositions.joined(separator: ", ")))"
            )
        }
        var sql = """
            SELECT r.*,
              (SELECT max(n.id) FROM returns n WHERE n.id < r.id) AS id_below,
              (SELECT min(n.id) FROM returns n WHERE n.id > r.id) AS id_above
            """
        if let recordJoin {
            sql +=
                ", rec.record FROM returns r LEFT JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id "
                + recordJoin
        } else {
            sql += " FROM returns r"
        }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY r.created_at, r.id"
        if let limit {
            arguments.append(.integer(Int64(max(0, limit)) + 1))
            sql += " LIMIT \(placeholder(arguments.count))"
        }
        return (sql, arguments)
    }

    /// The statement listing the ids under a typed prefix, in order, at most `limit` of them: a range of the
    /// primary key, bound to the prefix and its ``ShortReturnID/upperBound(of:)``.
    public static func prefixStatement(limit: Int, placeholder: (Int) -> String) -> String {
        "SELECT id FROM returns WHERE id >= \(placeholder(1)) AND id < \(placeholder(2)) ORDER BY id LIMIT \(limit)"
    }

    /// The returns of a search's rows, and whether ``limit`` left some out.
    public func result(of rows: [ReportRow]) throws -> ReturnSearchResult {
        var found = try rows.map(FoundReturn.init)
        var more = false
        if let limit, found.count > limit {
            found.removeLast(found.count - limit)
            more = true
        }
        return ReturnSearchResult(returns: found, more: more)
    }
}

/// A return a search found.
public struct FoundReturn: Hashable, Sendable {
    /// Its row of the projection.
    public var row: ReturnRow
    /// The shortest prefix of its id, at least eight characters, that no other return held here shares.
    public var shortID: String
    /// Its record, when the search asked for records.
    public var record: VersionedRecord?

    /// A row of ``ReturnSearch/statement(recordJoin:placeholder:)``, from any backend.
    init(_ row: ReportRow) throws {
        self.row = ReturnRow(row)
        shortID = ShortReturnID.abbreviation(of: self.row.id, below: row.text("id_below"), above: row.text("id_above"))
        record = try row.text("record").map(ReplicaStore.decodeRecord)
    }
}

/// What a search found.
public struct ReturnSearchResult: Hashable, Sendable {
    /// The returns, oldest first.
    public var returns: [FoundReturn]
    /// Whether more returns matched than the search's limit let through.
    public var more: Bool

    /// Creates a result.
    public init(returns: [FoundReturn], more: Bool) {
        self.returns = returns
        self.more = more
    }
}

extension ReplicaStore {
    /// Runs `search` over the returns this replica holds; with `records`, each return's record comes along.
    public func findReturns(_ search: ReturnSearch, records: Bool = false) throws -> ReturnSearchResult {
        let (sql, arguments) = search.statement(recordJoin: records ? "" : nil) { "?\($0)" }
        let rows = try read { db in
            try Self.reportRows(db, sql, arguments: StatementArguments(arguments.map(\.databaseValue)))
        }
        return try search.result(of: rows)
    }

    /// The ids of returns held here that start with `prefix` (canonical text), in order, at most `limit`.
    public func returnIDs(withPrefix prefix: String, limit: Int) throws -> [ReturnID] {
        try read { db in
            try String.fetchAll(
                db,
                sql: ReturnSearch.prefixStatement(limit: limit) { "?\($0)" },
                arguments: [prefix, ShortReturnID.upperBound(of: prefix)]
            )
        }.map(ReturnID.init)
    }
}

extension ReturnSearch.Argument {
    var databaseValue: DatabaseValue {
        switch self {
        case .text(let text): return text.databaseValue
        case .integer(let number): return number.databaseValue
        }
    }
}

extension ReturnEditing {
    /// The return a person's text names: a whole id as it is, or the one return whose id starts with the prefix
    /// typed (``ShortReturnID``).
    ///
    /// - Throws: ``ReturnsModelError`` for text that is neither an id nor a prefix of one, or a prefix several
    ///   returns share; ``ReplicaStoreError/Code-swift.struct/notFound`` when no return's id starts with it.
    public func resolveReturnID(_ text: String) async throws -> ReturnID {
        switch try ShortReturnID.parse(text) {
        case .id(let id):
            return id
        case .prefix(let prefix):
            let candidates = try await returnIDs(withPrefix: prefix, limit: 4)
            guard let id = try ShortReturnID.resolve(text, among: candidates) else {
                throw ReplicaStoreError(code: .notFound, message: "no return with id '\(text)'")
            }
            return id
        }
    }
}
