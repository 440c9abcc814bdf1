import Foundation

/// What a kiosk reads from a product's GS1 barcode: GTIN (AI 01), lot (10), serial (21) and expiry (17).
///
/// Both forms of a GS1 element string are accepted:
/// - human-readable, with AIs in parentheses: `(01)04006381333931(17)271231(10)L42(21)SN7`;
/// - raw, as a scanner sends it: AIs and values back to back, variable-length values ended by the group
///   separator GS (ASCII 29, what FNC1 transmits) or the end of the data, optionally behind a symbology identifier
///   (`]C1` GS1-128, `]e0` DataBar, `]d2` DataMatrix, `]Q3` QR). Where typing GS is awkward, `<GS>` stands for it.
///
/// ```swift
/// let scan = try GS1Scan.parse("(01)04006381333931(10)L42(17)271231")
/// scan.gtin.digits   // "04006381333931"
/// scan.expiry        // "2027-12-31"
/// ```
public struct GS1Scan: Hashable, Sendable {
    /// The product (AI 01), check digit verified.
    public var gtin: GTIN
    /// The batch or lot (AI 10).
    public var lot: ItemCode?
    /// The serial number (AI 21).
    public var serial: ItemCode?
    /// The expiry date (AI 17) as `YYYY-MM-DD`; a day of `00` means the last day of the month.
    public var expiry: String?

    /// The group separator, which FNC1 transmits between variable-length fields.
    public static let groupSeparator: Character = "\u{1D}"

    /// Parses a GS1 element string.
    ///
    /// - Parameter today: anchors the century of two-digit years (GS1 General Specifications §7.12).
    /// - Throws: ``ReturnsModelError`` naming what is wrong: no GTIN, a bad check digit, an unknown AI in raw
    ///   data, a malformed date, a value too long.
    public static func parse(_ text: String, today: Date = Date()) throws -> GS1Scan {
        func invalid(_ why: String) -> ReturnsModelError {
            ReturnsModelError(code: .invalidValue, message: "invalid GS1 scan '\(printable(text))': \(why)")
        }
        let elements = try text.hasPrefix("(") ? bracketed(text, invalid) : raw(text, invalid)
        var values: [String: String] = [:]
        for (ai, value) in elements {
            guard values[ai] == nil else { throw invalid("AI (\(ai)) appears twice") }
            values[ai] = value
        }
        guard let gtinText = values["01"] else { throw invalid("no GTIN: the scan must contain AI (01)") }
        let gtin: GTIN
        do {
            gtin = try GTIN(gtinText)
        } catch let error as ReturnsModelError {
            throw invalid(error.message)
        }
        func code(_ ai: String, _ kind: String) throws -> ItemCode? {
            guard let value = values[ai] else { return nil }
            guard value.count <= 20 else {
                throw invalid("\(kind) (\(ai)) '\(value)' is longer than GS1's 20 characters")
            }
            return try ItemCode(value, kind: kind)
        }
        return GS1Scan(
            gtin: gtin,
            lot: try code("10", "lot"),
            serial: try code("21", "serial"),
            expiry: try values["17"].map { try date($0, today: today, invalid) }
        )
    }

    /// Data lengths of the AIs with a predefined length, by the AI's first two digits (GS1 General
    /// Specifications, figure 5.10.1-2), not counting the AI itself.
    private static let predefinedLengths: [String: Int] = [
        "00": 18, "01": 14, "02": 14, "03": 14, "04": 16, "11": 6, "12": 6, "13": 6, "14": 6, "15": 6, "16": 6,
        "17": 6, "18": 6, "19": 6, "20": 2, "31": 8, "32": 8, "33": 8, "34": 8, "35": 8, "36": 8, "41": 14,
    ]

    /// Variable-length AIs understood in raw data, by their digits; their values end at GS or the end.
    private static let variableAIs: Set<String> = [
        "10", "21", "22", "30", "37", "90", "91", "92", "93", "94", "95", "96", "97", "98", "99", "240", "241",
        "250", "251", "400", "401", "403", "420",
    ]

