import Foundation
import ReturnsModel
import ReturnsSync
import SyncEngine

// The numbers HQ reads, written once for every server backend. Each report is a few SQL statements over the
// `returns` and `orders` projections and the stored records — SQL both SQLite and PostgreSQL run as written, with
// every sum cast to a whole number and no parameters (the only values are integers this code formats) — and the
// Swift that turns their rows into a report. A backend runs a report's statements in one consistent read
// (``ReportSource``), so every number of a report agrees with every other.
//
// Every total follows one rule, stated here and in Server/README.md ("What the numbers count"): a return counts as a
// returned unit unless it was voided (a mis-scan) or HQ rejected it (it should not have been taken back). Those two
// are counted on their own, never inside another total.

/// One value of a row a report statement returns.
public enum ReportCell: Sendable, Hashable {
    case text(String)
    case integer(Int64)
    case real(Double)
    case null
}

/// A row a report statement returns, by column name (lower case: PostgreSQL folds unquoted names).
public struct ReportRow: Sendable, Hashable {
    public var cells: [String: ReportCell]

    /// Creates a row.
    public init(_ cells: [String: ReportCell]) {
        self.cells = cells
    }

    /// The text in `column`, or `nil` when it holds none.
    public func text(_ column: String) -> String? {
        if case .text(let text) = cells[column] { return text }
        return nil
    }

    /// The whole number in `column`, or `nil` when it holds none.
    public func integer(_ column: String) -> Int64? {
        switch cells[column] {
        case .integer(let number): return number
        case .real(let number): return Int64(exactly: number.rounded())
        default: return nil
        }
    }

    /// The number in `column`, or `nil` when it holds none.
    public func real(_ column: String) -> Double? {
        switch cells[column] {
        case .integer(let number): return Double(number)
        case .real(let number): return number
        default: return nil
        }
    }

    /// The whole number in `column`, 0 for none: for counts and sums.
    func count(_ column: String) -> Int64 { integer(column) ?? 0 }
}

/// Where the reports read: storage holding the `returns` and `orders` projections and the records.
public protocol ReportSource: Sendable {
    /// Runs `statements` in one consistent read and returns each one's rows, by the statement's name.
    func readReport(_ statements: [String: String]) async throws -> [String: [ReportRow]]

    /// The time reports are made at.
    func reportTime() -> Date
}

/// The reports' statements and how their rows become reports.
public enum Reports {
    /// SQL for "this row of `returns` counts in the totals": neither voided nor rejected by HQ.
    static let counted = "(status != 'voided' AND coalesce(review_outcome, '') != 'rejected')"

    /// SQL for the store a return's unit was sold at: the store of the order line with the return's order and
    /// GTIN when HQ knows one, else the store that took it back.
    static let sellingStore = """
        coalesce(
          (SELECT o.store_id FROM orders o WHERE o.order_id = returns.order_id AND o.gtin = returns.gtin LIMIT 1),
          returns.store_id)
        """

    // MARK: Statements

    /// The counts the summary and the dashboard share, as one row: `returns`, `units`, `voided`, `rejected`,
    /// `future`, `in_conflict`, `review`, `rules`, `recalls`, `repairs`, `sold`.
    static func totals(now: Int64) -> String {
        """
        SELECT
          (SELECT count(*) FROM returns WHERE \(counted)) AS returns,
          (SELECT CAST(coalesce(sum(quantity), 0) AS BIGINT) FROM returns WHERE \(counted)) AS units,
          (SELECT count(*) FROM returns WHERE status = 'voided') AS voided,
          (SELECT count(*) FROM returns WHERE status != 'voided' AND review_outcome = 'rejected') AS rejected,
          (SELECT count(*) FROM returns WHERE \(counted) AND created_at > \(futureThreshold(now))) AS future,
          (SELECT count(*) FROM returns WHERE in_conflict) AS in_conflict,
          (SELECT count(*) FROM returns WHERE awaits_review) AS review,
          (SELECT count(*) FROM returns WHERE needs_review) AS rules,
          (SELECT count(*) FROM returns WHERE recall_campaign IS NOT NULL AND \(counted)) AS recalls,
          (SELECT count(*) FROM returns WHERE repair_vendor IS NOT NULL AND \(counted)) AS repairs,
          (SELECT CAST(coalesce(sum(quantity), 0) AS BIGINT) FROM orders) AS sold
        """
    }

