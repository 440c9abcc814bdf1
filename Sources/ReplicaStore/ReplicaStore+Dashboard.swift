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
    /// The window: `days` days ending on the report's day, `YYYY-MM-DD` — each store's own days, in its time zone.
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

extension Reports {
    /// The dashboard's statements: the window's per-day counts, the reason and disposition mix, the review queue and
    /// rule violations (`listLimit` rows each), the totals, open conflicts, recall completion and return rates.
    static func dashboard(
        now: Int64,
        since: Int64,
        until: Int64,
        listLimit: Int
    ) -> [String: String] {
        func mix(_ column: String) -> String {
            """
            SELECT \(column) AS key, count(*) AS n FROM returns WHERE \(counted)
            GROUP BY \(column) ORDER BY n DESC, key
            """
        }
        var statements = [
            "totals": totals(now: now),
            "conflicted": conflictedRecords,
            // The window ends with the report's day: a return dated later is flagged, never the newest bar. Counted
            // per quarter hour, folded into each store's local days after (every zone's offset is a whole number of
            // quarter hours), so a day is the store's own day on every backend.
            "per_day": """
            SELECT created_at / 900000 AS bucket, store_id, count(*) AS n
            FROM returns WHERE created_at >= \(since) AND created_at < \(until)
              AND created_at <= \(futureThreshold(now)) AND \(counted)
            GROUP BY created_at / 900000, store_id ORDER BY bucket, store_id
            """,
            "stores": "SELECT record FROM records WHERE entity_type = 'store'",
            "reasons": mix("reason"),
            "dispositions": mix("disposition"),
            "review": """
            SELECT id, store_id, reason, verification, created_at FROM returns WHERE awaits_review
            ORDER BY created_at, id LIMIT \(listLimit)
            """,
            "violations": """
            SELECT r.id, r.store_id, r.disposition, rec.record FROM returns r
            JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id
            WHERE r.needs_review ORDER BY r.created_at, r.id LIMIT \(listLimit)
            """,
        ]
        statements.merge(grouped(by: .store)) { first, _ in first }
        statements.merge(recallStatements) { first, _ in first }
        return statements
    }

    /// The dashboard from its statements' rows.
    static func dashboard(
        _ results: [String: [ReportRow]],
        generatedAt: Date,
        days: Int,
        lastDay requestedLastDay: Int?,
        listLimit: Int
    ) throws -> Dashboard {
        let totals = results["totals"]?.first ?? ReportRow([:])
        let zones = StoreTimeZones.decoding(
            try (results["stores"] ?? []).map { try ReplicaStore.decodeRecord($0.text("record") ?? "") }
        )
        let buckets = try (results["per_day"] ?? []).map {
            (store: try StoreID($0.text("store_id") ?? ""), start: $0.count("bucket") * 900_000, n: Int($0.count("n")))
        }
        // By default the chart ends with the latest "today" of the stores in it, so no store's today is cut off.
        let lastDay =
            requestedLastDay
            ?? (Set(buckets.map(\.store)).map { zones[$0].day(of: generatedAt.millisecondsSince1970) }
            + [StoreTimeZone.utc.day(of: generatedAt.millisecondsSince1970)]).max()!
        let firstDay = lastDay - max(1, days) + 1
        var counts: [Int: [String: Int]] = [:]
        for bucket in buckets {
            let day = zones[bucket.store].day(of: bucket.start)
            guard (firstDay...lastDay).contains(day) else { continue }
            counts[day, default: [:]][bucket.store.rawValue, default: 0] += bucket.n
        }
        func text(_ day: Int) -> String {
            ISO8601Milliseconds.day(of: Date(millisecondsSince1970: Int64(day) * 86_400_000))
        }
        let perDay = counts.keys.sorted().flatMap { day in
            counts[day]!.sorted { $0.key < $1.key }.map {
                Dashboard.DayCount(day: text(day), store: $0.key, returns: $0.value)
            }
        }
        func mix(_ name: String) -> [(key: String, returns: Int)] {
            (results[name] ?? []).map { (key: $0.text("key") ?? "", returns: Int($0.count("n"))) }
        }
        let review = (results["review"] ?? []).map {
            Dashboard.ReviewItem(
                id: $0.text("id") ?? "",
                store: $0.text("store_id") ?? "",
                reason: $0.text("reason") ?? "",
                verification: $0.text("verification"),
                createdAt: Date(millisecondsSince1970: $0.count("created_at"))
            )
        }
        let violations = try (results["violations"] ?? []).map { row in
            Dashboard.RuleViolation(
                id: row.text("id") ?? "",
                store: row.text("store_id") ?? "",
                disposition: row.text("disposition") ?? "",
                problems: try ReplicaStore.decodeRecord(row.text("record") ?? "").returnRuleViolations()
            )
        }
        let conflicts = try openConflicts(results["conflicted"] ?? [])
        return Dashboard(
            generatedAt: generatedAt,
            returns: Int(totals.count("returns")),
            units: Int(totals.count("units")),
            voided: Int(totals.count("voided")),
            rejected: Int(totals.count("rejected")),
            futureDated: Int(totals.count("future")),
            stores: Set(perDay.map(\.store)).sorted(),
            perDay: perDay,
            firstDay: text(firstDay),
            lastDay: text(lastDay),
            reasons: mix("reasons"),
            dispositions: mix("dispositions"),
            returnsInConflict: Int(totals.count("in_conflict")),
            openConflictCount: conflicts.count,
            openConflicts: conflicts.prefix(listLimit).map {
                Dashboard.OpenConflict(
                    recordID: $0.recordID,
                    field: $0.conflict.field,
                    values: $0.conflict.values.map(\.value),
                    shown: $0.conflict.winner.value
                )
            },
            reviewQueueCount: Int(totals.count("review")),
            reviewQueue: review,
            ruleViolationCount: Int(totals.count("rules")),
            ruleViolations: violations,
            recallCompletion: try recallCompletion(results),
            returnRates: grouped(results, by: .store, withTotal: true)
        )
    }
}

