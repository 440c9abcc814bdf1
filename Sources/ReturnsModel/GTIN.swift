/// A GS1 Global Trade Item Number, validated and normalised to 14 digits.
///
/// GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN) and GTIN-14 are accepted; the shorter forms are left-padded with zeros,
/// which is how GS1 defines their 14-digit equivalents, so one product has one key whatever was scanned.
///
/// ```swift
/// let gtin = try GTIN("4006381333931")   // EAN-13
/// gtin.digits                             // "04006381333931"
/// ```
public struct GTIN: Hashable, Comparable, Sendable, ValidatedString {
    /// The lengths GS1 defines.
    public static let acceptedLengths: Set<Int> = [8, 12, 13, 14]

    /// The 14-digit form.
    public let digits: String

    /// The 14-digit form, as it is stored and encoded.
    public var rawValue: String { digits }

    /// Parses and validates a GTIN.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidGTIN`` naming the value: wrong length, a non-digit,
    ///   all zeros, or a wrong check digit (with the expected one).
    public init(_ text: String) throws {
        func invalid(_ why: String) -> ReturnsModelError {
            ReturnsModelError(code: .invalidGTIN, message: "invalid GTIN '\(text)': \(why)")
        }
        // One pass over the text's bytes into digits kept in place: this runs for every return a server is pushed
        // and a kiosk pulls or imports, and copying the bytes into one array and their values into another were two
        // of the five allocations of reading a return from its record (issue 18).
        var values = InlineArray<14, UInt8>(repeating: 0)
        var count = 0
        var allZeros = true
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                throw invalid("only digits are allowed")
            }
            if count < 14 { values[count] = byte - UInt8(ascii: "0") }
            count += 1
            allZeros = allZeros && byte == UInt8(ascii: "0")
        }
        guard Self.acceptedLengths.contains(count) else {
            throw invalid("expected 8, 12, 13 or 14 digits, got \(count)")
        }
        guard !allZeros else {
            throw invalid("a GTIN cannot be all zeros")
        }
        let expected = Self.checkDigit(of: (0..<count - 1).lazy.map { Int(values[$0]) })
        let last = Int(values[count - 1])
        guard last == expected else {
            throw invalid("check digit is \(last), expected \(expected)")
        }
        self.digits = count == 14 ? text : String(repeating: "0", count: 14 - count) + text
    }

    /// Parses a GTIN as records hold it: exactly its 14-digit form (SPEC §6), so every replica matches orders, recalls
    /// and returns on one key whatever was scanned. A scan is normalised with ``init(_:)`` before it is written.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidGTIN`` naming the value, and its 14-digit form when it
    ///   is a valid shorter GTIN.
    public init(stored text: String, field: String = "gtin") throws {
        try self.init(text)
        guard digits == text else {
            throw ReturnsModelError(
                code: .invalidGTIN,
                message: "invalid \(field) '\(text)': records hold the 14-digit form, '\(digits)'"
            )
        }
    }

    /// The GS1 mod-10 check digit of `payload` (every digit but the check digit).
    ///
    /// From the right, digits are weighted 3, 1, 3, 1…; the check digit brings the sum up to a multiple of 10.
    public static func checkDigit(of payload: some BidirectionalCollection<Int>) -> Int {
        var sum = 0
        for (position, digit) in payload.reversed().enumerated() {
            sum += digit * (position.isMultiple(of: 2) ? 3 : 1)
        }
        return (10 - sum % 10) % 10
    }

    public static func < (lhs: GTIN, rhs: GTIN) -> Bool { lhs.digits < rhs.digits }
}
