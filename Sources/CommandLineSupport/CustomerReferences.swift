import Crypto
import Foundation
import ReturnsModel

/// How a customer's reference typed at a kiosk or at HQ is stored: as given, or — when the deployment sets
/// `RETURNSYNC_CUSTOMER_KEY` — as its HMAC-SHA256 under that key, so the databases hold no customer ids yet a
/// customer's returns still match across stores (docs/people.md says how to choose).
public enum CustomerReferences {
    /// The environment variable holding the per-deployment key.
    public static let keyVariable = "RETURNSYNC_CUSTOMER_KEY"

    /// `text` as stored: validated as given, or hashed (`h:` and 32 hexadecimal digits, 128 bits of the MAC) when
    /// `key` is set. Whitespace around the text is dropped and letters are folded to lower case before hashing, so
    /// `Ab12 ` and `ab12` are one customer.
    ///
    /// - Throws: ``ReturnsModelError`` naming text that is not a reference.
    public static func stored(
        _ text: String,
        key: String? = ProcessInfo.processInfo.environment[keyVariable]
    ) throws -> CustomerReference {
        let given = try CustomerReference(text.trimmingCharacters(in: .whitespaces))
        guard let key, !key.isEmpty else { return given }
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data(given.rawValue.lowercased().utf8),
            using: SymmetricKey(data: Data(key.utf8))
        )
        return try CustomerReference("h:" + mac.prefix(16).map { String(format: "%02x", $0) }.joined())
    }
}
