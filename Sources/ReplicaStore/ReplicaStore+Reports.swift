import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

// The numbers HQ reads. Every total follows one rule, stated once here and in Server/README.md ("What the numbers
// count"): a return counts as a returned unit unless it was voided (a mis-scan) or HQ rejected it (it should not
// have been taken back). Those two are counted on their own, never inside another total.

extension ReplicaStore {
    /// A dimension `report` groups returns by.
    public enum ReportDimension: String, CaseIterable, Sendable {
        case store, reason, status, disposition, gtin

        var column: String {
            switch self {
            case .store: return "store_id"
            case .reason: return "reason"
            case .status: return "status"
            case .disposition: return "disposition"
            case .gtin: return "gtin"
            }
        }
    }

    /// A report: named columns and rows of values, ready for a table, JSON or CSV.
    public struct Report: Sendable {
        public var columns: [String]
        /// Each value is a string, an integer, a decimal or nothing.
        public var rows: [[ReportValue]]

        /// Creates a report.
        public init(columns: [String], rows: [[ReportValue]]) {
            self.columns = columns
            self.rows = rows
        }

        /// The value of `column` in `row`, or `nil` when there is no such column.
        public func value(_ column: String, in row: [ReportValue]) -> ReportValue? {
            columns.firstIndex(of: column).map { row[$0] }
        }
    }

    /// A value in a report.
    public enum ReportValue: Sendable, Hashable {
        case text(String)
        case number(Int64)
        case decimal(Double)
        case none

        /// The integer, or `nil` for any other kind of value.
        public var integer: Int64? {
            if case .number(let number) = self { return number }
            return nil
        }
    }

    /// SQL for "this row of `returns` counts in the totals": neither voided nor rejected by HQ.
    static let counted = "(status != 'voided' AND coalesce(review_outcome, '') != 'rejected')"

    /// SQL for the store a return's unit was sold at: the store of the order line with the return's order and
    /// GTIN when HQ knows one, else the store that took it back.
    static let sellingStore = """
        coalesce(
          (SELECT o.store_id FROM orders o WHERE o.order_id = returns.order_id AND o.gtin = returns.gtin LIMIT 1),
          returns.store_id)
        """

    /// Recall completion: per campaign and store, the recalled units returned, against the units the campaign
    /// covers (certain matches only; uncertain ones are still being inspected).
    ///
    /// Every campaign this replica knows has at least one row: one with no returns yet shows 0 returned and a
    /// completion of 0, with no store.
    public func recallCompletionReport() throws -> Report {
        let campaigns = try recalls()
        return try read { db in try Self.recallCompletion(db, campaigns: campaigns) }
    }

