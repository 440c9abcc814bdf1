import CSQLiteRows

/// Rows laid out for the table-valued function `returnsync_rows(?)` (target `CSQLiteRows`), each a number (column
/// `c0`) then its values (`c1`…): the projection rows held by a server's push (``WriteContext/NewRecords``), their
/// values in the order of ``ReturnProjection/names``, the keys re-verification searches for, or the ids a push reads
/// ahead. (A key or an id is a row with an array of one or two values: an allocation each, left so for now.)
struct ProjectionRows {
    private let projections: ArraySlice<WriteContext.NewRecords.Projection>
    /// Values a row (all rows have as many).
    private let width: Int

    init(_ projections: ArraySlice<WriteContext.NewRecords.Projection>, width: Int = ReturnProjection.names.count) {
        self.projections = projections
        self.width = width
    }

    /// Calls `body` with the rows in C's layout: the values and every text's bytes, copied into two buffers that
    /// live until `body` returns (SQLite reads the text in place while the statement runs). A row laid out already
    /// (``PackedProjectionRow``) has its values copied, its texts read where it holds them.
    func withRows<Result>(_ body: (UnsafePointer<returnsync_rows>) throws -> Result) rethrows -> Result {
        let columns = width + 1
        var textBytes = 0
        for projection in projections where projection.packed == nil {
            for case .text(let text?) in projection.values { textBytes += text.utf8.count }
        }
        // Never empty, so that an empty text points somewhere: SQLite reads a NULL pointer as NULL, not ''.
        let text = UnsafeMutablePointer<CChar>.allocate(capacity: max(textBytes, 1))
        defer { text.deallocate() }
        let values = UnsafeMutablePointer<returnsync_value>.allocate(capacity: projections.count * columns)
        defer { values.deallocate() }
        var offset = 0
        var index = 0
        func append(_ value: returnsync_value) {
            (values + index).initialize(to: value)
            index += 1
        }
        for projection in projections {
            append(returnsync_value(integer: projection.row, text: nil, length: 0, type: returnsync_value_integer))
            if let packed = projection.packed {
                precondition(packed.width == width, "a laid-out projection row of \(packed.width) values")
                let laidOut = packed.values
                for column in 0..<packed.width { append(laidOut[column]) }
            } else {
                for value in projection.values { append(value.rowValue(copyingTextTo: text, at: &offset)) }
            }
        }
        precondition(index == projections.count * columns, "a projection row of \(index) values")
        var rows = returnsync_rows(
            values: values,
            columns: Int32(columns),
            count: Int32(projections.count),
            row_values: nil,
            numbers: nil
        )
        // Laid-out rows' texts stay alive with `projections` while `body` runs.
        return try withExtendedLifetime(projections) { try withUnsafePointer(to: &rows) { try body($0) } }
    }

    /// Calls `body` with rows that were each laid out where they were made (``PackedProjectionRow``) and returns
    /// `true`, or returns `false` at once unless every row was: the writer then hands SQLite a pointer and a number
    /// a row, and touches none of their values.
    func withPackedRows(_ body: (UnsafePointer<returnsync_rows>) throws -> Void) rethrows -> Bool {
        // An import's rows are never laid out ahead (``PackedProjectionRow``): nothing allocated to find that out.
        guard projections.first?.packed != nil else { return projections.isEmpty }
        let count = projections.count
        let pointers = UnsafeMutablePointer<UnsafePointer<returnsync_value>?>.allocate(capacity: count)
        defer { pointers.deallocate() }
        let numbers = UnsafeMutablePointer<Int64>.allocate(capacity: count)
        defer { numbers.deallocate() }
        var index = 0
        for projection in projections {
            guard let packed = projection.packed, packed.width == width else { return false }
            (pointers + index).initialize(to: UnsafePointer(packed.values))
            (numbers + index).initialize(to: projection.row)
            index += 1
        }
        var rows = returnsync_rows(
            values: nil,
            columns: Int32(width + 1),
            count: Int32(count),
            row_values: UnsafePointer(pointers),
            numbers: UnsafePointer(numbers)
        )
        // The rows stay alive with `projections` (and their buffers with them) while `body` runs.
        try withExtendedLifetime(projections) { try withUnsafePointer(to: &rows) { try body($0) } }
        return true
    }
}

