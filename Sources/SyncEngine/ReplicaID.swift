/// The identity of one replica: a kiosk, or the central server.
///
/// Replica identifiers appear in vector clocks and dots, on the wire and in databases, so they are restricted to
/// 1…128 characters from `A-Z a-z 0-9 . _ : / -`. They order by their text, which makes them usable as the final
/// tie-break when two concurrent values must be ordered deterministically.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The longest identifier accepted.
    public static let maximumLength = 128

    /// The identifier's text.
    public let rawValue: String

    /// Creates a replica identifier, validating its text.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/invalidReplicaID`` naming the bad value.
    public init(_ rawValue: String) throws {
        guard Self.isValid(rawValue) else {
            throw SyncEngineError(
                code: .invalidReplicaID,
                message:
                    "invalid replica id '\(rawValue)': expected 1...\(Self.maximumLength) characters from A-Z a-z 0-9 . _ : / -"
            )
        }
        self.rawValue = rawValue
    }

    /// Whether `text` is a well-formed replica identifier.
    public static func isValid(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { rawValue }
}

extension ReplicaID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
