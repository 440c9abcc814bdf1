import Foundation
import GRDB

/// What opening a database is about to migrate, and about how long it will take (issue 22): an operator upgrading
/// a kiosk or HQ with a million returns is told before the wait, not after it.
public struct MigrationPlan: Hashable, Sendable {
    /// The database file.
    public var path: String
    /// The schema steps not applied yet, in the order they run (`v21: clock correction`).
    public var steps: [String]
    /// The step that reads or rewrites the most rows, and how many (`nil`: every step only adds tables, columns or
    /// small indexes).
    public var heaviestStep: String?
    /// The rows ``heaviestStep`` reads or rewrites.
    public var heaviestRows: Int
    /// The estimate, from the rows each step reads or rewrites and what a row cost on the 2-core development
    /// machine (``ReplicaStore/migrationCosts``): a slower disk takes longer.
    public var estimatedSeconds: Double

    /// Creates a plan.
    public init(path: String, steps: [String], heaviestStep: String?, heaviestRows: Int, estimatedSeconds: Double) {
        self.path = path
        self.steps = steps
        self.heaviestStep = heaviestStep
        self.heaviestRows = heaviestRows
        self.estimatedSeconds = estimatedSeconds
    }

    /// Counts `step`'s `rows`, each costing `secondsPerRow`, in the estimate (and as the heaviest step if it is).
    public mutating func add(_ step: String, rows: Int, secondsPerRow: Double) {
        estimatedSeconds += Double(rows) * secondsPerRow
        if rows > heaviestRows {
            heaviestStep = step
            heaviestRows = rows
        }
    }
}

extension ReplicaStore {
    /// What one migration costs: the rows it reads or rewrites (counted before it runs, 0 for a table that does not
    /// exist yet), and the seconds one row took on the 2-core development machine, measured on a kiosk database of
    /// 1,000,000 returns with the `sqlite3` shell running each step's statements (docs/upgrade.md has the figures).
    /// Steps not listed only add tables, columns or indexes of tables that are new or small: milliseconds.
    static let migrationCosts: [String: (rows: @Sendable (Database) throws -> Int, secondsPerRow: Double)] = [
        // Every record gets its store from the projection, then the feed index is built: 5.3 s.
        "v7": ({ try count($0, "records") }, 5.3e-6),
        // A kiosk's change-log entries nothing reads any more are deleted: 0.8 s.
        "v11": ({ try role($0) == .kiosk ? count($0, "change_log") : 0 }, 0.8e-6),
        // Repairs recorded before: each such return read and decoded (an export's read, decode and write of a
        // return: 41.8 µs).
        "v13": ({ try count($0, "returns", where: "repair_vendor IS NOT NULL") }, 42e-6),
        // An index over every return's customer (all NULL then): 0.16 s.
        "v14": ({ try count($0, "returns") }, 0.2e-6),
        // Every return's record searched for attachments (those with some decoded): 0.86 s.
        "v16": ({ try count($0, "records", where: "entity_type = 'return'") }, 0.9e-6),
        // An index over HQ's audit (an index of integers over 1,000,000 rows: 0.32 s).
        "v20": ({ try count($0, "hq_audit") }, 0.4e-6),
        // The status index rebuilt with each return's last change (0.66 and 0.69 s over a 1,000,000-row table of
        // the projection's columns, 267 MB; the index of attachments by return is as small as that table is).
        "v22": ({ try count($0, "returns") }, 0.7e-6),
        // Two indexes on the GTIN dropped, one on GTIN and serial built (1.70 s over 1,000,000 returns, 716 MB).
        "v24": ({ try count($0, "returns") }, 1.7e-6),
        // The projection copied into a rowid table and its nine indexes built again: 10.6 s over 1,000,000 returns
        // (1.4 GB), most of it writing the new table (the old one's pages are left free for later writes).
        "v25": ({ try count($0, "returns") }, 10.6e-6),
        // The records copied into a numbered table without their clock column, its three indexes built again:
        // 24.3 and 29.4 s over 1,000,000 records (1.2 GB; the `sqlite3` shell, twice).
        "v27": ({ try count($0, "records") }, 27e-6),
        // The change log copied, each entry's record looked up by type and id: 3.8 s over 1,000,000 entries.
        "v28": ({ try count($0, "change_log") }, 3.8e-6),
    ]

    /// The plan of what `migrator` still has to apply to the database `db` is, or `nil` when nothing (or when the
    /// database is being created: it has nothing to migrate).
    static func migrationPlan(_ migrator: DatabaseMigrator, _ db: Database, path: String) throws -> MigrationPlan? {
        let applied = try migrator.appliedIdentifiers(db)
        guard !applied.isEmpty else { return nil }
        let pending = migrator.migrations.filter { !applied.contains($0) }
        guard !pending.isEmpty else { return nil }
        var plan = MigrationPlan(path: path, steps: pending, heaviestStep: nil, heaviestRows: 0, estimatedSeconds: 0)
        for step in pending {
            guard let prefix = step.split(separator: ":").first, let cost = migrationCosts[String(prefix)] else {
                continue
            }
            plan.add(step, rows: try cost.rows(db), secondsPerRow: cost.secondsPerRow)
        }
        return plan
    }

    private static func count(_ db: Database, _ table: String, where condition: String? = nil) throws -> Int {
        guard try db.tableExists(table) else { return 0 }
        return try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)" + (condition.map { " WHERE \($0)" } ?? ""))
            ?? 0
    }

    private static func role(_ db: Database) throws -> ReplicaIdentity.Role? {
        try String.fetchOne(db, sql: "SELECT role FROM replica").flatMap(ReplicaIdentity.Role.init(rawValue:))
    }
}

extension MigrationPlan {
    /// The line an operator reads before the migration starts, e.g. `migrating kiosk.sqlite: 3 schema steps (v19: …
    /// to v21: …), the longest over 1,000,000 rows (v11: …); about 2 s`.
    public var announcement: String {
        let name = URL(fileURLWithPath: path).lastPathComponent
        var text = "migrating \(name): \(steps.count) schema step\(steps.count == 1 ? "" : "s")"
        if let first = steps.first, let last = steps.last {
            text += steps.count == 1 ? " (\(first))" : " (\(first) to \(last))"
        }
        if let heaviestStep, heaviestRows > 0 {
            text += ", the longest over \(Self.grouped(heaviestRows)) rows (\(heaviestStep))"
        }
        let seconds = estimatedSeconds
        let estimate: String
        switch seconds {
        case ..<1: estimate = "under a second"
        case ..<90: estimate = "about \(Int(seconds.rounded(.up))) s"
        default: estimate = "about \(Int((seconds / 60).rounded(.up))) min"
        }
        return text + "; \(estimate). Do not interrupt it if you can help it (an interrupted step is undone, and "
            + "runs again next time)."
    }

    /// `1000000` as `1,000,000`, whatever the locale: the line is read next to logs.
    static func grouped(_ number: Int) -> String {
        var digits = String(number.magnitude)
        var groups: [Substring] = []
        while digits.count > 3 {
            groups.insert(digits.suffix(3), at: 0)
            digits.removeLast(3)
        }
        groups.insert(Substring(digits), at: 0)
        return (number < 0 ? "-" : "") + groups.joined(separator: ",")
    }
}