    /// The records of every return in conflict, oldest return first.
    static let conflictedRecords = """
        SELECT rec.record FROM returns r JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id
        WHERE r.in_conflict ORDER BY r.created_at, r.id
        """

    /// Every recall campaign's record.
    static let campaigns = "SELECT record FROM records WHERE entity_type = 'recall' ORDER BY id"

    /// The recall report's statements: the campaigns, recalled returns and units per campaign and store, and the
    /// certain units found on returns captured before their campaign existed (a handful of rows: recalled ones only).
    static var recallStatements: [String: String] {
        [
            "campaigns": campaigns, "recall_rows": recallRows,
            "recall_found": """
            SELECT recall_campaign, store_id, created_at, CAST(quantity AS BIGINT) AS quantity FROM returns
            WHERE recall_campaign IS NOT NULL AND recall_match = 'certain' AND \(counted)
            """,
        ]
    }

    /// Recalled returns and units per campaign and store.
    static let recallRows = """
        SELECT recall_campaign, store_id, count(*) AS returns, CAST(sum(quantity) AS BIGINT) AS units,
               CAST(sum(CASE WHEN recall_match = 'uncertain' THEN quantity ELSE 0 END) AS BIGINT) AS uncertain
        FROM returns WHERE recall_campaign IS NOT NULL AND \(counted)
        GROUP BY recall_campaign, store_id ORDER BY recall_campaign, store_id
        """

    static let repairs = """
        SELECT repair_vendor, count(*) AS repairs, count(repair_turnaround_days) AS back,
               CAST(avg(repair_turnaround_days) AS DOUBLE PRECISION) AS average,
               max(repair_turnaround_days) AS longest
        FROM returns WHERE repair_vendor IS NOT NULL AND \(counted)
        GROUP BY repair_vendor ORDER BY repair_vendor
        """

    /// The statements of ``groupedReport(_:by:withTotal:)``: `counts`, and by store and GTIN `returned` and `sold`.
    static func grouped(by dimension: ReplicaStore.ReportDimension) -> [String: String] {
        let column = dimension.column
        var statements = [
            "counts": """
            SELECT \(column) AS key,
                   CAST(sum(CASE WHEN \(counted) THEN 1 ELSE 0 END) AS BIGINT) AS returns,
                   CAST(sum(CASE WHEN \(counted) THEN quantity ELSE 0 END) AS BIGINT) AS units,
                   CAST(sum(CASE WHEN status = 'voided' THEN 1 ELSE 0 END) AS BIGINT) AS voided,
                   CAST(sum(CASE WHEN status != 'voided' AND review_outcome = 'rejected' THEN 1 ELSE 0 END) AS BIGINT)
                     AS rejected
            FROM returns GROUP BY \(column)
            """
        ]
        if dimension == .store || dimension == .gtin {
            let owner = dimension == .store ? sellingStore : column
            statements["returned"] =
                "SELECT \(owner) AS key, CAST(sum(quantity) AS BIGINT) AS units FROM returns WHERE \(counted) GROUP BY 1"
            statements["sold"] =
                "SELECT \(column) AS key, CAST(sum(quantity) AS BIGINT) AS units FROM orders GROUP BY \(column)"
        }
        return statements
    }

    /// Money per group and currency, over the returns that count: their value (the order line's unit price × the
    /// quantity; returns with no priced order line are counted in `unpriced`), what was refunded and the restocking
    /// fees kept, and the value recovered (restocked or repackaged units at their price, and vendor credits
    /// received). A return's currency is its refund's, else its order line's, else its vendor credit's (each
    /// command recording one checks it against the order line's).
    static func money(by dimension: ReplicaStore.ReportDimension) -> String {
        let line = "FROM orders o WHERE o.order_id = returns.order_id AND o.gtin = returns.gtin ORDER BY o.line LIMIT 1"
        return """
            SELECT key, currency, count(*) AS returns, count(value) AS priced,
                   CAST(coalesce(sum(value), 0) AS BIGINT) AS value_returned,
                   CAST(coalesce(sum(refund_amount), 0) AS BIGINT) AS refunded,
                   CAST(coalesce(sum(refund_fee), 0) AS BIGINT) AS fees,
                   CAST(coalesce(sum(CASE WHEN disposition IN ('restock', 'repackage') THEN value END), 0)
                     + coalesce(sum(vendor_credit_amount), 0) AS BIGINT) AS recovered
            FROM (
              SELECT \(dimension.column) AS key, disposition, refund_method, refund_amount, refund_fee,
                     coalesce(refund_currency, (SELECT o.currency \(line)), vendor_credit_currency, '') AS currency,
                     vendor_credit_amount,
                     quantity * (SELECT o.unit_price_cents \(line)) AS value
              FROM returns WHERE \(counted)
            ) priced
            GROUP BY key, currency ORDER BY key, currency
            """
    }

