import CSQLiteRows
import GRDB
import GRDBSQLite
import PropertyBased
import ReturnSyncTestSupport
import Testing

@testable import ReplicaStore

/// `returnsync_rows(?)` (target CSQLiteRows): rows held in memory, written by one statement without a bound value.
@Suite struct SQLiteRowsTests {
    /// A connection with the function and a table of the projection's width: the row number, then 37 columns.
    static func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            #expect(returnsync_rows_register(db.sqliteConnection) == SQLITE_OK)
            let columns = ReturnProjection.names.indices.map { "v\($0)" }.joined(separator: ", ")
            try db.execute(sql: "CREATE TABLE t (n INTEGER PRIMARY KEY, \(columns))")
        }
        return queue
    }

    static let insert = """
        INSERT INTO t SELECT \((0...ReturnProjection.names.count).map { "c\($0)" }.joined(separator: ", "))
        FROM returnsync_rows(?)
        """

    /// A value as SQLite holds it: its type and its text, so that '' and NULL, 0 and '0' differ.
    static func stored(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "null"
        case .int64(let number): "integer \(number)"
        case .string(let text): "text \(text)"
        default: "other \(value)"
        }
    }

    static func expected(_ value: ReturnProjection.Value) -> String {
        switch value {
        case .text(let text?): "text \(text)"
        case .integer(let number?): "integer \(number)"
        case .flag(let flag): "integer \(flag ? 1 : 0)"
        case .text(nil), .integer(nil): "null"
        }
    }

    /// The value a generated number stands for: NULL of either kind, any integer, a flag, or a text — empty, ASCII,
    /// or with characters of two, three and four UTF-8 bytes (each counted in bytes, not characters).
    static func value(_ seed: Int) -> ReturnProjection.Value {
        let texts = ["", "ORD-1", "Zürich", "東京 ✓", "🧾 receipt", "a\u{301}"]
        switch abs(seed % 5) {
        case 0: return .text(nil)
        case 1: return .integer(nil)
        case 2: return .integer(Int64(seed))
        case 3: return .flag(seed & 8 == 0)
        default: return .text(texts[abs(seed / 5 % texts.count)] + String(repeating: "x", count: abs(seed / 30 % 40)))
        }
    }

    /// Expects `t` to hold exactly `projections`, row by row, each value as it was held.
    static func expectStored(_ projections: [WriteContext.NewRecords.Projection], in queue: DatabaseQueue) throws {
        let stored = try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM t ORDER BY n") }
        #expect(stored.count == projections.count)
        for (row, projection) in zip(stored, projections) {
            let got = Array(row.databaseValues).map(Self.stored)
            let want = ["integer \(projection.row)"] + projection.values.map(Self.expected)
            #expect(got == want)
        }
    }

    @Test func everyRowIsStoredAsItWasHeld() async throws {
        let rows = Gen.int(in: Int.min...Int.max).array(of: 37...37).array(of: 0...40)
        await propertyCheck(count: 100, input: rows) { seeds in
            do {
                let queue = try Self.database()
                let projections = seeds.enumerated().map { index, row in
                    WriteContext.NewRecords.Projection(row: Int64(index + 1), values: row.map(Self.value))
                }
                try queue.write { db in
                    let statement = try db.makeStatement(sql: Self.insert)
                    try ProjectionRows(projections[...]).withRows { rows in
                        try RawInsert(running: statement, in: db).run(binding: rows)
                    }
                }
                try Self.expectStored(projections, in: queue)
            } catch {
                Issue.record(error)
            }
        }
    }

    /// Rows laid out where they were made (``PackedProjectionRow``, a push's and a pulled page's, held without their
    /// values) are stored exactly as the same rows laid out by the writer: all laid out, handed to SQLite as they are
    /// (`withPackedRows`); a chunk with any row not laid out (an import's merge beside its new returns), refused there
    /// with nothing written, and laid out by `withRows`, which copies the laid-out rows among them.
    @Test func packedRowsAreStoredAsTheyWereHeld() async throws {
        let rows = Gen.int(in: Int.min...Int.max).array(of: 37...37).array(of: 0...40)
        await propertyCheck(count: 100, input: rows, Gen.bool) { seeds, leaveOneUnpacked in
            do {
                let queue = try Self.database()
                let expected = seeds.enumerated().map { index, row in
                    WriteContext.NewRecords.Projection(row: Int64(index + 1), values: row.map(Self.value))
                }
                // Held as the writer holds them: a laid-out row without its values.
                let held = expected.enumerated().map { index, row in
                    leaveOneUnpacked && index == seeds.count / 2
                        ? row
                        : WriteContext.NewRecords.Projection(
                            row: row.row,
                            values: [],
                            packed: PackedProjectionRow(row.values)
                        )
                }
                let packed = try queue.write { db in
                    let statement = try db.makeStatement(sql: Self.insert)
                    return try ProjectionRows(held[...]).withPackedRows { rows in
                        try RawInsert(running: statement, in: db).run(binding: rows)
                    }
                }
                #expect(packed == (!leaveOneUnpacked || seeds.isEmpty))
                // Nothing at all written when a row was not laid out: the caller writes the chunk the other way.
                try Self.expectStored(packed ? expected : [], in: queue)
                if !packed {
                    try queue.write { db in
                        let statement = try db.makeStatement(sql: Self.insert)
                        try ProjectionRows(held[...]).withRows { rows in
                            try RawInsert(running: statement, in: db).run(binding: rows)
                        }
                    }
                    try Self.expectStored(expected, in: queue)
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    /// Unbound, the argument is NULL: no rows, not a crash. Bound as some other pointer type, the same.
    @Test func withoutRowsBoundNothingIsWritten() throws {
        let queue = try Self.database()
        try queue.write { db in
            let statement = try db.makeStatement(sql: Self.insert)
            #expect(sqlite3_step(statement.sqliteStatement) == SQLITE_DONE)
            sqlite3_reset(statement.sqliteStatement)
            // SQLite keeps the type name's pointer and compares it when the function reads its argument: a static
            // string, as it asks.
            let type: StaticString = "another_type"
            var other = 0
            let codes = withUnsafeMutablePointer(to: &other) { pointer in
                let bound = sqlite3_bind_pointer(
                    statement.sqliteStatement,
                    1,
                    pointer,
                    UnsafeRawPointer(type.utf8Start).assumingMemoryBound(to: CChar.self),
                    nil
                )
                let stepped = sqlite3_step(statement.sqliteStatement)
                sqlite3_reset(statement.sqliteStatement)
                sqlite3_clear_bindings(statement.sqliteStatement)
                return [bound, stepped]
            }
            #expect(codes == [SQLITE_OK, SQLITE_DONE])
        }
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 0)
    }

    /// More columns than the function declares is a caller's mistake: an error naming the count, nothing written.
    @Test func moreColumnsThanDeclaredIsRefusedByName() throws {
        let queue = try Self.database()
        try queue.write { db in
            let statement = try db.makeStatement(sql: Self.insert)
            let values = [returnsync_value](
                repeating: returnsync_value(integer: 1, text: nil, length: 0, type: returnsync_value_integer),
                count: 65
            )
            let refusal = values.withUnsafeBufferPointer { buffer in
                var rows = returnsync_rows(
                    values: buffer.baseAddress,
                    columns: 65,
                    count: 1,
                    row_values: nil,
                    numbers: nil
                )
                return withUnsafePointer(to: &rows) { pointer in
                    #expect(throws: DatabaseError.self) {
                        try RawInsert(running: statement, in: db).run(binding: pointer)
                    }
                }
            }
            #expect(refusal?.message?.contains("65 columns, at most 64") == true, "\(String(describing: refusal))")
        }
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 0)
    }
}