/// A projection row's values laid out as `returnsync_rows(?)` reads them (target `CSQLiteRows`), with its texts'
/// bytes: made where the row is made — off a server's writer, on the threads preparing a push — so that the writer,
/// the one thread a SQLite server cannot multiply, hands SQLite the row without reading its values (copying each
/// value and text on the writer was about 4 % of a sync's writer, issue 18, thirty-sixth part).
///
/// One allocation: an object holding the values and, after them, every text's bytes (a `ManagedBuffer`; an object
/// and a buffer of its own were two allocations a return, and two frees; issue 18, thirty-seventh part). Immutable
/// once made, and freed with its last reference: `@unchecked Sendable` on those grounds.
struct PackedProjectionRow: @unchecked Sendable {
    /// The values, then the texts' bytes in whole elements' room; the header is the number of values.
    private final class Storage: ManagedBuffer<Int, returnsync_value> {
        // The values are plain C structs and the texts bytes: nothing to deinitialise before the memory goes.
    }

    private let storage: Storage

    /// How many values (the row's number, which the writer assigns, is not among them).
    var width: Int { storage.header }

    /// The values; their texts point into the same memory after them, valid while this row (or a copy) lives.
    var values: UnsafePointer<returnsync_value> {
        // Elements stay where they are for the object's life.
        UnsafePointer(storage.withUnsafeMutablePointerToElements { $0 })
    }

    /// Lays out `row`.
    init(_ row: [ReturnProjection.Value]) {
        var textBytes = 0
        for case .text(let text?) in row { textBytes += text.utf8.count }
        let stride = MemoryLayout<returnsync_value>.stride
        // At least one byte, so that an empty text points somewhere: SQLite reads a NULL pointer as NULL, not ''.
        let textElements = (max(textBytes, 1) + stride - 1) / stride
        storage = unsafeDowncast(
            Storage.create(minimumCapacity: row.count + textElements) { _ in row.count },
            to: Storage.self
        )
        storage.withUnsafeMutablePointerToElements { values in
            let text = UnsafeMutableRawPointer(values + row.count).bindMemory(
                to: CChar.self,
                capacity: textElements * stride
            )
            var offset = 0
            for (index, value) in row.enumerated() {
                (values + index).initialize(to: value.rowValue(copyingTextTo: text, at: &offset))
            }
        }
    }
}

extension ReturnProjection.Value {
    /// The value as `returnsync_rows(?)` reads it; a text's bytes are copied to `text + offset`, and `offset` moves
    /// past them (the caller sized `text` for every text of its rows).
    fileprivate func rowValue(copyingTextTo text: UnsafeMutablePointer<CChar>, at offset: inout Int) -> returnsync_value
    {
        switch self {
        case .text(var string?):
            let start = text + offset
            let count = string.withUTF8 { bytes in
                if let base = bytes.baseAddress {
                    UnsafeMutableRawPointer(start).copyMemory(from: base, byteCount: bytes.count)
                }
                return bytes.count
            }
            offset += count
            return returnsync_value(integer: 0, text: start, length: Int32(count), type: returnsync_value_text)
        case .integer(let number?):
            return returnsync_value(integer: number, text: nil, length: 0, type: returnsync_value_integer)
        case .flag(let flag):
            return returnsync_value(integer: flag ? 1 : 0, text: nil, length: 0, type: returnsync_value_integer)
        case .text(nil), .integer(nil):
            return returnsync_value(integer: 0, text: nil, length: 0, type: returnsync_value_null)
        }
    }
}
