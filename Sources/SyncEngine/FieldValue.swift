/// A value held by a field: the JSON scalars the engine stores without interpreting them.
///
/// The engine never looks inside values except to compare them for equality and, for
/// ``ResolutionPolicy/ranked(_:)``, to find them in a preference list. Entities map their own types (enums,
/// dates, identifiers) to these.
public enum FieldValue: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// JSON `null`.
    case null
    /// JSON `true` / `false`.
    case bool(Bool)
    /// A JSON integer.
    case integer(Int64)
    /// A JSON string.
    case string(String)

    /// The string this value holds, if it is one.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The integer this value holds, if it is one.
    public var integerValue: Int64? {
        if case .integer(let number) = self { return number }
        return nil
    }

    /// The Boolean this value holds, if it is one.
    public var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    private var kindRank: Int {
        switch self {
        case .null: return 0
        case .bool: return 1
        case .integer: return 2
        case .string: return 3
        }
    }

    /// A total order (null < Booleans < integers < strings, then by payload), used only to keep stored values in a
    /// canonical order; it carries no meaning for conflict resolution.
    public static func < (lhs: FieldValue, rhs: FieldValue) -> Bool {
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): return !a && b
        case (.integer(let a), .integer(let b)): return a < b
        case (.string(let a), .string(let b)): return a < b
        default: return lhs.kindRank < rhs.kindRank
        }
    }

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let flag): return String(flag)
        case .integer(let number): return String(number)
        case .string(let text): return text
        }
    }
}

extension FieldValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Int64.self) {
            self = .integer(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "a field value is null, a Boolean, an integer or a string"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let flag): try container.encode(flag)
        case .integer(let number): try container.encode(number)
        case .string(let text): try container.encode(text)
        }
    }
}

extension FieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}

/// A value together with the dot of the write that produced it and that write's hybrid logical clock stamp.
public struct DottedValue: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The value written.
    public let value: FieldValue
    /// The write that produced it.
    public let dot: Dot
    /// When it was written, by the writing replica's hybrid logical clock.
    public let stamp: HLCTimestamp

    /// Creates a dotted value.
    public init(value: FieldValue, dot: Dot, stamp: HLCTimestamp) {
        self.value = value
        self.dot = dot
        self.stamp = stamp
    }

    /// The canonical storage order: by dot, then value (only grow-only sets hold one dot more than once).
    public static func < (lhs: DottedValue, rhs: DottedValue) -> Bool {
        if lhs.dot != rhs.dot { return lhs.dot < rhs.dot }
        if lhs.value != rhs.value { return lhs.value < rhs.value }
        return lhs.stamp < rhs.stamp
    }

    public var description: String { "\(value)@\(dot)" }
}