extension ReportSource {
    /// The report's numbers: returns per day and store over the `days` days ending today (each store's days, in
    /// its time zone; the latest store's today), the reason and
    /// disposition mix, rule violations, open conflicts, the review queue, recall completion and return rates by
    /// store (each list at most `listLimit` long, each total uncapped), read in one consistent read.
    ///
    /// - Parameter endingOn: the chart's last day (the UTC day of this moment, taken as each store's day of that
    ///   date), for a report on an earlier day; the totals and
    ///   the dated-in-the-future check are always as of now.
    public func dashboard(days: Int = 30, listLimit: Int = 100, endingOn: Date? = nil) async throws -> Dashboard {
        let generatedAt = reportTime()
        let (statements, lastDay) = Dashboard.window(
            generatedAt: generatedAt,
            days: days,
            listLimit: listLimit,
            endingOn: endingOn
        )
        return try Reports.dashboard(
            await readReport(statements),
            generatedAt: generatedAt,
            days: days,
            lastDay: lastDay,
            listLimit: listLimit
        )
    }
}

extension Dashboard {
    /// The statements of a dashboard made at `generatedAt`, and the chart's last day when one was asked for (the day
    /// of `endingOn`, `YYYY-MM-DD` at midnight UTC). The statements read a day more on either side of the window than
    /// UTC days would need: a store's day begins up to 14 hours before or 12 after UTC's.
    static func window(
        generatedAt: Date,
        days: Int,
        listLimit: Int,
        endingOn: Date?
    ) -> (statements: [String: String], lastDay: Int?) {
        let nowMs = generatedAt.millisecondsSince1970
        let lastDay = endingOn.map { StoreTimeZone.utc.day(of: $0.millisecondsSince1970) }
        let utcToday = lastDay ?? StoreTimeZone.utc.day(of: nowMs)
        let statements = Reports.dashboard(
            now: nowMs,
            since: Int64(utcToday - max(1, days) - 1) * 86_400_000,
            until: Int64(utcToday + 2) * 86_400_000,
            listLimit: max(0, listLimit)
        )
        return (statements, lastDay)
    }
}

extension ReplicaStore {
    /// The dashboard (``ReportSource/dashboard(days:listLimit:endingOn:)``), read in one transaction.
    public func dashboard(days: Int = 30, listLimit: Int = 100, endingOn: Date? = nil) throws -> Dashboard {
        let generatedAt = now()
        let (statements, lastDay) = Dashboard.window(
            generatedAt: generatedAt,
            days: days,
            listLimit: listLimit,
            endingOn: endingOn
        )
        return try Reports.dashboard(
            readReportRows(statements),
            generatedAt: generatedAt,
            days: days,
            lastDay: lastDay,
            listLimit: listLimit
        )
    }
}
