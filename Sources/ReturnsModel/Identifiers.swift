/// Validation shared by the identifier types.
enum IdentifierRules {
    /// Letters, digits and `. _ -`: safe in file names, URLs, replica ids and shell scripts.
    static func isCode(_ text: String, maximumLength: Int) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// Printable ASCII without spaces: order numbers, serials and lots as printed on receipts and labels.
    static func isPrintableToken(_ text: String, maximumLength: Int) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    static func invalid(_ kind: String, _ text: String, _ allowed: String) -> ReturnsModelError {
        ReturnsModelError(code: .invalidIdentifier, message: "invalid \(kind) '\(text)': expected \(allowed)")
    }
}

/// Generates the `Codable` conformance of a string-backed identifier whose initialiser validates.
protocol ValidatedString: Codable, CustomStringConvertible {
    init(_ text: String) throws
    var rawValue: String { get }
}

extension ValidatedString {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do {
            try self.init(container.decode(String.self))
        } catch let error as ReturnsModelError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
}

/// A store's identifier: 1…64 letters, digits, `.`, `_` or `-`.
public struct StoreID: Hashable, Comparable, Sendable, ValidatedString {
    /// The identifier's text.
    public let rawValue: String

    /// Validates a store id.
    public init(_ text: String) throws {
        guard IdentifierRules.isCode(text, maximumLength: 64) else {
            throw IdentifierRules.invalid("store id", text, "1-64 letters, digits, '.', '_' or '-'")
        }
        rawValue = text
    }

    public static func < (lhs: StoreID, rhs: StoreID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A kiosk's identifier within its store: 1…64 letters, digits, `.`, `_` or `-`.
public struct KioskID: Hashable, Comparable, Sendable, ValidatedString {
    /// The identifier's text.
    public let rawValue: String

    /// Validates a kiosk id.
    public init(_ text: String) throws {
        guard IdentifierRules.isCode(text, maximumLength: 64) else {
            throw IdentifierRules.invalid("kiosk id", text, "1-64 letters, digits, '.', '_' or '-'")
        }
        rawValue = text
    }

    public static func < (lhs: KioskID, rhs: KioskID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A customer's reference on a return — a loyalty or customer id as given, or its keyed hash when the deployment
/// keeps no customer ids (`RETURNSYNC_CUSTOMER_KEY`, docs/people.md): 1…64 printable ASCII characters, no spaces.
public struct CustomerReference: Hashable, Comparable, Sendable, ValidatedString {
    /// The identifier's text, as stored.
    public let rawValue: String

    /// Validates a customer reference.
    public init(_ text: String) throws {
        guard IdentifierRules.isPrintableToken(text, maximumLength: 64) else {
            throw IdentifierRules.invalid("customer reference", text, "1-64 printable ASCII characters without spaces")
        }
        rawValue = text
    }

    public static func < (lhs: CustomerReference, rhs: CustomerReference) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The person who made an edit at a kiosk or at HQ — a staff or employee number, a login: 1…64 letters, digits and
/// `. _ - @`. Recorded with each edit they make (`--operator`, `KIOSK_OPERATOR`), shown in the history.
public struct OperatorID: Hashable, Comparable, Sendable, ValidatedString {
    /// The identifier's text.
    public let rawValue: String

    /// Validates an operator id.
    public init(_ text: String) throws {
        let withoutAt = text.replacingOccurrences(of: "@", with: "_")
        guard IdentifierRules.isCode(withoutAt, maximumLength: 64) else {
            throw IdentifierRules.invalid("operator id", text, "1-64 letters, digits, '.', '_', '-' or '@'")
        }
        rawValue = text
    }

    public static func < (lhs: OperatorID, rhs: OperatorID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The sales order a return refers to, as printed on the receipt: 1…64 printable ASCII characters, no spaces.
public struct OrderID: Hashable, Comparable, Sendable, ValidatedString {
    /// The identifier's text.
    public let rawValue: String

    /// Validates an order id.
    public init(_ text: String) throws {
        guard IdentifierRules.isPrintableToken(text, maximumLength: 64) else {
            throw IdentifierRules.invalid("order id", text, "1-64 printable ASCII characters without spaces")
        }
        rawValue = text
    }

    public static func < (lhs: OrderID, rhs: OrderID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A serial number or lot (batch) code: 1…64 printable ASCII characters, no spaces.
///
/// GS1 allows up to 20 characters for both (application identifiers 21 and 10); the looser limit accepts vendor
/// labels that are not GS1.
public struct ItemCode: Hashable, Comparable, Sendable, ValidatedString {
    /// The code's text.
    public let rawValue: String

    /// Validates a serial number or lot code; `kind` names it in the error.
    public init(_ text: String, kind: String) throws {
        guard IdentifierRules.isPrintableToken(text, maximumLength: 64) else {
            throw IdentifierRules.invalid(kind, text, "1-64 printable ASCII characters without spaces")
        }
        rawValue = text
    }

    /// Validates a serial number or lot code.
    public init(_ text: String) throws {
        try self.init(text, kind: "serial or lot")
    }

    public static func < (lhs: ItemCode, rhs: ItemCode) -> Bool { lhs.rawValue < rhs.rawValue }
}
