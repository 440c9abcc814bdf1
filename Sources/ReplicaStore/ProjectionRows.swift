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
    /// live until `body` returns (SQLite reads the text in place while the statement runs).
    func withRows<Result>(_ body: (UnsafePointer<returnsync_rows>) throws -> Result) rethrows -> Result {
        let columns = width + 1
        var textBytes = 0
        for projection in projections {
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
            for value in projection.values {
                switch value {
                case .text(let string?):
                    var string = string
                    let start = text + offset
                    let count = string.withUTF8 { bytes in
                        if let base = bytes.baseAddress {
                            UnsafeMutableRawPointer(start).copyMemory(from: base, byteCount: bytes.count)
                        }
                        return bytes.count
                    }
                    offset += count
                    append(returnsync_value(integer: 0, text: start, length: Int32(count), type: returnsync_value_text))
                case .integer(let number?):
                    append(returnsync_value(integer: number, text: nil, length: 0, type: returnsync_value_integer))
                case .flag(let flag):
                    append(
                        returnsync_value(integer: flag ? 1 : 0, text: nil, length: 0, type: returnsync_value_integer)
                    )
                case .text(nil), .integer(nil):
                    append(returnsync_value(integer: 0, text: nil, length: 0, type: returnsync_value_null))
                }
            }
        }
        precondition(index == projections.count * columns, "a projection row of \(index) values")
        var rows = returnsync_rows(values: values, columns: Int32(columns), count: Int32(projections.count))
        return try withUnsafePointer(to: &rows) { try body($0) }
    }
}
