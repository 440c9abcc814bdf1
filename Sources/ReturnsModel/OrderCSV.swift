import Foundation

/// The orders file HQ imports: CSV (RFC 4180) with a header naming these columns, in any order.
///
/// ```text
/// order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
/// ORD-1001,store-1,1,4006381333931,,2,19.99,2026-11-20T10:15:00Z
/// ORD-1001,store-1,2,96385074,SN-77,1,249.00,2026-11-20T10:15:00Z
/// ```
///
/// `serial` may be empty; `unit_price` is a decimal with at most two decimals (or as many as the line's currency
/// has); `sold_at` is ISO 8601 with a zone (`Z` or an offset) or a day `YYYY-MM-DD` (midnight UTC). An optional
/// `currency` column (ISO 4217) states each line's currency; without it, lines take the import's default currency,
/// if any.
public enum OrderCSV {
    /// The columns, as the header names them.
    public static let columns = ["order_id", "store_id", "line", "gtin", "serial", "quantity", "unit_price", "sold_at"]
    /// Columns a file may have besides.
    public static let optionalColumns = ["currency"]

    /// A file that cannot be imported: every bad row, by line number.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// `(line number, problem)`, in file order.
        public var problems: [(line: Int, message: String)]

        public static func == (lhs: ParseError, rhs: ParseError) -> Bool { lhs.description == rhs.description }
        public func hash(into hasher: inout Hasher) { hasher.combine(description) }

