import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What the HTML report shows, read in one transaction so every number on the page agrees with every other.
///
/// Totals are counts over the whole database; the lists beside them are capped at `listLimit` rows and say how
/// many they leave out. Every total counts returns as the text and JSON reports do (voided and rejected returns on
/// their own, see ``ReplicaStore/summaryReport()``).
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

    /// A return whose merged state breaks a lifecycle rule.
    public struct RuleViolation: Sendable, Hashable {
        public var id: String
        public var store: String
        public var disposition: String
        /// The rules it breaks, in words.
        public var problems: [String]
    }

    /// An open conflict: a field whose concurrent values no edit has settled yet.
    public struct OpenConflict: Sendable, Hashable {
        public var recordID: String
        /// The field's name in records (`repairStatus`); ``ReturnEntity/label(of:)`` has its label.
        public var field: String
        /// The concurrent values, in canonical order.
        public var values: [FieldValue]
        /// The value every replica shows meanwhile.
        public var shown: FieldValue
    }

    public var generatedAt: Date
    /// Counted returns and their units (voided and rejected returns excluded).
    public var returns: Int
    public var units: Int
    public var voided: Int
    public var rejected: Int
    /// Counted returns dated after the report's time (beyond the clock drift bound): a kiosk's clock is wrong.
    /// They are in ``returns`` but in no day of the chart.
    public var futureDated: Int
    /// Stores with returns in the window, sorted.
    public var stores: [String]
    /// Per day and store, the counted returns of the window's days that have any.
    public var perDay: [DayCount]
    /// The window: `days` days ending on the report's day (UTC), `YYYY-MM-DD`.
    public var firstDay: String
    public var lastDay: String
    public var reasons: [(key: String, returns: Int)]
    public var dispositions: [(key: String, returns: Int)]
    /// Returns with at least one open conflict, and all their open conflicts (a list capped at `listLimit`).
    public var returnsInConflict: Int
    public var openConflictCount: Int
    public var openConflicts: [OpenConflict]
    /// Returns awaiting HQ's decision (a list capped at `listLimit`, oldest first).
    public var reviewQueueCount: Int
    public var reviewQueue: [ReviewItem]
    /// Returns breaking a lifecycle rule (a list capped at `listLimit`, oldest first).
    public var ruleViolationCount: Int
    public var ruleViolations: [RuleViolation]
    /// `report --by recall` and `report --by store`, the same tables.
    public var recallCompletion: ReplicaStore.Report
    public var returnRates: ReplicaStore.Report
}

extension ReplicaStore {
    /// The report's numbers: returns per day and store over the `days` days ending today (UTC), the reason and
    /// disposition mix, rule violations, open conflicts, the review queue, recall completion and return rates by
    /// store (each list at most `listLimit` long, each total uncapped).
    ///
    /// - Parameter endingOn: a moment of the chart's last day (UTC), for a report on an earlier day; the totals and
    ///   the dated-in-the-future check are always as of now.
    public func dashboard(days: Int = 30, listLimit: Int = 100, endingOn: Date? = nil) throws -> Dashboard {
        let generatedAt = now()
        let nowMs = generatedAt.millisecondsSince1970
        let endMs = endingOn?.millisecondsSince1970 ?? nowMs
        let lastMidnight = endMs - ((endMs % 86_400_000) + 86_400_000) % 86_400_000
        let since = lastMidnight - Int64(max(1, days) - 1) * 86_400_000
        let campaigns = try recalls()
        return try read { db in
            let totals = try Self.totals(db, now: nowMs)
            // The window ends with the report's day: a return dated later is flagged above, never the newest bar.
            let perDay = try Row.fetchAll(
                db,
                sql: """
                    SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day, store_id, count(*) AS n
                    FROM returns WHERE created_at >= ? AND created_at < ? AND created_at <= ? AND \(Self.counted)
                    GROUP BY day, store_id ORDER BY day, store_id
                    """,
                arguments: [since, lastMidnight + 86_400_000, Self.futureThreshold(nowMs)]
            ).map { Dashboard.DayCount(day: $0["day"], store: $0["store_id"], returns: $0["n"]) }
            func mix(_ column: String) throws -> [(key: String, returns: Int)] {
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(column) AS key, count(*) AS n FROM returns WHERE \(Self.counted)
                        GROUP BY \(column) ORDER BY n DESC, key
                        """
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
            let violations = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.store_id, r.disposition, rec.record FROM returns r
                    JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id
                    WHERE r.needs_review ORDER BY r.created_at, r.id LIMIT ?
                    """,
                arguments: [listLimit]
            ).map { row in
                Dashboard.RuleViolation(
                    id: row["id"],
                    store: row["store_id"],
                    disposition: row["disposition"],
                    problems: try Self.decodeRecord(row["record"]).returnRuleViolations()
                )
            }
            let conflicts = try Self.openReturnConflicts(db)
            return Dashboard(
                generatedAt: generatedAt,
                returns: totals["returns"],
                units: totals["units"],
                voided: totals["voided"],
                rejected: totals["rejected"],
                futureDated: totals["future"],
                stores: Set(perDay.map(\.store)).sorted(),
                perDay: perDay,
                firstDay: ISO8601Milliseconds.day(of: Date(millisecondsSince1970: since)),
                lastDay: ISO8601Milliseconds.day(of: Date(millisecondsSince1970: lastMidnight)),
                reasons: try mix("reason"),
                dispositions: try mix("disposition"),
                returnsInConflict: totals["inConflict"],
                openConflictCount: conflicts.count,
                openConflicts: conflicts.prefix(listLimit).map {
                    Dashboard.OpenConflict(
                        recordID: $0.recordID,
                        field: $0.conflict.field,
                        values: $0.conflict.values.map(\.value),
                        shown: $0.conflict.winner.value
                    )
                },
                reviewQueueCount: totals["review"],
                reviewQueue: review,
                ruleViolationCount: totals["rules"],
                ruleViolations: violations,
                recallCompletion: try Self.recallCompletion(db, campaigns: campaigns),
                returnRates: try Self.groupedReport(db, by: .store, withTotal: true)
            )
        }
    }
}