    static func recallCompletion(_ db: Database, campaigns: [RecallCampaign]) throws -> Report {
        let affected = Dictionary(uniqueKeysWithValues: campaigns.map { ($0.id, Int64($0.unitsAffected)) })
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT recall_campaign, store_id, count(*) AS returns, sum(quantity) AS units,
                       sum(CASE WHEN recall_match = 'uncertain' THEN quantity ELSE 0 END) AS uncertain
                FROM returns WHERE recall_campaign IS NOT NULL AND \(counted)
                GROUP BY recall_campaign, store_id ORDER BY recall_campaign, store_id
                """
        )
        var byCampaign: [String: [Row]] = [:]
        for row in rows { byCampaign[row["recall_campaign"], default: []].append(row) }
        func completion(_ units: Int64, of affected: Int64?) -> ReportValue {
            guard let affected, affected > 0 else { return .none }
            return .decimal((Double(units) / Double(affected) * 1000).rounded() / 1000)
        }
        var table: [[ReportValue]] = []
        for campaign in Set(affected.keys).union(byCampaign.keys).sorted() {
            let units = affected[campaign]
            guard let rows = byCampaign[campaign] else {
                table.append([
                    .text(campaign), .none, .number(0), .number(0), .number(0), units.map(ReportValue.number) ?? .none,
                    completion(0, of: units),
                ])
                continue
            }
            for row in rows {
                let certain = (row["units"] as Int64) - (row["uncertain"] as Int64)
                table.append([
                    .text(campaign), .text(row["store_id"]), .number(row["returns"]), .number(certain),
                    .number(row["uncertain"]), units.map(ReportValue.number) ?? .none, completion(certain, of: units),
                ])
            }
        }
        return Report(
            columns: [
                "campaign", "store", "returns", "unitsReturned", "uncertainUnits", "unitsAffected", "completion",
            ],
            rows: table
        )
    }

    /// Repair turnaround per repairer: repairs, how many are back, average and longest turnaround in days.
    public func repairTurnaroundReport() throws -> Report {
        let rows = try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT repair_vendor, count(*) AS repairs, count(repair_turnaround_days) AS back,
                           avg(repair_turnaround_days) AS average, max(repair_turnaround_days) AS longest
                    FROM returns WHERE repair_vendor IS NOT NULL AND \(Self.counted)
                    GROUP BY repair_vendor ORDER BY repair_vendor
                    """
            )
        }
        return Report(
            columns: ["vendor", "repairs", "back", "averageDays", "longestDays"],
            rows: rows.map { row in
                [
                    .text(row["repair_vendor"]), .number(row["repairs"]), .number(row["back"]),
                    (row["average"] as Double?).map { .decimal(($0 * 10).rounded() / 10) } ?? .none,
                    (row["longest"] as Int64?).map(ReportValue.number) ?? .none,
                ]
            }
        )
    }

    /// The state of the whole replica at a glance, each measure named for what it counts:
    ///
    /// - `returns`, `units`: returns and units that count (not voided, not rejected);
    /// - `voided`, `rejected`: returns voided at a kiosk, returns HQ rejected;
    /// - `futureDated`: counted returns dated more than the clock drift bound after now (a kiosk with a wrong
    ///   clock), also inside `returns`;
    /// - `returnsInConflict`, `openConflicts`: returns with an open conflict, and the open conflicts (one per
    ///   field) they hold;
    /// - `reviewQueue`: returns awaiting HQ's decision; `ruleViolations`: returns whose merged state breaks a
    ///   lifecycle rule;
    /// - `recallReturns`: counted returns under a recall campaign (the sum of `--by recall`'s `returns`);
    /// - `repairs`: counted returns sent to a repairer; `soldUnits`: units sold in the imported orders.
    public func summaryReport() throws -> Report {
        let now = now().millisecondsSince1970
        let (row, openConflicts) = try read { db in
            let row = try Self.totals(db, now: now)
            return (row, try Self.openReturnConflicts(db).count)
        }
        let measures: [(String, Int64)] = [
            ("returns", row["returns"]), ("units", row["units"]), ("voided", row["voided"]),
            ("rejected", row["rejected"]), ("futureDated", row["future"]), ("returnsInConflict", row["inConflict"]),
            ("openConflicts", Int64(openConflicts)), ("reviewQueue", row["review"]), ("ruleViolations", row["rules"]),
            ("recallReturns", row["recalls"]), ("repairs", row["repairs"]), ("soldUnits", row["sold"]),
        ]
        return Report(columns: ["measure", "value"], rows: measures.map { [.text($0.0), .number($0.1)] })
    }

    /// The counts the summary and the dashboard share, as one row: `returns`, `units`, `voided`, `rejected`,
    /// `future`, `inConflict`, `review`, `rules`, `recalls`, `repairs`, `sold`.
    static func totals(_ db: Database, now: Int64) throws -> Row {
        try Row.fetchOne(
            db,
            sql: """
                SELECT
                  (SELECT count(*) FROM returns WHERE \(counted)) AS returns,
                  (SELECT coalesce(sum(quantity), 0) FROM returns WHERE \(counted)) AS units,
                  (SELECT count(*) FROM returns WHERE status = 'voided') AS voided,
                  (SELECT count(*) FROM returns WHERE status != 'voided' AND review_outcome = 'rejected') AS rejected,
                  (SELECT count(*) FROM returns WHERE \(counted) AND created_at > ?) AS future,
                  (SELECT count(*) FROM returns WHERE in_conflict) AS inConflict,
                  (SELECT count(*) FROM returns WHERE awaits_review) AS review,
                  (SELECT count(*) FROM returns WHERE needs_review) AS rules,
                  (SELECT count(*) FROM returns WHERE recall_campaign IS NOT NULL AND \(counted)) AS recalls,
                  (SELECT count(*) FROM returns WHERE repair_vendor IS NOT NULL AND \(counted)) AS repairs,
                  (SELECT coalesce(sum(quantity), 0) FROM orders) AS sold
                """,
            arguments: [futureThreshold(now)]
        )!
    }

    /// Returns dated after this instant (ms) are flagged as dated in the future: the bound a replica accepts
    /// stamps within (``HybridLogicalClock/maximumDrift``), so clocks merely a little apart do not raise a flag.
    static func futureThreshold(_ now: Int64) -> Int64 {
        now > Int64.max - Int64(HybridLogicalClock.maximumDrift)
            ? Int64.max : now + Int64(HybridLogicalClock.maximumDrift)
    }

    /// The open conflicts of every return in conflict, oldest return first: decoded from the records
    /// themselves, so the count and the list always agree with what every replica shows.
    static func openReturnConflicts(_ db: Database) throws -> [(recordID: String, conflict: FieldConflict)] {
        let records = try String.fetchAll(
            db,
            sql: """
                SELECT rec.record FROM returns r JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id
                WHERE r.in_conflict ORDER BY r.created_at, r.id
                """
        )
        return try records.flatMap { json in
            let record = try decodeRecord(json)
            return record.openConflicts(policy: ReturnEntity.policy).map { (record.id, $0) }
        }
    }

    /// Returns and units per value of `dimension` (counted returns only), with the voided and rejected returns in
    /// their own columns; by store and by GTIN also the units sold (from the imported orders) and the return rate.
    ///
    /// By store, `returns` and `units` belong to the store that took the return back, while `returnedUnits`
    /// belongs to the store that **sold** the unit (the store of the order line with the return's order and GTIN
    /// when it is known, else the returning store), so `returnRate` = `returnedUnits` / `soldUnits` compares like
    /// with like. The `total` row's rate counts only the returned units of stores (products) with sales on record.
    ///
    /// - Parameter withTotal: whether to end with a `total` row.
    public func groupedReport(by dimension: ReportDimension, withTotal: Bool) throws -> Report {
        try read { db in try Self.groupedReport(db, by: dimension, withTotal: withTotal) }
    }

    static func groupedReport(_ db: Database, by dimension: ReportDimension, withTotal: Bool) throws -> Report {
        let column = dimension.column
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT \(column) AS key,
                       sum(CASE WHEN \(counted) THEN 1 ELSE 0 END) AS returns,
                       sum(CASE WHEN \(counted) THEN quantity ELSE 0 END) AS units,
                       sum(CASE WHEN status = 'voided' THEN 1 ELSE 0 END) AS voided,
                       sum(CASE WHEN status != 'voided' AND review_outcome = 'rejected' THEN 1 ELSE 0 END) AS rejected
                FROM returns GROUP BY \(column)
                """
        )
        var counts: [String: [Int64]] = [:]
        for row in rows {
            counts[row["key"]] = [row["returns"], row["units"], row["voided"], row["rejected"]]
        }
        var columns = [dimension.rawValue, "returns", "units", "voided", "rejected"]
        let sales = dimension == .store || dimension == .gtin
        var returned: [String: Int64] = [:]
        var sold: [String: Int64] = [:]
        if sales {
            columns += ["returnedUnits", "soldUnits", "returnRate"]
            let owner = dimension == .store ? sellingStore : column
            for row in try Row.fetchAll(
                db,
                sql: "SELECT \(owner) AS key, sum(quantity) AS units FROM returns WHERE \(counted) GROUP BY 1"
            ) {
                returned[row["key"]] = row["units"]
            }
            for row in try Row.fetchAll(
                db,
                sql: "SELECT \(column) AS key, sum(quantity) AS units FROM orders GROUP BY \(column)"
            ) {
                sold[row["key"]] = row["units"]
            }
        }
        func rate(_ returned: Int64, _ sold: Int64?) -> ReportValue {
            guard let sold, sold > 0 else { return .none }
            return .decimal((Double(returned) / Double(sold) * 10_000).rounded() / 10_000)
        }
        // Products sold and never returned belong in a return-rate report too, at rate 0.
        let keys = Set(counts.keys).union(returned.keys).union(sold.keys).sorted()
        var table: [[ReportValue]] = keys.map { key in
            let count = counts[key] ?? [0, 0, 0, 0]
            var row: [ReportValue] = [.text(key)] + count.map(ReportValue.number)
            if sales {
                let back = returned[key] ?? 0
                row += [.number(back), sold[key].map(ReportValue.number) ?? .none, rate(back, sold[key])]
            }
            return row
        }
        if withTotal {
            let sums = (0..<4).map { index in counts.values.map { $0[index] }.reduce(0, +) }
            var row: [ReportValue] = [.text("total")] + sums.map(ReportValue.number)
            if sales {
                let back = returned.values.reduce(0, +)
                let allSold = sold.isEmpty ? nil : sold.values.reduce(0, +)
                // The total's rate compares like with like: the units returned of what has sales on record, over
                // those sales; units of stores or products HQ has no sales for would inflate it without meaning.
                let backOfSold = returned.filter { sold[$0.key] != nil }.values.reduce(0, +)
                row += [.number(back), allSold.map(ReportValue.number) ?? .none, rate(backOfSold, allSold)]
            }
            table.append(row)
        }
        return Report(columns: columns, rows: table)
    }

    /// Counted returns and units per value of `dimension`, ordered by value (values with only voided or rejected
    /// returns left out): ``groupedReport(by:withTotal:)``'s first columns.
    public func report(by dimension: ReportDimension) throws -> [(key: String, returns: Int, units: Int)] {
        try groupedReport(by: dimension, withTotal: false).rows.compactMap { row in
            guard case .text(let key) = row[0], case .number(let returns) = row[1], returns > 0,
                case .number(let units) = row[2]
            else { return nil }
            return (key: key, returns: Int(returns), units: Int(units))
        }
    }
}