    /// What is still out with a vendor or a repairer: returns routed to the vendor with no credit received yet (since
    /// their shipment, else their capture), and repairs sent and not back (since they were sent), with the party.
    static let openClaimsAndRepairs = """
        SELECT 'vendor-claim' AS kind, store_id, coalesce(rma_number, '') AS party,
               coalesce(rma_shipped_at, created_at) AS since
        FROM returns
        WHERE status <> 'voided' AND disposition = 'return-to-vendor' AND vendor_credit_amount IS NULL
        UNION ALL
        SELECT 'repair' AS kind, store_id, coalesce(repair_vendor, '') AS party,
               coalesce(repair_sent_at, created_at) AS since
        FROM returns
        WHERE status <> 'voided' AND disposition = 'repair'
          AND (repair_status IS NULL OR repair_status IN ('sent', 'in-repair'))
        """

    /// Returns dated after this instant (ms) are flagged as dated in the future: the bound a replica accepts
    /// stamps within (``HybridLogicalClock/maximumDrift``), so clocks merely a little apart do not raise a flag.
    static func futureThreshold(_ now: Int64) -> Int64 {
        now > Int64.max - Int64(HybridLogicalClock.maximumDrift)
            ? Int64.max : now + Int64(HybridLogicalClock.maximumDrift)
    }

    // MARK: Rows to reports

    /// The open conflicts of the returns whose records `rows` hold, in their order.
    static func openConflicts(_ rows: [ReportRow]) throws -> [(recordID: String, conflict: FieldConflict)] {
        try rows.flatMap { row in
            let record = try ReplicaStore.decodeRecord(row.text("record") ?? "")
            return record.openConflicts(policy: ReturnEntity.policy).map { (record.id, $0) }
        }
    }

    static func summary(_ results: [String: [ReportRow]]) throws -> ReplicaStore.Report {
        let row = results["totals"]?.first ?? ReportRow([:])
        let openConflicts = try Self.openConflicts(results["conflicted"] ?? []).count
        let measures: [(String, Int64)] = [
            ("returns", row.count("returns")), ("units", row.count("units")), ("voided", row.count("voided")),
            ("rejected", row.count("rejected")), ("futureDated", row.count("future")),
            ("returnsInConflict", row.count("in_conflict")), ("openConflicts", Int64(openConflicts)),
            ("reviewQueue", row.count("review")), ("ruleViolations", row.count("rules")),
            ("recallReturns", row.count("recalls")), ("repairs", row.count("repairs")),
            ("soldUnits", row.count("sold")),
        ]
        return ReplicaStore.Report(columns: ["measure", "value"], rows: measures.map { [.text($0.0), .number($0.1)] })
    }

