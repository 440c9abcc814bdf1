import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
        // Nearly every id read is already canonical (stored, or pushed by a kiosk): kept as it is, without
        // Foundation's parse and a new lower-cased copy — a measurable part of a push (issue 18).
        if Self.isCanonical(text) {
            rawValue = text
            return
        }
        guard text.utf8.count == 36, let uuid = UUID(uuidString: text) else {
            throw IdentifierRules.invalid("return id", text, "a UUID such as 0192f5e0-7a3c-7def-8123-456789abcdef")
        }
        rawValue = uuid.uuidString.lowercased()
    }

    /// Whether `text` is a UUID's canonical form: 36 characters, lower-case hexadecimal digits in groups of 8, 4,
    /// 4, 4 and 12 separated by hyphens — what `UUID(uuidString:)` reads and `uuidString.lowercased()` spells.
    static func isCanonical(_ text: String) -> Bool {
        // A string without contiguous UTF-8 (none on Linux) takes the parse instead.
        text.utf8.count == 36 && text.utf8.withContiguousStorageIfAvailable(Self.isCanonical) == true
    }

    private static func isCanonical(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                guard
                    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                        || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                else { return false }
            }
        }
        return true
    }

    private init(canonical text: String) {
        rawValue = text
    }

    /// Makes a new version 7 id for a return created at `date`.
    public static func make(at date: Date = Date()) -> ReturnID {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, using: &generator)
    }

    /// Makes a new version 7 id for a return created at `date`, drawing its random bits from `generator`.
    public static func make(at date: Date, using generator: inout some RandomNumberGenerator) -> ReturnID {
        make(
            milliseconds: UInt64(max(0, date.millisecondsSince1970)),
            sequence: 0,
            randomSequence: true,
            using: &generator
        )
    }

    /// Makes a new version 7 id whose 30 bits after the timestamp hold `sequence` (RFC 9562, method 1).
    ///
    /// A replica passes the physical and logical parts of a hybrid logical clock stamp, which never repeat: its ids
    /// then strictly increase, which keeps B-tree inserts appending, while the remaining 44 random bits keep ids
    /// from different replicas apart.
    public static func make(milliseconds: UInt64, sequence: UInt32) -> ReturnID {
        var generator = SystemRandomNumberGenerator()
        return make(milliseconds: milliseconds, sequence: sequence, using: &generator)
    }

    /// Makes a new version 7 id as ``make(milliseconds:sequence:)`` does, drawing its random bits from `generator`
    /// (one that draws the system's random bytes for many ids at once: ``BatchedSystemRandomNumberGenerator``).
    public static func make(
        milliseconds: UInt64,
        sequence: UInt32,
        using generator: inout some RandomNumberGenerator
    ) -> ReturnID {
        make(milliseconds: milliseconds, sequence: sequence, randomSequence: false, using: &generator)
    }

    private static func make(
        milliseconds: UInt64,
        sequence: UInt32,
        randomSequence: Bool,
        using generator: inout some RandomNumberGenerator
    ) -> ReturnID {
        let millis = milliseconds & 0xFFFF_FFFF_FFFF
        let random = generator.next() as UInt64
        let counter = randomSequence ? UInt64(truncatingIfNeeded: generator.next() as UInt64) : UInt64(sequence)
        // Layout: 48-bit ms | 4-bit version | 12 bits of counter | 2-bit variant | 18 bits of counter | 44 random.
        let high = millis << 16 | 0x7000 | (counter >> 18 & 0xFFF)
        let low = 0x8000_0000_0000_0000 | (counter & 0x3FFFF) << 44 | random & 0xFFF_FFFF_FFFF
        // Formatted by hand, straight into the string's storage: UUID.uuidString goes through printf, which showed up
        // in import profiles, and building the text in arrays first cost three allocations an id.
        let text = String(unsafeUninitializedCapacity: 36) { buffer in
            var position = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = nibble < 16 ? high : low
                let digit = UInt8(truncatingIfNeeded: word >> (4 * (15 - nibble % 16)) & 0xF)
                buffer[position] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                position += 1
            }
            return position
        }
        return ReturnID(canonical: text)
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

/// The system's cryptographically secure random bytes, drawn 256 at a time (`getentropy`, the most one call gives)
/// and each used once: for making many ids in a row. ``SystemRandomNumberGenerator`` makes a system call for every
/// value, and a kiosk import's preparing thread — the import's bound — spent about a twelfth of its time in those
/// calls, one an id (issue 18).
public struct BatchedSystemRandomNumberGenerator: RandomNumberGenerator, Sendable {
    private var values = [UInt64](repeating: 0, count: 32)
    private var index = 32

    /// Creates a generator; it draws its first bytes when first asked.
    public init() {}

    public mutating func next() -> UInt64 {
        if index == values.count { refill() }
        defer { index += 1 }
        return values[index]
    }

    private mutating func refill() {
        #if canImport(Glibc)
        let drawn = values.withUnsafeMutableBytes { getentropy($0.baseAddress!, $0.count) == 0 }
        #else
        let drawn = false
        #endif
        if !drawn {
            var system = SystemRandomNumberGenerator()
            for position in values.indices { values[position] = system.next() }
        }
        index = 0
    }
}
