import Foundation
import GRDB
import ReturnsModel

/// What the HTML report shows. The counts and lists of returns are read in one transaction, so they agree with
/// each other; the open conflicts come from the conflict audit, read just after.
public struct Dashboard: Sendable {
    /// Returns captured on one day (UTC) at one store.
    public struct DayCount: Sendable, Hashable {
        /// `YYYY-MM-DD`, UTC.
        public var day: String
        public var store: String
        public var returns: Int
    }

    /// A return waiting for HQ's decision.
    public struct ReviewItem: Sendable, Hashable {
        public var id: String
        public var store: String
        public var reason: String
        public var verification: String?
        public var createdAt: Date
    }

    /// An open conflict: a field whose concurrent values no edit has settled yet.
    public struct OpenConflict: Sendable, Hashable {
        public var recordID: String
        public var field: String
        /// The concurrent values, as JSON text.
        public var values: [String]
        /// The value every replica shows meanwhile, as JSON text.
        public var shown: String
        public var detectedAt: Date
    }

    public var generatedAt: Date
    public var returns: Int
    public var units: Int
    public var stores: [String]
    /// Per day and store, the days from `firstDay` to `lastDay` with at least one return.
    public var perDay: [DayCount]
    /// The first and last day of ``perDay``'s window (at most `days` days, ending on the latest capture).
    public var firstDay: String?
    public var lastDay: String?
    public var reasons: [(key: String, returns: Int)]
    public var dispositions: [(key: String, returns: Int)]
    /// Returns with at least one open conflict.
    public var returnsInConflict: Int
    public var openConflicts: [OpenConflict]
    public var reviewQueue: [ReviewItem]
}

extension ReplicaStore {
    /// The report's numbers: returns per day and store over the last `days` days with captures, the reason and
    /// disposition mix, open conflicts and the review queue (each list at most `listLimit` long).
    public func dashboard(days: Int = 30, listLimit: Int = 100) throws -> Dashboard {
        let generatedAt = now()
        let (counts, perDay, reasons, dispositions, review, inConflict) = try read { db in
            let totals = try Row.fetchOne(
                db,
                sql: "SELECT count(*) AS returns, coalesce(sum(quantity), 0) AS units FROM returns"
            )!
            // Only plausible times (ReturnDates.millisecondsRange): a time stored before times were range-checked
            // must not make `strftime` answer NULL, which no day can be made of.
            let latest = try Int64.fetchOne(
                db,
                sql: "SELECT max(created_at) FROM returns WHERE created_at BETWEEN 0 AND ?",
                arguments: [ReturnDates.millisecondsRange.upperBound]
            )
            var perDay: [Dashboard.DayCount] = []
            if let latest {
                // Whole UTC days: the window starts at midnight `days - 1` days before the latest capture's day.
                let lastMidnight = latest - latest % 86_400_000
                let since = lastMidnight - Int64(days - 1) * 86_400_000
                perDay = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day, store_id, count(*) AS n
                        FROM returns WHERE created_at BETWEEN ? AND ? GROUP BY day, store_id ORDER BY day, store_id
                        """,
                    arguments: [since, ReturnDates.millisecondsRange.upperBound]
                ).map { Dashboard.DayCount(day: $0["day"], store: $0["store_id"], returns: $0["n"]) }
            }
            func mix(_ column: String) throws -> [(key: String, returns: Int)] {
                try Row.fetchAll(
                    db,
                    sql: "SELECT \(column) AS key, count(*) AS n FROM returns GROUP BY \(column) ORDER BY n DESC, key"
                ).map { (key: $0["key"], returns: $0["n"]) }
            }
            let review = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, store_id, reason, verification, created_at FROM returns WHERE awaits_review
                    ORDER BY created_at, id LIMIT ?
                    """,
                arguments: [listLimit]
            ).map {
                Dashboard.ReviewItem(
                    id: $0["id"],
                    store: $0["store_id"],
                    reason: $0["reason"],
                    verification: $0["verification"],
                    createdAt: Date(millisecondsSince1970: $0["created_at"])
                )
            }
            let inConflict = try Int.fetchOne(db, sql: "SELECT count(*) FROM returns WHERE in_conflict") ?? 0
            return (
                (returns: totals["returns"] as Int, units: totals["units"] as Int), perDay, try mix("reason"),
                try mix("disposition"), review, inConflict
            )
        }
        let open = try conflictAudit().filter(\.isOpen).suffix(listLimit).map { entry in
            Dashboard.OpenConflict(
                recordID: entry.recordID,
                field: entry.field,
                values: entry.values.map { $0.value.jsonValue.serializedString },
                shown: entry.winner.value.jsonValue.serializedString,
                detectedAt: entry.detectedAt
            )
        }
        return Dashboard(
            generatedAt: generatedAt,
            returns: counts.returns,
            units: counts.units,
            stores: Set(perDay.map(\.store)).sorted(),
            perDay: perDay,
            firstDay: perDay.first?.day,
            lastDay: perDay.last?.day,
            reasons: reasons,
            dispositions: dispositions,
            returnsInConflict: inConflict,
            openConflicts: Array(open),
            reviewQueue: review
        )
    }
}
