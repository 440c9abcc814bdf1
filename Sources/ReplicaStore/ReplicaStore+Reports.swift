import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

// The report types, and the SQLite server's reports: Reports.swift holds their statements and how rows become them.

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

    /// The time reports are made at: the store's clock (a test's fixed one, or the wall clock).
    public func reportTime() -> Date { now() }

    /// Runs report statements in one read transaction (``ReportSource/readReport(_:)``, synchronously).
    public func readReportRows(_ statements: [String: String]) throws -> [String: [ReportRow]] {
        try read { db in try Self.reportRows(db, statements) }
    }

    static func reportRows(_ db: Database, _ statements: [String: String]) throws -> [String: [ReportRow]] {
        var results: [String: [ReportRow]] = [:]
        for (name, sql) in statements { results[name] = try reportRows(db, sql) }
        return results
    }

    /// The rows of one statement, as a backend-neutral ``ReportRow`` each.
    static func reportRows(
        _ db: Database,
        _ sql: String,
        arguments: StatementArguments = StatementArguments()
    ) throws -> [ReportRow] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            var cells: [String: ReportCell] = [:]
            for (column, value) in row {
                switch value.storage {
                case .null: cells[column] = .null
                case .int64(let number): cells[column] = .integer(number)
                case .double(let number): cells[column] = .real(number)
                case .string(let text): cells[column] = .text(text)
                case .blob(let data): cells[column] = .text(String(decoding: data, as: UTF8.self))
                }
            }
            return ReportRow(cells)
        }
    }

    /// Recall completion (``ReportSource/recallCompletionReport()``).
    public func recallCompletionReport() throws -> Report {
        try Reports.recallCompletion(
            readReportRows(Reports.recallStatements)
        )
    }

    /// Repair turnaround per repairer (``ReportSource/repairTurnaroundReport()``).
    public func repairTurnaroundReport() throws -> Report {
        Reports.repairTurnaround(try readReportRows(["repairs": Reports.repairs]))
    }

    /// The state of the whole replica at a glance (``ReportSource/summaryReport()`` says what each measure counts).
    public func summaryReport() throws -> Report {
        let now = now().millisecondsSince1970
        return try Reports.summary(
            readReportRows(["totals": Reports.totals(now: now), "conflicted": Reports.conflictedRecords])
        )
    }

    /// Returns and units per value of `dimension` (``ReportSource/groupedReport(by:withTotal:)``).
    public func groupedReport(by dimension: ReportDimension, withTotal: Bool) throws -> Report {
        Reports.grouped(try readReportRows(Reports.grouped(by: dimension)), by: dimension, withTotal: withTotal)
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
