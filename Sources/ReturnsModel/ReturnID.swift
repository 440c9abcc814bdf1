import Foundation

/// A return's identifier: a UUID version 7, generated offline by each kiosk without coordination.
///
/// The first 48 bits of a version 7 UUID are the Unix time in milliseconds, so ids sort by creation time and index
/// well; the remaining 74 bits are random, so two kiosks never collide. Any well-formed UUID is accepted when
/// parsing, so records from other systems can be imported; ids are kept in lowercase.
public struct ReturnID: Hashable, Comparable, Sendable, ValidatedString {
    /// The lowercase canonical text, `xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`.
    public let rawValue: String

    /// Parses a UUID.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidIdentifier`` naming the value.
    public init(_ text: String) throws {
        guard text.utf8.count == 36, let uuid = UUID(uuidString: text) else {
            throw IdentifierRules.invalid("return id", text, "a UUID such as 0192f5e0-7a3c-7def-8123-456789abcdef")
        }
        rawValue = uuid.uuidString.lowercased()
    }

    private init(uuid: UUID) {
        rawValue = uuid.uuidString.lowercased()
    }

    /// Makes a new version 7 id for a return created at `date`.
    public static func make(at date: Date = Date()) -> ReturnID {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, using: &generator)
    }

    /// Makes a new version 7 id for a return created at `date`, drawing its random bits from `generator`.
    public static func make(at date: Date, using generator: inout some RandomNumberGenerator) -> ReturnID {
        let millis = UInt64(max(0, date.millisecondsSince1970))
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 {
            bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index)))
        }
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        for index in 6..<16 {
            let word = index < 11 ? random.0 : random.1
            bytes[index] = UInt8(truncatingIfNeeded: word >> (8 * (index % 8)))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        let uuid = UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
        return ReturnID(uuid: uuid)
    }

    /// The creation time encoded in a version 7 id, or `nil` for other UUID versions.
    public var timestamp: Date? {
        let hex = rawValue.replacingOccurrences(of: "-", with: "")
        guard hex.count == 32, hex[hex.index(hex.startIndex, offsetBy: 12)] == "7",
            let millis = UInt64(hex.prefix(12), radix: 16)
        else { return nil }
        return Date(millisecondsSince1970: Int64(millis))
    }

    public static func < (lhs: ReturnID, rhs: ReturnID) -> Bool { lhs.rawValue < rhs.rawValue }
}