    private static func bracketed(
        _ text: String,
        _ invalid: (String) -> ReturnsModelError
    ) throws -> [(String, String)] {
        var elements: [(String, String)] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            guard rest.first == "(", let close = rest.firstIndex(of: ")") else {
                throw invalid("expected '(' and an AI at '\(printable(String(rest)))'")
            }
            let ai = String(rest[rest.index(after: rest.startIndex)..<close])
            guard (2...4).contains(ai.count), ai.allSatisfy(\.isASCIIDigit) else {
                throw invalid("'\(ai)' is not an AI (2 to 4 digits)")
            }
            let valueEnd = rest[close...].firstIndex(of: "(") ?? rest.endIndex
            let value = String(rest[rest.index(after: close)..<valueEnd])
            guard !value.isEmpty else { throw invalid("AI (\(ai)) has no value") }
            if let length = predefinedLengths[String(ai.prefix(2))],
                ai.count == 2 || ai.hasPrefix("3") || ai.hasPrefix("41"),
                value.count != length - (ai.count - 2)
            {
                throw invalid("AI (\(ai)) takes \(length - (ai.count - 2)) characters, got '\(value)'")
            }
            elements.append((ai, value))
            rest = rest[valueEnd...]
        }
        return elements
    }

    private static func raw(_ text: String, _ invalid: (String) -> ReturnsModelError) throws -> [(String, String)] {
        var data = text.replacingOccurrences(of: "<GS>", with: String(groupSeparator))
        for identifier in ["]C1", "]e0", "]d2", "]Q3", "]J1"] where data.hasPrefix(identifier) {
            data.removeFirst(identifier.count)
        }
        var rest = Substring(data)
        while rest.first == groupSeparator { rest.removeFirst() }  // a leading FNC1
        var elements: [(String, String)] = []
        while !rest.isEmpty {
            let two = String(rest.prefix(2))
            guard two.count == 2, two.allSatisfy(\.isASCIIDigit) else {
                throw invalid("expected an AI at '\(printable(String(rest.prefix(12))))'")
            }
            if let length = predefinedLengths[two] {
                // 31..36 and 41 have 4- and 3-digit AIs; the rest of the predefined ones are 2 digits.
                let aiLength = two.hasPrefix("3") ? 4 : two == "41" ? 3 : 2
                let ai = String(rest.prefix(aiLength))
                let total = aiLength + length - (aiLength - 2)
                guard rest.count >= total else { throw invalid("AI (\(ai)) is cut short") }
                let value = String(rest.dropFirst(aiLength).prefix(total - aiLength))
                guard !value.contains(groupSeparator) else { throw invalid("AI (\(ai)) is cut short by a separator") }
                elements.append((ai, value))
                rest = rest.dropFirst(total)
            } else if let ai = [String(rest.prefix(2)), String(rest.prefix(3))].first(where: variableAIs.contains) {
                let body = rest.dropFirst(ai.count)
                let end = body.firstIndex(of: groupSeparator) ?? body.endIndex
                elements.append((ai, String(body[..<end])))
                rest = body[end...]
            } else {
                throw invalid("unsupported AI starting '\(two)' in raw data; use the bracketed form '(AI)value'")
            }
            while rest.first == groupSeparator { rest.removeFirst() }
        }
        return elements
    }

    /// A GS1 `YYMMDD` date as `YYYY-MM-DD`; day `00` is the month's last day.
    private static func date(_ value: String, today: Date, _ invalid: (String) -> ReturnsModelError) throws -> String {
        guard value.count == 6, value.allSatisfy(\.isASCIIDigit), let yy = Int(value.prefix(2)),
            let month = Int(value.dropFirst(2).prefix(2)), let dayValue = Int(value.suffix(2)), (1...12).contains(month)
        else { throw invalid("expiry (17) '\(value)' is not a YYMMDD date") }
        // GS1 §7.12: a two-digit year lies within 49 years back and 50 years ahead of the current year.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let thisYear = calendar.component(.year, from: today)
        let difference = yy - thisYear % 100
        let century = thisYear - thisYear % 100 + (difference >= 51 ? -100 : difference <= -50 ? 100 : 0)
        let year = century + yy
        let isLeap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthLength = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        let day = dayValue == 0 ? monthLength : dayValue
        guard day <= monthLength else { throw invalid("expiry (17) '\(value)' is not a real date") }
        func pad(_ number: Int) -> String { number < 10 ? "0\(number)" : "\(number)" }
        return "\(year)-\(pad(month))-\(pad(day))"
    }

    private static func printable(_ text: String) -> String {
        text.replacingOccurrences(of: String(groupSeparator), with: "<GS>")
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Calendar days as the returns model stores them.
public enum ReturnDates {
    /// The instants a stored time may hold, in milliseconds since 1970-01-01T00:00:00Z: from then up to the last
    /// millisecond of the year 9999, so every time prints as a four-digit-year ISO 8601 date and converts to and
    /// from `Date` without loss or overflow.
    public static let millisecondsRange: ClosedRange<Int64> = 0...253_402_300_799_999

    /// The date `milliseconds` after the Unix epoch, when within ``millisecondsRange``.
    ///
    /// `field` is worked out only for the error: callers name the record in it, and building that text for every
    /// return read was two of the five allocations of reading a return from its record (issue 18).
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming `field` and the value.
    public static func validatedInstant(_ milliseconds: Int64, field: @autoclosure () -> String) throws -> Date {
        guard millisecondsRange.contains(milliseconds) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid \(field()) \(milliseconds): expected milliseconds since 1970 up to the year 9999 "
                    + "(0...\(millisecondsRange.upperBound))"
            )
        }
        return Date(millisecondsSince1970: milliseconds)
    }

    /// Checks that `text` is a real day written `YYYY-MM-DD`.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the text.
    public static func validatedDay(_ text: String) throws -> String {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month)
        else {
            throw ReturnsModelError(code: .invalidValue, message: "invalid date '\(text)': expected YYYY-MM-DD")
        }
        let isLeap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthLength = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...monthLength).contains(day) else {
            throw ReturnsModelError(code: .invalidValue, message: "invalid date '\(text)': no such day")
        }
        return text
    }

    /// Days since 1970-01-01 of a valid `YYYY-MM-DD` day (days-from-civil), or `nil` for anything else.
    public static func dayNumber(_ text: String) -> Int? {
        guard (try? validatedDay(text)) != nil else { return nil }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        let (year, month, day) = (parts[0], parts[1], parts[2])
        let shifted = month <= 2 ? year - 1 : year
        let era = (shifted >= 0 ? shifted : shifted - 399) / 400
        let yearOfEra = shifted - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