        public var description: String {
            let shown = problems.prefix(20).map { "line \($0.line): \($0.message)" }
            let more = problems.count > 20 ? ["… and \(problems.count - 20) more bad rows"] : []
            return "orders file refused, nothing imported:\n" + (shown + more).joined(separator: "\n")
        }
    }

    /// Parses a whole file; all or nothing.
    ///
    /// - Throws: ``ParseError`` listing every bad row (and a bad header) by line number.
    ///
    /// - Parameters:
    ///   - defaultCurrency: the currency of lines whose row names none.
    ///   - timeZones: the stores' time zones: a `sold_at` that is a bare day is that day's start at the store.
    public static func parse(
        _ text: String,
        defaultCurrency: Currency? = nil,
        timeZones: StoreTimeZones = StoreTimeZones()
    ) throws -> [OrderLine] {
        var problems: [(line: Int, message: String)] = []
        var rows = try records(text)
        guard !rows.isEmpty else {
            throw ParseError(problems: [(1, "empty file: expected the header \(columns.joined(separator: ","))")])
        }
        let header = rows.removeFirst()
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var position: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            guard columns.contains(name) || optionalColumns.contains(name) else {
                problems.append(
                    (
                        header.line,
                        "unknown column '\(name)': expected \(columns.joined(separator: ",")) and optionally "
                            + optionalColumns.joined(separator: ",")
                    )
                )
                continue
            }
            if position[name] != nil { problems.append((header.line, "column '\(name)' appears twice")) }
            position[name] = index
        }
        let missing = columns.filter { position[$0] == nil }
        if !missing.isEmpty {
            problems.append((header.line, "missing column(s) \(missing.joined(separator: ", "))"))
        }
        guard problems.isEmpty else { throw ParseError(problems: problems) }

        var lines: [OrderLine] = []
        var seen: [String: Int] = [:]
        for row in rows {
            guard row.fields.count == names.count else {
                problems.append((row.line, "expected \(names.count) fields, found \(row.fields.count)"))
                continue
            }
            func field(_ name: String) -> String {
                row.fields[position[name]!].trimmingCharacters(in: .whitespaces)
            }
            do {
                let stated = position["currency"].map { _ in field("currency") } ?? ""
                let currency = try stated.isEmpty ? defaultCurrency : Currency(stated)
                let storeID = try StoreID(field("store_id"))
                let line = try OrderLine(
                    orderID: OrderID(field("order_id")),
                    storeID: storeID,
                    line: integer(field("line"), "line"),
                    gtin: GTIN(field("gtin")),
                    serial: field("serial").isEmpty ? nil : ItemCode(field("serial"), kind: "serial"),
                    quantity: integer(field("quantity"), "quantity"),
                    unitPriceCents: currency.map { try price(field("unit_price"), in: $0) }
                        ?? cents(field("unit_price")),
                    soldAt: soldAt(field("sold_at"), in: timeZones[storeID]),
                    currency: currency
                )
                if let first = seen[line.recordID] {
                    problems.append(
                        (row.line, "order \(line.orderID) line \(line.line) already given on line \(first)")
                    )
                    continue
                }
                seen[line.recordID] = row.line
                lines.append(line)
            } catch let error as ReturnsModelError {
                problems.append((row.line, error.message))
            }
        }
        guard problems.isEmpty else { throw ParseError(problems: problems) }
        return lines
    }

    private static func integer(_ text: String, _ name: String) throws -> Int {
        guard let value = Int(text) else {
            throw ReturnsModelError(code: .invalidValue, message: "invalid \(name) '\(text)': expected a whole number")
        }
        return value
    }

    /// `19.99`, `20`, `0.5` → cents; more than two decimals, signs and exponents are refused.
    static func cents(_ text: String) throws -> Int64 {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let isDigits = { (part: Substring) in !part.isEmpty && part.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard (1...2).contains(parts.count), isDigits(parts[0]), parts[0].count <= 12,
            parts.count == 1 || (isDigits(parts[1]) && parts[1].count <= 2), let units = Int64(parts[0])
        else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid unit price '\(text)': expected a decimal such as 19.99"
            )
        }
        let fraction = parts.count == 2 ? Int64(parts[1].padding(toLength: 2, withPad: "0", startingAt: 0))! : 0
        return units * 100 + fraction
    }

    /// A unit price in `currency`'s minor units, named as a unit price when it is not one.
    static func price(_ text: String, in currency: Currency) throws -> Int64 {
        do {
            return try currency.minorUnits(of: text)
        } catch let error as ReturnsModelError {
            throw ReturnsModelError(
                code: .invalidValue,
                message: error.message.replacingOccurrences(of: "invalid amount", with: "invalid unit price")
            )
        }
    }

    static func soldAt(_ text: String, in zone: StoreTimeZone) throws -> Date {
        if let day = ReturnDates.dayNumber(text), text.count == 10 {
            return Date(millisecondsSince1970: zone.start(ofDay: day))
        }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        throw ReturnsModelError(
            code: .invalidValue,
            message: "invalid sold_at '\(text)': expected ISO 8601 such as 2026-11-20T10:15:00Z, or 2026-11-20"
        )
    }

    /// Splits RFC 4180 text into records with the line each starts on; blank lines are skipped.
    private static func records(_ text: String) throws -> [(line: Int, fields: [String])] {
        var result: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var quotedField = false
        var lineNumber = 1
        var recordStart = 1
        var characters = text.makeIterator()
        var pending: Character? = nil
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !quotedField) { result.append((recordStart, fields)) }
            fields = []
            field = ""
            quotedField = false
        }
        while let character = pending ?? characters.next() {
            pending = nil
            if inQuotes {
                if character == "\"" {
                    if let next = characters.next() {
                        if next == "\"" {
                            field.append("\"")
                        } else {
                            inQuotes = false
                            pending = next
                        }
                    } else {
                        inQuotes = false
                    }
                } else {
                    if character.isNewline { lineNumber += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty:
                inQuotes = true
                quotedField = true
            case ",":
                fields.append(field)
                field = ""
            case "\n", "\r\n", "\r":
                endRecord()
                lineNumber += 1
                recordStart = lineNumber
            default:
                field.append(character)
            }
        }
        if inQuotes {
            throw ParseError(problems: [(recordStart, "a quoted field is not closed")])
        }
        if !field.isEmpty || !fields.isEmpty || quotedField { endRecord() }
        return result
    }
}
