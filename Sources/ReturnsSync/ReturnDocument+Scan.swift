import Foundation
import ReturnSyncJSON

// Reading a flat import line straight from its bytes: no JSONValue tree, no dictionary of members. A line that a
// shop's system writes to import returns names a handful of keys, each a string, a number or null; this reads that
// shape and gives up — `nil` — on anything else (a nested value, an unknown or repeated key, a value of the wrong
// type, a time it cannot read, bytes after the object). The caller then reads the line through
// `init(jsonValue:)`, which accepts and refuses exactly what it always did and names the fault, so only what this
// reader accepts must agree with it: a property test holds the two to that.

extension ReturnDocument {
    /// Reads a document whose keys all hold a string, a whole number, `true`, `false` or `null` — an import line
    /// as a shop's system writes it — straight from its bytes; `nil` for anything else (read it through
    /// ``init(jsonValue:)`` then, for the document or the error).
    ///
    /// A kiosk import spent a fifth of its preparing thread, its bound, building each line's JSON tree and reading
    /// the document from it (issue 18).
    public static func scanned(_ bytes: some Collection<UInt8>) -> ReturnDocument? {
        let document = try? JSONScanner.scan(bytes) { scanner -> ReturnDocument? in
            guard let document = try scan(&scanner), scanner.isAtEnd() else { return nil }
            return document
        }
        return document ?? nil
    }

    private static func scan(_ scanner: inout JSONScanner) throws -> ReturnDocument? {
        guard scanner.consume(UInt8(ascii: "{")) else { return nil }
        var document = ReturnDocument()
        if scanner.consume(UInt8(ascii: "}")) { return document }
        // Which keys were read, one bit each: a key named twice is the tree's to refuse.
        var seen: UInt32 = 0
        repeat {
            guard let key = try scanner.string(), scanner.consume(UInt8(ascii: ":")),
                let slot = FlatKey(rawValue: key)
            else { return nil }
            let bit: UInt32 = 1 << slot.bit
            guard seen & bit == 0 else { return nil }
            seen |= bit
            switch slot {
            case .quantity:
                if let number = try scanner.integer() {
                    document.quantity = Int(number)
                } else if try !isNull(&scanner) {
                    return nil
                }
            case .needsReview, .receipt:
                let flag: Bool?
                switch scanner.peek() {
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                    switch try scanner.value(depth: 1) {
                    case .bool(let value): flag = value
                    // `init(jsonValue:)` reads these flags only when they are booleans.
                    case .null: flag = nil
                    default: return nil
                    }
                default: return nil
                }
                if slot == .needsReview { document.needsReview = flag } else { document.receipt = flag }
            case .createdAt, .updatedAt:
                guard let text = try string(&scanner) else { return nil }
                var date: Date?
                if let text {
                    guard let parsed = ISO8601Milliseconds.parse(text) else { return nil }
                    date = parsed
                }
                if slot == .createdAt { document.createdAt = date } else { document.updatedAt = date }
            default:
                guard let text = try string(&scanner) else { return nil }
                document.set(slot, text)
            }
        } while scanner.consume(UInt8(ascii: ","))
        guard scanner.consume(UInt8(ascii: "}")) else { return nil }
        return document
    }

    /// A string or `null` (`.some(nil)`); `nil` if the next value is anything else.
    private static func string(_ scanner: inout JSONScanner) throws -> String?? {
        if let text = try scanner.string() { return .some(text) }
        return try isNull(&scanner) ? .some(nil) : nil
    }

    /// Reads `null` if it comes next.
    private static func isNull(_ scanner: inout JSONScanner) throws -> Bool {
        guard scanner.peek() == UInt8(ascii: "n") else { return false }
        return try scanner.value(depth: 1) == .null
    }

    private mutating func set(_ key: FlatKey, _ text: String?) {
        switch key {
        case .id: id = text
        case .storeId: storeId = text
        case .kioskId: kioskId = text
        case .orderId: orderId = text
        case .gtin: gtin = text
        case .serial: serial = text
        case .lot: lot = text
        case .expiry: expiry = text
        case .recallCampaign: recallCampaign = text
        case .recallMatch: recallMatch = text
        case .reason: reason = text
        case .status: status = text
        case .condition: condition = text
        case .testResult: testResult = text
        case .disposition: disposition = text
        case .verification: verification = text
        case .customerRef: customerRef = text
        case .quantity, .needsReview, .receipt, .createdAt, .updatedAt: break
        }
    }
}

/// The keys of a document that hold one plain value, as ``ReturnDocument/init(jsonValue:)`` reads them.
private enum FlatKey: String, CaseIterable {
    case id, storeId, kioskId, orderId, gtin, serial, lot, expiry, recallCampaign, recallMatch, quantity, reason,
        status, condition, testResult, disposition, createdAt, updatedAt, needsReview, receipt, verification,
        customerRef

    /// The key's bit in a set of keys read.
    var bit: UInt32 {
        switch self {
        case .id: 0
        case .storeId: 1
        case .kioskId: 2
        case .orderId: 3
        case .gtin: 4
        case .serial: 5
        case .lot: 6
        case .expiry: 7
        case .recallCampaign: 8
        case .recallMatch: 9
        case .quantity: 10
        case .reason: 11
        case .status: 12
        case .condition: 13
        case .testResult: 14
        case .disposition: 15
        case .createdAt: 16
        case .updatedAt: 17
        case .needsReview: 18
        case .receipt: 19
        case .verification: 20
        case .customerRef: 21
        }
    }
}
