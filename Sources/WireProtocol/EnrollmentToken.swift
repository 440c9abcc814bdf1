import Crypto
import Foundation

/// A one-time enrollment token, as `returns-server enroll` prints it: `SECRET.FINGERPRINT`.
///
/// - `SECRET` is 24 random bytes as 48 lower-case hex digits. It never crosses the wire: it derives an Ed25519 key
///   (the seed is the SHA-256 of `returnsync-token-v3\n` and the secret), and the enrolling kiosk signs with that
///   key. The server keeps only the derived public key, so a copy of its database enrolls nobody.
/// - `FINGERPRINT` is the SHA-256 of the server's Ed25519 public key, 64 lower-case hex digits: the kiosk pins it
///   at `init` and refuses any server that cannot prove it holds that key.
///
/// Hex, not base64: a base64url token starts with `-` one time in 64, and `--token -…` then parses as an option
/// rather than a value; hex and `.` are safe in every shell and argument parser.
public struct EnrollmentToken: Hashable, Sendable, CustomStringConvertible {
    /// The secret part, 48 hex digits.
    public let secret: String
    /// The SHA-256 of the server's public key, 64 hex digits.
    public let serverKeyFingerprint: String

    /// Makes a new token for the server whose public key has `serverKeyFingerprint`.
    public static func make(serverKeyFingerprint: String) -> EnrollmentToken {
        var generator = SystemRandomNumberGenerator()
        let secret = lowercaseHex((0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return EnrollmentToken(secret: secret, serverKeyFingerprint: serverKeyFingerprint)
    }

    private init(secret: String, serverKeyFingerprint: String) {
        self.secret = secret
        self.serverKeyFingerprint = serverKeyFingerprint
    }

    /// Parses a token as `returns-server enroll` printed it.
    ///
    /// - Throws: ``EnrollmentTokenError`` saying what is wrong with it (without repeating the secret).
    public init(_ text: String) throws {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw EnrollmentTokenError(
                message: parts.count == 1 && Self.isHex(parts[0], count: 48)
                    ? "this enrollment token comes from a returns-server older than protocol version 3 (it carries "
                        + "no server fingerprint): issue a new one with 'returns-server enroll'"
                    : "invalid enrollment token: expected SECRET.FINGERPRINT (48 and 64 hex digits) as "
                        + "'returns-server enroll' prints it"
            )
        }
        guard Self.isHex(parts[0], count: 48) else {
            throw EnrollmentTokenError(message: "invalid enrollment token: its secret must be 48 hex digits")
        }
        guard Self.isHex(parts[1], count: 64) else {
            throw EnrollmentTokenError(
                message: "invalid enrollment token: its server fingerprint '\(parts[1])' must be 64 hex digits"
            )
        }
        self.init(secret: parts[0].lowercased(), serverKeyFingerprint: parts[1].lowercased())
    }

    /// `SECRET.FINGERPRINT`.
    public var description: String { "\(secret).\(serverKeyFingerprint)" }

    /// The SHA-256 of the secret, hex: how the server tells tokens apart.
    public var hash: String { Self.sha256Hex(Data(secret.utf8)) }

    /// The key the secret derives: the enrolling kiosk signs ``enrollmentPayload(serverNonce:kioskNonce:replicaID:serverID:publicKey:)``
    /// with it, and the server verifies with its public half.
    public var proofKey: Curve25519.Signing.PrivateKey {
        let seed = SHA256.hash(data: Data("returnsync-token-v3\n\(secret)".utf8))
        // A SHA-256 digest is 32 bytes, exactly an Ed25519 seed: this cannot fail.
        return (try? Curve25519.Signing.PrivateKey(rawRepresentation: Data(seed)))
            ?? Curve25519.Signing.PrivateKey()
    }

    /// The fingerprint of an Ed25519 public key (raw, 32 bytes): its SHA-256, 64 lower-case hex digits.
    public static func fingerprint(of publicKey: Data) -> String {
        sha256Hex(publicKey)
    }

    private static func sha256Hex(_ data: Data) -> String {
        lowercaseHex(SHA256.hash(data: data))
    }

    private static func isHex(_ text: Substring, count: Int) -> Bool {
        text.utf8.count == count && text.allSatisfy(\.isHexDigit)
    }
}

/// An enrollment token that cannot be used.
public struct EnrollmentTokenError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Bytes as lower-case hex, two digits each: how fingerprints, token hashes and attachment digests are written.
public func lowercaseHex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
}
