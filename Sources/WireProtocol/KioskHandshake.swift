import Crypto
import Foundation

/// The kiosk's side of the version-3 handshake (Protocol/SPEC.md §4), free of sockets: what a kiosk checks in the
/// server's `challenge` and what it answers. `SyncClient` uses it; so can any other kiosk, a load generator or a
/// test that speaks the protocol by hand.
public struct KioskHandshake: Sendable {
    /// The kiosk's replica id, `STORE/KIOSK`.
    public let replicaID: String
    /// This connection's kiosk nonce: 32 fresh random bytes, base64.
    public let kioskNonce: String

    /// Starts a handshake with a fresh nonce.
    public init(replicaID: String) {
        self.replicaID = replicaID
        var generator = SystemRandomNumberGenerator()
        kioskNonce = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
            .base64EncodedString()
    }

    /// Starts a handshake with a given nonce (32 random bytes, base64): for tests that replay a conversation.
    public init(replicaID: String, kioskNonce: String) {
        self.replicaID = replicaID
        self.kioskNonce = kioskNonce
    }

    /// The `hello` that opens it, offering `versions` (every one this kiosk speaks, unless it acts as an older one).
    public func hello(
        storeID: String,
        kioskID: String,
        versions: [Int] = supportedProtocolVersions,
        capabilities: [String]? = nil
    ) -> SyncMessage {
        .hello(
            versions: versions,
            replicaID: replicaID,
            storeID: storeID,
            kioskID: kioskID,
            nonce: kioskNonce,
            capabilities: capabilities
        )
    }

    /// Whether a challenge proves that the server holds the key whose fingerprint is `pinned`: its key's SHA-256 is
    /// the pinned fingerprint, and its signature of this connection's nonces verifies.
    public func serverProves(
        _ challenge: (nonce: String, serverID: String, serverKey: String?, serverSignature: String?),
        pinned: String
    ) -> Bool {
        guard let keyText = challenge.serverKey, let keyBytes = Data(base64Encoded: keyText),
            EnrollmentToken.fingerprint(of: keyBytes) == pinned,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes),
            let signatureText = challenge.serverSignature, let signature = Data(base64Encoded: signatureText)
        else { return false }
        let payload = serverProofPayload(
            kioskNonce: kioskNonce,
            serverNonce: challenge.nonce,
            serverID: challenge.serverID,
            replicaID: replicaID
        )
        return key.isValidSignature(signature, for: payload)
    }

    /// The `authenticate` answering a challenge of `serverID` with `serverNonce`: signed with the kiosk's key (raw
    /// Ed25519 private key), and when `enrolling`, with the kiosk's public key and the token's proof.
    public func authenticate(
        kioskKey: Data,
        serverNonce: String,
        serverID: String,
        enrolling token: EnrollmentToken?
    ) throws -> SyncMessage {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: kioskKey)
        let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        let signature = try key.signature(
            for: authenticationPayload(
                serverNonce: serverNonce,
                kioskNonce: kioskNonce,
                replicaID: replicaID,
                serverID: serverID
            )
        )
        let proof = try token.map { token in
            try token.proofKey.signature(
                for: enrollmentPayload(
                    serverNonce: serverNonce,
                    kioskNonce: kioskNonce,
                    replicaID: replicaID,
                    serverID: serverID,
                    publicKey: publicKey
                )
            )
        }
        return .authenticate(
            signature: signature.base64EncodedString(),
            publicKey: token == nil ? nil : publicKey,
            tokenProof: proof?.base64EncodedString()
        )
    }
}