    static func recallCompletion(_ results: [String: [ReportRow]]) throws -> ReplicaStore.Report {
        let campaigns = try (results["campaigns"] ?? []).map {
            try RecallCampaign(record: ReplicaStore.decodeRecord($0.text("record") ?? ""))
        }
        let affected = Dictionary(campaigns.map { ($0.id, Int64($0.unitsAffected)) }, uniquingKeysWith: { $1 })
        var byCampaign: [String: [ReportRow]] = [:]
        for row in results["recall_rows"] ?? [] {
            byCampaign[row.text("recall_campaign") ?? "", default: []].append(row)
        }
        // Units on returns captured before their campaign was created: found when it reached a replica holding them.
        let created = Dictionary(
            campaigns.map { ($0.id, $0.createdAt.millisecondsSince1970) },
            uniquingKeysWith: { $1 }
        )
        var foundLater: [[String]: Int64] = [:]
        for row in results["recall_found"] ?? [] {
            let campaign = row.text("recall_campaign") ?? ""
            guard let start = created[campaign], row.count("created_at") < start else { continue }
            foundLater[[campaign, row.text("store_id") ?? ""], default: 0] += row.count("quantity")
        }
        func completion(_ units: Int64, of affected: Int64?) -> ReplicaStore.ReportValue {
            guard let affected, affected > 0 else { return .none }
            return .decimal((Double(units) / Double(affected) * 1000).rounded() / 1000)
        }
        var table: [[ReplicaStore.ReportValue]] = []
        for campaign in Set(affected.keys).union(byCampaign.keys).sorted() {
            let units = affected[campaign]
            guard let rows = byCampaign[campaign] else {
                table.append([
                    .text(campaign), .none, .number(0), .number(0), .number(0),
                    units.map(ReplicaStore.ReportValue.number) ?? .none, completion(0, of: units), .number(0),
                ])
                continue
            }
            for row in rows {
                let certain = row.count("units") - row.count("uncertain")
                table.append([
                    .text(campaign), .text(row.text("store_id") ?? ""), .number(row.count("returns")),
                    .number(certain), .number(row.count("uncertain")),
                    units.map(ReplicaStore.ReportValue.number) ?? .none, completion(certain, of: units),
                    .number(foundLater[[campaign, row.text("store_id") ?? ""]] ?? 0),
                ])
            }
        }
        return ReplicaStore.Report(
            columns: [
                "campaign", "store", "returns", "unitsReturned", "uncertainUnits", "unitsAffected", "completion",
                "unitsFoundLater",
            ],
            rows: table
        )
    }

    static func repairTurnaround(_ results: [String: [ReportRow]]) -> ReplicaStore.Report {
        ReplicaStore.Report(
            columns: ["vendor", "repairs", "back", "averageDays", "longestDays"],
            rows: (results["repairs"] ?? []).map { row in
                [
                    .text(row.text("repair_vendor") ?? ""), .number(row.count("repairs")), .number(row.count("back")),
                    row.real("average").map { .decimal(($0 * 10).rounded() / 10) } ?? .none,
                    row.integer("longest").map(ReplicaStore.ReportValue.number) ?? .none,
                ]
            }
        )
    }

    static func grouped(
        _ results: [String: [ReportRow]],
        by dimension: ReplicaStore.ReportDimension,
        withTotal: Bool
    ) -> ReplicaStore.Report {
        var counts: [String: [Int64]] = [:]
        for row in results["counts"] ?? [] {
            counts[row.text("key") ?? ""] = [
                row.count("returns"), row.count("units"), row.count("voided"), row.count("rejected"),
            ]
        }
        var columns = [dimension.rawValue, "returns", "units", "voided", "rejected"]
        let sales = dimension == .store || dimension == .gtin
        var returned: [String: Int64] = [:]
        var sold: [String: Int64] = [:]
        if sales {
            columns += ["returnedUnits", "soldUnits", "returnRate"]
            for row in results["returned"] ?? [] { returned[row.text("key") ?? ""] = row.count("units") }
            for row in results["sold"] ?? [] { sold[row.text("key") ?? ""] = row.count("units") }
        }
        func rate(_ returned: Int64, _ sold: Int64?) -> ReplicaStore.ReportValue {
            guard let sold, sold > 0 else { return .none }
            return .decimal((Double(returned) / Double(sold) * 10_000).rounded() / 10_000)
        }
        // Products sold and never returned belong in a return-rate report too, at rate 0.
        let keys = Set(counts.keys).union(returned.keys).union(sold.keys).sorted()
        var table: [[ReplicaStore.ReportValue]] = keys.map { key in
            let count = counts[key] ?? [0, 0, 0, 0]
            var row: [ReplicaStore.ReportValue] = [.text(key)] + count.map(ReplicaStore.ReportValue.number)
            if sales {
                let back = returned[key] ?? 0
                row += [.number(back), sold[key].map(ReplicaStore.ReportValue.number) ?? .none, rate(back, sold[key])]
            }
            return row
        }
        if withTotal {
            let sums = (0..<4).map { index in counts.values.map { $0[index] }.reduce(0, +) }
            var row: [ReplicaStore.ReportValue] = [.text("total")] + sums.map(ReplicaStore.ReportValue.number)
            if sales {
                let back = returned.values.reduce(0, +)
                let allSold = sold.isEmpty ? nil : sold.values.reduce(0, +)
                // The total's rate compares like with like: the units returned of what has sales on record, over
                // those sales; units of stores or products HQ has no sales for would inflate it without meaning.
                let backOfSold = returned.filter { sold[$0.key] != nil }.values.reduce(0, +)
                row += [
                    .number(back), allSold.map(ReplicaStore.ReportValue.number) ?? .none, rate(backOfSold, allSold),
                ]
            }
            table.append(row)
        }
        return ReplicaStore.Report(columns: columns, rows: table)
    }
}

