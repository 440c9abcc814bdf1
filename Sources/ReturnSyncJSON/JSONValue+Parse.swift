extension JSONValue {
    /// Parses one JSON value (RFC 8259) from UTF-8 bytes; surrounding white space is allowed, anything else after
    /// the value is not.
    ///
    /// The parser is strict, since its input may be hostile: invalid UTF-8, control characters in strings, lone
    /// surrogate escapes, duplicate object keys and nesting deeper than `maximumDepth` are all refused.
    ///
    /// - Throws: ``JSONError`` naming the offset of the first bad byte.
    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = 64) throws -> JSONValue {
        if let value = try bytes.withContiguousStorageIfAvailable({ buffer in
            try parse(buffer: UnsafeRawBufferPointer(buffer), maximumDepth: maximumDepth)
        }) {
            return value
        }
        return try Array(bytes).withUnsafeBytes { try parse(buffer: $0, maximumDepth: maximumDepth) }
    }

    /// Parses one JSON value from a string.
    public static func parse(_ text: String, maximumDepth: Int = 64) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(buffer: UnsafeRawBufferPointer($0), maximumDepth: maximumDepth) }
    }

    private static func parse(buffer: UnsafeRawBufferPointer, maximumDepth: Int) throws -> JSONValue {
        var parser = JSONParser(bytes: buffer, maximumDepth: maximumDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == buffer.count else {
            throw JSONError(message: "unexpected data after the value", offset: parser.offset)
        }
        return value
    }
}

@usableFromInline
struct JSONParser {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    let maximumDepth: Int
    @usableFromInline var offset = 0

    init(bytes: UnsafeRawBufferPointer, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    private func fail(_ message: String) -> JSONError {
        JSONError(message: message, offset: offset)
    }

    @inlinable var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    @inlinable mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard let byte = current else { throw fail("unexpected end of input, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character '\(Self.printable(byte))', expected a value")
        }
    }

    private static func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\u{\(String(byte, radix: 16))}"
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw fail("invalid literal") }
        for index in 0..<count where bytes[offset + index] != literal.utf8Start[index] {
            throw fail("invalid literal, expected \(literal)")
        }
        offset += count
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= maximumDepth else { throw fail("nesting deeper than \(maximumDepth) levels") }
        offset += 1  // {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = offset
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
            offset += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard members.updateValue(value, forKey: key) == nil else {
                throw JSONError(message: "duplicate key '\(key)'", offset: keyOffset)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                return .object(members)
            default: throw fail("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= maximumDepth else { throw fail("nesting deeper than \(maximumDepth) levels") }
        offset += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"):
                offset += 1
                return .array(elements)
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    mutating func parseString() throws -> String {
        offset += 1  // opening quote
        let start = offset
        // Fast path: no escapes. Scan to the closing quote, then validate the UTF-8 in one go.
        var sawNonASCII = false
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<offset])
                offset += 1
                if !sawNonASCII { return String(decoding: slice, as: UTF8.self) }
                guard let text = String(validating: slice, as: UTF8.self) else {
                    throw JSONError(message: "invalid UTF-8 in a string", offset: start)
                }
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("control character in a string") }
            if byte >= 0x80 { sawNonASCII = true }
            offset += 1
        }
        guard offset < bytes.count else { throw JSONError(message: "unterminated string", offset: start - 1) }
        // Slow path: escapes. Collect bytes, decoding escapes, then validate.
        var collected = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<offset]))
        while offset < bytes.count {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                guard let text = String(validating: collected, as: UTF8.self) else {
                    throw JSONError(message: "invalid UTF-8 in a string", offset: start)
                }
                return text
            case UInt8(ascii: "\\"):
                offset += 1
                guard let escape = current else { break }
                offset += 1
                switch escape {
                case UInt8(ascii: "\""): collected.append(0x22)
                case UInt8(ascii: "\\"): collected.append(0x5C)
                case UInt8(ascii: "/"): collected.append(0x2F)
                case UInt8(ascii: "b"): collected.append(0x08)
                case UInt8(ascii: "f"): collected.append(0x0C)
                case UInt8(ascii: "n"): collected.append(0x0A)
                case UInt8(ascii: "r"): collected.append(0x0D)
                case UInt8(ascii: "t"): collected.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard current == UInt8(ascii: "\\"), offset + 1 < bytes.count,
                            bytes[offset + 1] == UInt8(ascii: "u")
                        else { throw fail("lone high surrogate in a \\u escape") }
                        offset += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("lone low surrogate in a \\u escape")
                    }
                    collected.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    offset -= 1
                    throw fail("invalid escape '\\\(Self.printable(escape))'")
                }
            default:
                if byte < 0x20 { throw fail("control character in a string") }
                collected.append(byte)
                offset += 1
            }
        }
        throw JSONError(message: "unterminated string", offset: start - 1)
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = offset
        if current == UInt8(ascii: "-") { offset += 1 }
        guard let first = current, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            throw fail("expected a digit")
        }
        // A whole number's magnitude is worked out as its digits go by: most numbers on the wire are counters,
        // times and indexes, and making a `String` of each to read it back with `Int64(String)` cost a second pass
        // and a text a number (issue 18). Nineteen digits cannot overflow 64 bits; a longer run, or anything past
        // 64 bits, is read from its text below as before.
        var magnitude: UInt64 = 0
        if first == UInt8(ascii: "0") {
            offset += 1
        } else {
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                magnitude = magnitude &* 10 &+ UInt64(byte &- UInt8(ascii: "0"))
                offset += 1
            }
        }
        let digits = offset - start - (bytes[start] == UInt8(ascii: "-") ? 1 : 0)
        if digits <= 19, current != UInt8(ascii: "."), current != UInt8(ascii: "e"), current != UInt8(ascii: "E") {
            if bytes[start] != UInt8(ascii: "-") {
                if magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
            } else if magnitude <= UInt64(Int64.max) + 1 {
                return .integer(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
            }
        }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            isInteger = false
            offset += 1
            let digits = offset
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { offset += 1 }
            guard offset > digits else { throw fail("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            let digits = offset
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { offset += 1 }
            guard offset > digits else { throw fail("expected a digit in the exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .integer(integer) }
        guard let double = Double(text), double.isFinite else {
            throw JSONError(message: "number \(text) is out of range", offset: start)
        }
        return .double(double)
    }
}
