/// Short return ids, as git shortens commit hashes: wherever a return id is taken, any prefix of it that no other
/// return shares will do, and lists print the shortest such prefix of at least ``minimumShownLength`` characters.
///
/// Return ids are version 7 UUIDs, whose first 48 bits are the capture time in milliseconds: the first eight
/// characters change only every 65 seconds, so returns captured in the same minute share them. A list therefore
/// prints as many characters as it takes to tell each return from its neighbours among *every* return the replica
/// holds (not only the listed ones, so a prefix copied from a filtered list still names one return), and never fewer
/// than eight.
public enum ShortReturnID {
    /// The fewest characters a list prints of an id.
    public static let minimumShownLength = 8
    /// The fewest hexadecimal digits a typed prefix must have: fewer would name a whole month of returns.
    public static let minimumTypedDigits = 4

    /// What a person typed where a return id is taken.
    public enum Reference: Hashable, Sendable {
        /// A whole id.
        case id(ReturnID)
        /// A prefix of an id's canonical (lower-case, hyphenated) text.
        case prefix(String)
    }

    /// Reads a whole id or a prefix of one: hexadecimal digits in either case, with the hyphens of the canonical
    /// form or without any (`0192F5E07A3C` and `0192f5e0-7a3c` are the same prefix).
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidIdentifier`` naming the text.
    public static func parse(_ text: String) throws -> Reference {
        if text.utf8.count == 36, let id = try? ReturnID(text) { return .id(id) }
        func invalid() -> ReturnsModelError {
            IdentifierRules.invalid(
                "return id",
                text,
                "a return id or a prefix of one with at least \(minimumTypedDigits) hexadecimal digits "
                    + "(such as 0192f5e0 or 0192f5e0-7a3c)"
            )
        }
        let hyphens: Set<Int> = [8, 13, 18, 23]
        var canonical: [UInt8] = []
        var digits = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"):
                if hyphens.contains(canonical.count) { canonical.append(UInt8(ascii: "-")) }
                canonical.append(byte)
                digits += 1
            case UInt8(ascii: "A")...UInt8(ascii: "F"):
                if hyphens.contains(canonical.count) { canonical.append(UInt8(ascii: "-")) }
                canonical.append(byte + 32)
                digits += 1
            case UInt8(ascii: "-"):
                // A hyphen is accepted only where the canonical form has one.
                guard hyphens.contains(canonical.count) else { throw invalid() }
                canonical.append(byte)
            default:
                throw invalid()
            }
            guard digits <= 32 else { throw invalid() }
        }
        guard digits >= minimumTypedDigits else { throw invalid() }
        let prefix = String(decoding: canonical, as: UTF8.self)
        if digits == 32, let id = try? ReturnID(prefix) { return .id(id) }
        return .prefix(prefix)
    }

    /// The ids a prefix covers are those `>= prefix` and `< upperBound(of: prefix)` in byte order: every character
    /// of an id sorts below `g`.
    public static func upperBound(of prefix: String) -> String { prefix + "g" }

    /// The shortest prefix of `id` that neither neighbour shares — the ids just below and just above it in sorted
    /// order among every return the replica holds — and at least ``minimumShownLength`` characters; never one
    /// that ends with a hyphen.
    public static func abbreviation(of id: String, below: String?, above: String?) -> String {
        func sharedLength(_ other: String?) -> Int {
            guard let other else { return 0 }
            return zip(id.utf8, other.utf8).prefix { $0 == $1 }.count
        }
        let utf8 = Array(id.utf8)
        var length = max(minimumShownLength, max(sharedLength(below), sharedLength(above)) + 1)
        if length < utf8.count, utf8[length - 1] == UInt8(ascii: "-") { length += 1 }
        return length >= utf8.count ? id : String(decoding: utf8[..<length], as: UTF8.self)
    }

    /// The one id among `candidates` — the ids the replica holds under a typed prefix, in order — or `nil` when
    /// there is none.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidIdentifier`` when several match, naming the text
    ///   typed and the first few of them.
    public static func resolve(_ text: String, among candidates: [ReturnID]) throws -> ReturnID? {
        guard candidates.count > 1 else { return candidates.first }
        let shown = candidates.prefix(3).map(\.rawValue).joined(separator: ", ")
        throw ReturnsModelError(
            code: .invalidIdentifier,
            message:
                "return id '\(text)' is ambiguous: the ids of \(candidates.count > 3 ? "several" : "\(candidates.count)") "
                + "returns start with it (\(shown)\(candidates.count > 3 ? ", …" : "")); type more of it"
        )
    }
}