extension Reports {
    static func money(
        _ results: [String: [ReportRow]],
        by dimension: ReplicaStore.ReportDimension,
        withTotal: Bool
    ) -> ReplicaStore.Report {
        func amount(_ minor: Int64, _ code: String) -> ReplicaStore.ReportValue {
            guard let currency = try? Currency(code) else { return .text(Currency.twoDecimals(minor)) }
            return .text(currency.format(minor))
        }
        var table: [[ReplicaStore.ReportValue]] = []
        var totals: [String: [Int64]] = [:]
        for row in results["money"] ?? [] {
            let currency = row.text("currency") ?? ""
            let sums = [
                row.count("returns"), row.count("value_returned"), row.count("refunded"), row.count("fees"),
                row.count("recovered"), row.count("returns") - row.count("priced"),
            ]
            table.append(
                [.text(row.text("key") ?? ""), currency.isEmpty ? .none : .text(currency), .number(sums[0])]
                    + sums[1...4].map { amount($0, currency) } + [.number(sums[5])]
            )
            totals[currency] = zip(totals[currency] ?? Array(repeating: 0, count: 6), sums).map { $0 + $1 }
        }
        if withTotal {
            for (currency, sums) in totals.sorted(by: { $0.key < $1.key }) {
                table.append(
                    [.text("total"), currency.isEmpty ? .none : .text(currency), .number(sums[0])]
                        + sums[1...4].map { amount($0, currency) } + [.number(sums[5])]
                )
            }
        }
        return ReplicaStore.Report(
            columns: [
                dimension.rawValue, "currency", "returns", "valueReturned", "refunded", "feesKept", "valueRecovered",
                "unpriced",
            ],
            rows: table
        )
    }
}

extension Reports {
    /// Open vendor claims and repairs by store and party (repairer; a claim's party is empty: each RMA is its own),
    /// how many, how many in each age bracket, and the oldest, in whole days up to `now`.
    static func ageing(_ results: [String: [ReportRow]], now: Int64, withTotal: Bool) -> ReplicaStore.Report {
        struct Group: Hashable { var kind: String, store: String, party: String }
        var ages: [Group: [Int64]] = [:]
        for row in results["open"] ?? [] {
            let group = Group(
                kind: row.text("kind") ?? "",
                store: row.text("store_id") ?? "",
                party: row.text("party") ?? ""
            )
            ages[group, default: []].append(max(0, now - row.count("since")) / 86_400_000)
        }
        func row(_ label: [ReplicaStore.ReportValue], _ days: [Int64]) -> [ReplicaStore.ReportValue] {
            let brackets: [ClosedRange<Int64>] = [0...7, 8...30, 31...90, 91...Int64.max]
            return label + [.number(Int64(days.count))]
                + brackets.map { bracket in .number(Int64(days.filter { bracket.contains($0) }.count)) }
                + [.number(days.max() ?? 0)]
        }
        var table = ages.keys.sorted { ($0.kind, $0.store, $0.party) < ($1.kind, $1.store, $1.party) }.map { group in
            row(
                [.text(group.kind), .text(group.store), group.party.isEmpty ? .none : .text(group.party)],
                ages[group]!
            )
        }
        if withTotal {
            for kind in Set(ages.keys.map(\.kind)).sorted() {
                let days = ages.filter { $0.key.kind == kind }.flatMap(\.value)
                table.append(row([.text("total"), .text(kind), .none], days))
            }
        }
        return ReplicaStore.Report(
            columns: [
                "kind", "store", "party", "open", "days0to7", "days8to30", "days31to90", "over90Days", "oldestDays",
            ],
            rows: table
        )
    }
}

