import ArgumentParser
import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsSync

/// The filters of a returns search, shared by `kiosk list`/`kiosk find` and `returns-server returns list`.
public struct ReturnSearchOptions: ParsableArguments {
    @Option(help: "Only returns of the unit with this serial number.") public var serial: String?
    @Option(help: "Only returns against this sales order.") public var order: String?
    @Option(help: "Only returns of this product (GTIN-8, -12, -13 or -14).") public var gtin: String?
    @Option(help: "Only returns with this status: \(ReturnStatus.allowedSpellings).") public var status: String?
    @Option(help: "Only returns with this reason: \(ReturnReason.allowedSpellings).") public var reason: String?
    @Option(help: "Only returns of this customer (loyalty or customer id; hashed first when the deployment does).")
    public var customer: String?
    @Option(
        help: ArgumentHelp(
            "Only returns captured on or after this day (YYYY-MM-DD, in each store's time zone) or time (ISO 8601).",
            valueName: "day-or-time"
        )
    )
    public var since: String?
    @Option(
        help: ArgumentHelp(
            "Only returns captured up to this day, inclusive (YYYY-MM-DD, in each store's time zone), or before this "
                + "time (ISO 8601).",
            valueName: "day-or-time"
        )
    )
    public var until: String?
    @Option(help: "At most this many returns, the oldest that match (the list says when more matched).")
    public var limit: Int?

    public init() {}

    /// The search these options ask for, every value checked first.
    ///
    /// - Parameter timeZones: the stores' time zones, where a day given to `--since`/`--until` begins and ends.
    /// - Throws: an error naming the first bad value: an invalid serial, order, GTIN, status, reason, day or time,
    ///   a limit below 1, or `--since` after `--until`.
    public func search(store: StoreID? = nil, timeZones: StoreTimeZones = StoreTimeZones()) throws -> ReturnSearch {
        let sinceBound = try since.map { try Self.bound($0, option: "--since", endOfDay: false) }
        let untilBound = try until.map { try Self.bound($0, option: "--until", endOfDay: true) }
        let search = ReturnSearch(
            store: store,
            serial: try serial.map { try ItemCode($0, kind: "serial") },
            orderID: try order.map(OrderID.init),
            gtin: try gtin.map(GTIN.init),
            status: try status.map(ReturnStatus.parse),
            reason: try reason.map(ReturnReason.parse),
            customerRef: try customer.map { try CustomerReferences.stored($0) },
            since: sinceBound?.instant,
            until: untilBound?.instant,
            limit: limit,
            sinceDay: sinceBound?.day,
            untilDay: untilBound?.day,
            timeZones: timeZones
        )
        if let limit, limit < 1 { throw CLIError(message: "invalid --limit \(limit): expected 1 or more") }
        // Days against days, times against times: a day's first instant depends on the store.
        let empty =
            if let since = search.since, let until = search.until {
                since >= until
            } else if let since = search.sinceDay,
                let until = search.untilDay
            { since > until } else { false }
        if empty {
            throw CLIError(
                message: "--since \(self.since ?? "") is not before --until \(self.until ?? ""): no return could match"
            )
        }
        return search
    }

    /// A day (a day number, in each store's zone) or an ISO 8601 time.
    static func bound(_ text: String, option: String, endOfDay: Bool) throws -> (day: Int?, instant: Date?) {
        if text.utf8.count == 10 {
            guard let day = ReturnDates.dayNumber(text) else {
                throw CLIError(message: "invalid \(option) '\(text)': expected a day YYYY-MM-DD or an ISO 8601 time")
            }
            return (day, nil)
        }
        guard let date = ISO8601Milliseconds.parse(text) else {
            throw CLIError(
                message: "invalid \(option) '\(text)': expected a day YYYY-MM-DD or an ISO 8601 time such as "
                    + "2026-12-04T09:30:00Z"
            )
        }
        return (nil, date)
    }
}

extension Format {
    /// A search's returns as a table with their short ids, and how many there are — saying so when the limit left
    /// some out.
    public static func returnsTable(_ result: ReturnSearchResult) -> String {
        // A value a newer release added is listed as it is spelled, marked as `show` marks it.
        func marked<Vocabulary: ReturnVocabulary>(_ text: String, _: Vocabulary.Type) -> String {
            Vocabulary.isNewerSpelling(text) ? "\(text) (newer)" : text
        }
        let body = result.returns.map { found in
            let row = found.row
            return [
                found.shortID, time(row.createdAt), marked(row.status, ReturnStatus.self),
                marked(row.reason, ReturnReason.self), row.gtin, String(row.quantity),
                marked(row.condition, ItemCondition.self), marked(row.disposition, Disposition.self),
                flags(needsReview: row.needsReview, inConflict: row.inConflict, awaitsReview: row.awaitsReview),
            ]
        }
        let header = ["ID", "CREATED", "STATUS", "REASON", "GTIN", "QTY", "CONDITION", "DISPOSITION", "FLAGS"]
        let count = result.returns.count
        let more = result.more ? " (the oldest that match; more do: raise --limit or narrow the search)" : ""
        return table(header, body) + "\n\(count) return\(count == 1 ? "" : "s")\(more)"
    }
}
