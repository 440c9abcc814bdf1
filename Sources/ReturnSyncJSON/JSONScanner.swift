/// Reads JSON bytes token by token, for a decoder that builds its values straight from the bytes instead of from a
/// ``JSONValue`` tree — the tree of a large push frame costs an allocation for every array, object and member.
///
/// Every string, number and nested value read through it is checked exactly as ``JSONValue/parse(_:maximumDepth:)``
/// checks it (the same code reads them). What the scanner does not do is the structure's checks — duplicate keys,
/// nesting depth of what the caller walks itself, data after the value: a decoder using it checks those, or, as the
/// frame decoder does, falls back to the tree for anything it does not recognise.
public struct JSONScanner {
    @usableFromInline var parser: JSONParser

    /// Whether everything read since this was last set to `true` was written the one way a compact writer writes
    /// it (``JSONValue/serialized()``, ``JSONValue/writeString(_:into:)``): no white space, strings without
    /// escapes, no `-0`. What the caller reads in such bytes can be kept as those bytes, without writing it again
    /// (issue 18: re-encoding each pushed record for storage was a twentieth of the server's time); the caller
    /// checks the order of keys and elements, which the scanner does not see.
    public var isCompact = true

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
    @inlinable public var offset: Int { parser.offset }

    /// Whether only white space is left.
    public mutating func isAtEnd() -> Bool {
        skipWhitespace()
        return parser.current == nil
    }

    // The three below are inlined into the decoders of other modules: called for every token, they were each a
    // call across modules, together a tenth of decoding a push frame (issue 18).

    /// Skips white space and consumes `byte` if it comes next.
    @inlinable public mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard parser.current == byte else { return false }
        parser.offset += 1
        return true
    }

    /// Skips white space and returns the next byte without consuming it.
    @inlinable public mutating func peek() -> UInt8? {
        skipWhitespace()
        return parser.current
    }

    @inlinable mutating func skipWhitespace() {
        // Compact JSON, what replicas write, has none: the first byte says so.
        guard let byte = parser.current, byte <= 0x20 else { return }
        let start = parser.offset
        parser.skipWhitespace()
        if parser.offset != start { isCompact = false }
    }

    /// Reads a string; `nil` (nothing consumed) if the next value is not one.
    public mutating func string() throws -> String? {
        guard peek() == UInt8(ascii: "\"") else { return nil }
        let start = parser.offset
        let text = try parser.parseString()
        // Any escape makes the text shorter than its bytes between the quotes (`\n` is one byte, `\u00e9` two);
        // without one they are the text's own bytes (the parser validates them: no repair can keep the length).
        if text.utf8.count != parser.offset - start - 2 { isCompact = false }
        return text
    }

    /// The bytes read since offset `start`, as text (they were validated as they were read).
    public func text(from start: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: parser.bytes[start..<parser.offset]), as: UTF8.self)
    }

    /// Reads a whole number that fits 64 bits, as ``JSONValue/parse(_:maximumDepth:)`` reads it into
    /// ``JSONValue/integer(_:)``; `nil` if the next value is anything else (it may have been consumed then).
    public mutating func integer() throws -> Int64? {
        guard let byte = peek(), byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        else { return nil }
        guard case .integer(let number) = try parser.parseNumber() else { return nil }
        // JSON spells every other whole number one way (no leading zeros, no `+`); a fraction or an exponent is
        // not read as an integer here.
        if number == 0, byte == UInt8(ascii: "-") { isCompact = false }
        return number
    }

    /// Reads any value, as a tree, `depth` levels deep in the document. Whether it was compact is not worked out:
    /// ``isCompact`` turns `false` unless it is `null`, `true` or `false`.
    public mutating func value(depth: Int) throws -> JSONValue {
        skipWhitespace()
        let value = try parser.parseValue(depth: depth)
        switch value {
        case .null, .bool: break
        default: isCompact = false
        }
        return value
    }
}