extension ReplicaStore {
    /// Every report by name, as ``ReportSource/report(by:money:withTotal:)`` takes it: the groupings, then `recall`,
    /// `repair`, `ageing` and `summary`.
    public static let reportKinds =
        ReportDimension.allCases.map(\.rawValue) + ["recall", "repair", "ageing", "summary"]
}

extension ReportSource {
    /// Open vendor claims (routed to the vendor, no credit yet) and open repairs (sent, not back), by store and
    /// party, in age brackets of whole days since they were shipped or sent (``Reports/ageing(_:now:withTotal:)``).
    public func ageingReport(withTotal: Bool) async throws -> ReplicaStore.Report {
        Reports.ageing(
            try await readReport(["open": Reports.openClaimsAndRepairs]),
            now: reportTime().millisecondsSince1970,
            withTotal: withTotal
        )
    }

    /// Money per store, reason, status, disposition or GTIN, and currency (``Reports/money(by:)`` says what each
    /// column counts); amounts are decimal text in the currency's digits, never floating point.
    public func moneyReport(
        by dimension: ReplicaStore.ReportDimension,
        withTotal: Bool
    ) async throws
        -> ReplicaStore.Report
    {
        Reports.money(
            try await readReport(["money": Reports.money(by: dimension)]),
            by: dimension,
            withTotal: withTotal
        )
    }

    /// The state of the whole server at a glance, each measure named for what it counts:
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
    /// Report `by` as `returns-server report --by` names it (one of ``ReplicaStore/reportKinds``): a grouping (`store`, `reason`, `status`,
    /// `disposition`, `gtin`; with `money`, its money report), `recall`, `repair`, `ageing` or `summary`.
    ///
    /// - Throws: ``ReplicaStoreError`` naming a report that does not exist, or `money` for one that is not a
    ///   grouping.
    public func report(by: String, money: Bool, withTotal: Bool) async throws -> ReplicaStore.Report {
        if let dimension = ReplicaStore.ReportDimension(rawValue: by) {
            return money
                ? try await moneyReport(by: dimension, withTotal: withTotal)
                : try await groupedReport(by: dimension, withTotal: withTotal)
        }
        guard !money else {
            throw ReplicaStoreError(
                code: .notFound,
                message: "money reports group by store, reason, status, disposition or gtin, not by '\(by)'"
            )
        }
        switch by {
        case "recall": return try await recallCompletionReport()
        case "repair": return try await repairTurnaroundReport()
        case "ageing": return try await ageingReport(withTotal: withTotal)
        case "summary": return try await summaryReport()
        default:
            throw ReplicaStoreError(
                code: .notFound,
                message: "no report '\(by)': expected one of \(ReplicaStore.reportKinds.joined(separator: ", "))"
            )
        }
    }

    public func summaryReport() async throws -> ReplicaStore.Report {
        let now = reportTime().millisecondsSince1970
        return try Reports.summary(
            await readReport(["totals": Reports.totals(now: now), "conflicted": Reports.conflictedRecords])
        )
    }

    /// Recall completion: per campaign and store, the recalled units returned, against the units the campaign
    /// covers (certain matches only; uncertain ones are still being inspected).
    ///
    /// Every campaign known has at least one row: one with no returns yet shows 0 returned and a completion of 0,
    /// with no store.
    public func recallCompletionReport() async throws -> ReplicaStore.Report {
        try Reports.recallCompletion(
            await readReport(Reports.recallStatements)
        )
    }

    /// Repair turnaround per repairer: repairs, how many are back, average and longest turnaround in days.
    public func repairTurnaroundReport() async throws -> ReplicaStore.Report {
        Reports.repairTurnaround(try await readReport(["repairs": Reports.repairs]))
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
    public func groupedReport(
        by dimension: ReplicaStore.ReportDimension,
        withTotal: Bool
    ) async throws -> ReplicaStore.Report {
        Reports.grouped(try await readReport(Reports.grouped(by: dimension)), by: dimension, withTotal: withTotal)
    }
}
