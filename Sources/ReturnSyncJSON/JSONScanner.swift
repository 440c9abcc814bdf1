/// Reads JSON bytes token by token, for a decoder that builds its values straight from the bytes instead of from a
/// ``JSONValue`` tree — the tree of a large push frame costs an allocation for every array, object and member.
///
/// Every string, number and nested value read through it is checked exactly as ``JSONValue/parse(_:maximumDepth:)``
/// checks it (the same code reads them). What the scanner does not do is the structure's checks — duplicate keys,
/// nesting depth of what the caller walks itself, data after the value: a decoder using it checks those, or, as the
/// frame decoder does, falls back to the tree for anything it does not recognise.
public struct JSONScanner {
    var parser: JSONParser

    /// Runs `body` with a scanner over `bytes`.
    public static func scan<T>(
        _ bytes: some Collection<UInt8>,
        maximumDepth: Int = 64,
        _ body: (inout JSONScanner) throws -> T
    ) throws -> T {
        func run(_ buffer: UnsafeRawBufferPointer) throws -> T {
            var scanner = JSONScanner(parser: JSONParser(bytes: buffer, maximumDepth: maximumDepth))
            return try body(&scanner)
        }
        if let result = try bytes.withContiguousStorageIfAvailable({ try run(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(bytes).withUnsafeBytes(run)
    }

    /// How far the scanner has read, in bytes.
    public var offset: Int { parser.offset }

    /// Whether only white space is left.
    public mutating func isAtEnd() -> Bool {
        parser.skipWhitespace()
        return parser.current == nil
    }

    /// Skips white space and consumes `byte` if it comes next.
    public mutating func consume(_ byte: UInt8) -> Bool {
        parser.skipWhitespace()
        guard parser.current == byte else { return false }
        parser.offset += 1
        return true
    }

    /// Skips white space and returns the next byte without consuming it.
    public mutating func peek() -> UInt8? {
        parser.skipWhitespace()
        return parser.current
    }

    /// Reads a string; `nil` (nothing consumed) if the next value is not one.
    public mutating func string() throws -> String? {
        guard peek() == UInt8(ascii: "\"") else { return nil }
        return try parser.parseString()
    }

    /// Reads a whole number that fits 64 bits, as ``JSONValue/parse(_:maximumDepth:)`` reads it into
    /// ``JSONValue/integer(_:)``; `nil` if the next value is anything else (it may have been consumed then).
    public mutating func integer() throws -> Int64? {
        guard let byte = peek(), byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        else { return nil }
        guard case .integer(let number) = try parser.parseNumber() else { return nil }
        return number
    }

    /// Reads any value, as a tree, `depth` levels deep in the document.
    public mutating func value(depth: Int) throws -> JSONValue {
        parser.skipWhitespace()
        return try parser.parseValue(depth: depth)
    }
}
