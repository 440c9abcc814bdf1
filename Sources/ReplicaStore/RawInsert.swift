import CSQLiteRows
import GRDB
import GRDBSQLite

/// An insert (or a one-value lookup) prepared once per write transaction and bound through the SQLite C API.
///
/// Measured on a 100,000-return import, GRDB's `StatementArguments` (an array of boxed values per execution)
/// cost about a sixth of the whole import; binding straight into the statement removes that. Only the
/// per-record statements of `WriteContext` use this — the inserts and updates of `store` (and its lookup of a stored
/// record's number), and the lookup of a merged record's stored clock, which through GRDB (arguments, a cursor) cost
/// a fresh kiosk's pull an eighth of its merging thread, three times SQLite's own search (issue 18) — the read-ahead
/// of a push's stored versions, and re-verification's searches (their keys bound as `returnsync_rows(?)`), which
/// GRDB then runs (``init(binding:in:)``); everything else goes through GRDB.
struct RawInsert {
    private let statement: Statement
    private let db: Database

    // SQLITE_TRANSIENT: SQLite copies the bytes, so the Swift string may go away after binding.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ db: Database, sql: String) throws {
        self.db = db
        self.statement = try db.makeStatement(sql: sql)
    }

    /// Binds into `statement` (a cached one, say), which GRDB then runs with what is bound here: its arguments are
    /// set to none, unchecked, so GRDB neither validates nor binds any.
    init(binding statement: Statement, in db: Database) {
        self.db = db
        self.statement = statement
        statement.setUncheckedArguments([])
    }

    /// Binds into `statement` (a cached one, say) that only ``run()`` runs, never GRDB: every parameter is bound
    /// before each run, so its arguments are left as they are (clearing hundreds of them each time was a twentieth
    /// of writing a push's new records out).
    init(running statement: Statement, in db: Database) {
        self.db = db
        self.statement = statement
    }

    /// Binds `text` to the parameter at `position` (1-based).
    func bind(_ position: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            _ = sqlite3_bind_text(
                statement.sqliteStatement,
                position,
                bytes.baseAddress,
                Int32(bytes.count),
                Self.transient
            )
        }
    }

    func bind(_ position: Int32, _ text: String?) {
        guard let text else {
            sqlite3_bind_null(statement.sqliteStatement, position)
            return
        }
        bind(position, text)
    }

    func bind(_ position: Int32, _ number: Int64) {
        sqlite3_bind_int64(statement.sqliteStatement, position, number)
    }

    func bind(_ position: Int32, _ number: Int64?) {
        guard let number else {
            sqlite3_bind_null(statement.sqliteStatement, position)
            return
        }
        bind(position, number)
    }

    func bind(_ position: Int32, _ flag: Bool) {
        bind(position, Int64(flag ? 1 : 0))
    }

    /// Binds a value laid out for `returnsync_rows(?)` (``PackedProjectionRow``); SQLite copies a text's bytes.
    func bind(_ position: Int32, _ value: returnsync_value) {
        switch value.type {
        case returnsync_value_integer: sqlite3_bind_int64(statement.sqliteStatement, position, value.integer)
        case returnsync_value_text:
            sqlite3_bind_text(statement.sqliteStatement, position, value.text, value.length, Self.transient)
        default: sqlite3_bind_null(statement.sqliteStatement, position)
        }
    }

    /// Runs the query with the values bound since the last run: its first row's first column as text, `nil` when
    /// it yields no row or NULL.
    func firstText() throws -> String? {
        let sqliteStatement = statement.sqliteStatement
        defer { sqlite3_reset(sqliteStatement) }
        guard try stepsToRow(), let text = sqlite3_column_text(sqliteStatement, 0) else { return nil }
        let count = Int(sqlite3_column_bytes(sqliteStatement, 0))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// Runs the query with the values bound since the last run: its first row's first column as an integer, `nil`
    /// when it yields no row or NULL.
    func firstInteger() throws -> Int64? {
        let sqliteStatement = statement.sqliteStatement
        defer { sqlite3_reset(sqliteStatement) }
        guard try stepsToRow(), sqlite3_column_type(sqliteStatement, 0) != SQLITE_NULL else { return nil }
        return sqlite3_column_int64(sqliteStatement, 0)
    }

    /// Steps the query once: whether it yielded a row (to be read before the caller resets it).
    private func stepsToRow() throws -> Bool {
        let code = sqlite3_step(statement.sqliteStatement)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }

    /// Runs the insert with the values bound since the last run.
    func run() throws {
        defer { sqlite3_reset(statement.sqliteStatement) }
        _ = try stepsToRow()  // an insert or update yields no row
    }

    /// Runs the statement with `rows` bound to its one parameter, `returnsync_rows(?)`'s argument.
    func run(binding rows: UnsafePointer<returnsync_rows>) throws {
        try bound(rows) { try run() }
    }

    /// Calls `body` — which runs the statement, through GRDB or ``run()`` — with `rows` bound to its one parameter,
    /// `returnsync_rows(?)`'s argument, and unbinds them after.
    func bound<Result>(_ rows: UnsafePointer<returnsync_rows>, _ body: () throws -> Result) throws -> Result {
        let code = returnsync_bind_rows(statement.sqliteStatement, 1, rows)
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "binding rows", sql: statement.sql)
        }
        // Unbound again before the rows go away: a pointer left bound would point at freed memory.
        defer { sqlite3_clear_bindings(statement.sqliteStatement) }
        return try body()
    }
}
