import Crypto
import Foundation
import ReturnsModel
import SyncEngine
import WireProtocol

/// The server's side of one sync conversation (Protocol/SPEC.md §3–§5.4), as a state machine without sockets or
/// storage.
///
/// A driver feeds it the messages it reads and the answers of its storage, and does what it is told: send a
/// message, look a kiosk up, redeem an enrollment, push, pull, watch, note a sync, close. Every protocol rule of the
/// conversation — message order, version negotiation, ids, signatures, request limits, when a sync begins and
/// ends — is decided here, so it is tested message by message without TCP (`ServerSessionTests`), the way NIO's
/// HTTP state machines are. A rule broken throws the ``ProtocolError`` to answer.
///
/// ```swift
/// var session = ServerSession(configuration)
/// let challenge = try session.receive(hello)            // [.send(.challenge(…))]
/// let lookUp = try session.receive(authenticate)       // [.lookUpKiosk("store-1/a")]
/// let admit = try session.kioskFound(publicKey: key, revoked: false)  // [.admit("store-1/a")]
/// let welcome = try session.admitted(true)             // [.send(.welcome(…))]
/// ```
public struct ServerSession: Sendable {
    /// What the server brings to every conversation.
    public struct Configuration: Sendable {
        /// The server's replica id.
        public var serverID: String
        /// The seed of the server's identity key (raw Ed25519 private key), which signs its proof in every
        /// challenge.
        public var identitySeed: Data { identity.seed }
        /// The key made from ``identitySeed`` once, not at every hello: making it is a scalar multiplication, about
        /// as much work as the signature itself.
        let identity: SigningIdentity
        /// The protocol versions the server speaks.
        public var versions: [Int]
        /// The optional features it grants a kiosk that asks (``SyncCapability``).
        public var capabilities: [String] = SyncCapability.supported

        /// Creates a configuration.
        ///
        /// - Throws: when `identitySeed` is not an Ed25519 private key.
        public init(serverID: String, identitySeed: Data, versions: [Int] = supportedProtocolVersions) throws {
            self.identity = try SigningIdentity(seed: identitySeed)
            self.serverID = serverID
            self.versions = versions
        }
    }

    /// The kiosk a conversation is with, once its hello checked out.
    public struct Kiosk: Hashable, Sendable {
        public var replicaID: ReplicaID
        public var storeID: StoreID
        public var kioskID: KioskID
    }

    /// An enrollment to redeem: the kiosk's store and id, its new key, and how to check a token's proof.
    public struct Enrollment: Sendable {
        public var kiosk: Kiosk
        /// The kiosk's new Ed25519 public key, raw; its signature of this connection already verified.
        public var publicKey: Data
        /// Whether a pending token's key (raw Ed25519 public key) signed this connection's enrollment payload.
        public var proves: @Sendable (_ tokenKey: Data) -> Bool
    }

    /// What the driver does next.
    public enum Action: Sendable {
        /// Writes a message to the kiosk.
        case send(SyncMessage)
        /// Looks up the enrolled kiosk's key and answers ``ServerSession/kioskFound(publicKey:revoked:)``.
        case lookUpKiosk(Kiosk)
        /// Redeems a pending token and answers ``ServerSession/enrolled()``, or throws `enrollment-refused`.
        case redeem(Enrollment)
        /// Asks the rate limiter and answers ``ServerSession/admitted(_:)``.
        case admit(Kiosk)
        /// Ends the outstanding watch: its answer is written before anything that follows.
        case endWatch
        /// A sync starts now (for its duration metric).
        case syncStarted
        /// The sync that started is complete: note the kiosk's last sync, and the protocol version it spoke.
        case syncEnded(Kiosk, version: Int)
        /// Merges a batch the kiosk pushed (``PushRules``) and answers `push-ack`, or the refusal's error, keeping the
        /// connection.
        case push(Kiosk, batch: Int, records: [VersionedRecord])
        /// Reads a page of the kiosk's store's feed after `cursor`, at most `limit` records, and an estimate when
        /// asked.
        case pull(Kiosk, cursor: Int64, limit: Int, estimate: Bool)
        /// Waits for the kiosk's store's feed to hold something after `cursor`, at most `seconds`.
        case watch(Kiosk, cursor: Int64, seconds: Int)
        /// Answers how much of attachment `digest` the server holds (``AttachmentState/acknowledgement``), or
        /// ``AttachmentRules/unknown(_:)`` when no return of the kiosk's store names it; the connection stays.
        case attachmentOffer(Kiosk, digest: String)
        /// Stores a chunk of attachment `digest` by ``AttachmentRules`` and answers its `attachment-ack` once it is
        /// durable, or the refusal; the connection stays.
        case attachmentPut(Kiosk, digest: String, offset: Int64, data: [UInt8])
        /// Answers bytes of attachment `digest` from `offset` (`attachment-data`), or the refusal: unknown to the
        /// kiosk's store, not all held yet (`attachment-unavailable`), an offset past its end; the connection stays.
        case attachmentGet(Kiosk, digest: String, offset: Int64)
        /// The kiosk's store's returns with these ids (canonical, distinct, at most ``maximumFetchIDs``): answer with
        /// `fetched`, the ids of none held for the store as `missing`.
        case fetch(Kiosk, ids: [ReturnID])
        /// The conversation is over: close the connection.
        case close
    }

    private enum State: Sendable {
        case awaitingHello
        case awaitingAuthenticate(Handshake)
        case lookingUp(Handshake)
        case redeeming(Handshake)
        case admitting(Handshake)
        case established(Established)
        /// After `bye`; with the kiosk that said it, if it had authenticated.
        case closed(Kiosk?)
    }

    private struct Handshake: Sendable {
        var kiosk: Kiosk
        var version: Int
        var kioskNonce: String
        var serverNonce: String
        var signature: Data = Data()
        /// What `welcome` grants: the capabilities the kiosk asked for that the server has, in the kiosk's order;
        /// `nil` when it asked for none (a kiosk before 0.5.0), so its `welcome` is the frame it always was.
        var capabilities: [String]?
    }

    private struct Established: Sendable {
        var kiosk: Kiosk
        var version: Int
        var capabilities: Set<String> = []
        /// Whether a sync is under way: from hello, and from the first request after a watch. A watch renewed with
        /// nothing in between ends no sync (a watching kiosk renews every 25 s; those are not syncs).
        var syncing = true
        var watching = false
    }

    private let configuration: Configuration
    private let makeNonce: @Sendable () -> String
    private var state = State.awaitingHello

    /// Creates the session of one new connection; `makeNonce` makes the challenge's nonce.
    public init(_ configuration: Configuration, makeNonce: @escaping @Sendable () -> String) {
        self.configuration = configuration
        self.makeNonce = makeNonce
    }

    /// The kiosk, once authenticated (also after its `bye`).
    public var authenticatedKiosk: Kiosk? {
        switch state {
        case .established(let established): return established.kiosk
        case .closed(let kiosk): return kiosk
        default: return nil
        }
    }

    /// Takes the next message from the kiosk.
    public mutating func receive(_ message: SyncMessage) throws(ProtocolError) -> [Action] {
        switch state {
        case .awaitingHello:
            guard case .hello(let versions, let replica, let store, let kiosk, let nonce, let capabilities) = message
            else {
                throw ProtocolError(.unexpectedMessage, "expected hello first")
            }
            return [
                .send(
                    try hello(
                        versions: versions,
                        replica: replica,
                        store: store,
                        kiosk: kiosk,
                        nonce: nonce,
                        capabilities: capabilities
                    )
                )
            ]
        case .awaitingAuthenticate(var handshake):
            guard case .authenticate(let signatureText, let publicKeyText, let tokenProofText) = message else {
                throw ProtocolError(.unexpectedMessage, "expected authenticate after challenge")
            }
            guard let signature = Data(base64Encoded: signatureText) else {
                throw ProtocolError(.authenticationFailed, "the signature is not base64")
            }
            handshake.signature = signature
            guard let publicKeyText, let tokenProofText else {
                state = .lookingUp(handshake)
                return [.lookUpKiosk(handshake.kiosk)]
            }
            return [.redeem(try enrollment(handshake, publicKeyText: publicKeyText, tokenProofText: tokenProofText))]
        case .lookingUp, .redeeming, .admitting:
            throw ProtocolError(.unexpectedMessage, "\(message.type) before welcome")
        case .established(var established):
            let actions = try request(message, in: &established)
            if case .bye = message { state = .closed(established.kiosk) } else { state = .established(established) }
            return actions
        case .closed:
            throw ProtocolError(.unexpectedMessage, "\(message.type) after bye")
        }
    }

    /// The kiosk's key as the server holds it (`nil`: not enrolled), after ``Action/lookUpKiosk(_:)``.
    public mutating func kioskFound(publicKey: Data?, revoked: Bool) throws(ProtocolError) -> [Action] {
        guard case .lookingUp(let handshake) = state else { throw misuse("kioskFound") }
        let replica = handshake.kiosk.replicaID
        guard let publicKey else {
            throw ProtocolError(
                .authenticationFailed,
                "kiosk \(replica) is not enrolled: its first sync needs its public key and token proof"
            )
        }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey),
            key.isValidSignature(handshake.signature, for: authenticationPayload(handshake))
        else { throw ProtocolError(.authenticationFailed, "bad signature for kiosk \(replica)") }
        // Said only to the kiosk itself (its key signed): nobody else learns that it was revoked.
        guard !revoked else { throw ProtocolError(.authenticationFailed, "kiosk \(replica) was revoked") }
        state = .admitting(handshake)
        return [.admit(handshake.kiosk)]
    }

    /// The enrollment was redeemed, after ``Action/redeem(_:)``.
    public mutating func enrolled() throws(ProtocolError) -> [Action] {
        guard case .redeeming(let handshake) = state else { throw misuse("enrolled") }
        state = .admitting(handshake)
        return [.admit(handshake.kiosk)]
    }

    /// Whether the rate limiter lets the kiosk sync now, after ``Action/admit(_:)``; `serverTime` (milliseconds since
    /// the Unix epoch), the server's wall clock, which `welcome` tells the kiosk (`nil`: not told).
    public mutating func admitted(_ admitted: Bool, serverTime: Int64? = nil) throws(ProtocolError) -> [Action] {
        guard case .admitting(let handshake) = state else { throw misuse("admitted") }
        let kiosk = handshake.kiosk
        guard admitted else {
            throw ProtocolError(
                .rateLimited,
                "kiosk \(kiosk.replicaID) started too many syncs this minute; retry later"
            )
        }
        state = .established(
            Established(kiosk: kiosk, version: handshake.version, capabilities: Set(handshake.capabilities ?? []))
        )
        return [
            .send(
                .welcome(
                    replicaID: kiosk.replicaID.rawValue,
                    storeID: kiosk.storeID.rawValue,
                    serverTime: serverTime,
                    capabilities: handshake.capabilities
                )
            )
        ]
    }

    // MARK: Steps

    private mutating func hello(
        versions: [Int],
        replica replicaText: String,
        store storeText: String,
        kiosk kioskText: String,
        nonce kioskNonceText: String?,
        capabilities: [String]?
    ) throws(ProtocolError) -> SyncMessage {
        // The newest version both sides speak.
        guard let version = versions.filter(configuration.versions.contains).max() else {
            throw ProtocolError(
                .unsupportedVersion,
                "versions \(versions.map(String.init).joined(separator: ", ")) offered; this server speaks "
                    + configuration.versions.map(String.init).joined(separator: " and ")
                    + (versions.allSatisfy { $0 < 3 }
                        ? ": upgrade the kiosk, which must also be enrolled again with a new token (the server now "
                            + "proves its identity, and tokens no longer cross the wire)"
                        : "")
            )
        }
        guard let kioskNonceText, let kioskNonce = Data(base64Encoded: kioskNonceText), kioskNonce.count >= 16 else {
            throw ProtocolError(.malformedFrame, "hello needs 'nonce': at least 16 random bytes, base64")
        }
        let storeID: StoreID
        let kioskID: KioskID
        do {
            storeID = try StoreID(storeText)
            kioskID = try KioskID(kioskText)
        } catch {
            throw ProtocolError(.authenticationFailed, "\(error)")
        }
        guard replicaText == "\(storeID)/\(kioskID)", let replicaID = try? ReplicaID(replicaText) else {
            throw ProtocolError(.authenticationFailed, "replica id '\(replicaText)' must be '\(storeID)/\(kioskID)'")
        }
        // The server proves who it is, by signing the kiosk's nonce with its identity key.
        let handshake = Handshake(
            kiosk: Kiosk(replicaID: replicaID, storeID: storeID, kioskID: kioskID),
            version: version,
            kioskNonce: kioskNonceText,
            serverNonce: makeNonce(),
            // Names the server does not know are ignored, as unknown keys are: a newer kiosk asks for more.
            capabilities: capabilities.map { asked in
                var granted: [String] = []
                for name in asked where configuration.capabilities.contains(name) && !granted.contains(name) {
                    granted.append(name)
                }
                return granted
            }
        )
        let identity = configuration.identity
        let proof: Data
        do {
            proof = try identity.key.signature(
                for: serverProofPayload(
                    kioskNonce: handshake.kioskNonce,
                    serverNonce: handshake.serverNonce,
                    serverID: configuration.serverID,
                    replicaID: replicaText
                )
            )
        } catch {
            throw ProtocolError(.internalError, "the server could not sign its challenge")
        }
        state = .awaitingAuthenticate(handshake)
        return .challenge(
            version: version,
            nonce: handshake.serverNonce,
            serverID: configuration.serverID,
            serverKey: identity.publicKeyText,
            serverSignature: proof.base64EncodedString()
        )
    }

    private mutating func enrollment(
        _ handshake: Handshake,
        publicKeyText: String,
        tokenProofText: String
    ) throws(ProtocolError) -> Enrollment {
        // Enrollment, first or again (a new key for a known kiosk, after a revocation say).
        guard let keyBytes = Data(base64Encoded: publicKeyText),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes),
            key.isValidSignature(handshake.signature, for: authenticationPayload(handshake))
        else {
            throw ProtocolError(.authenticationFailed, "bad signature or key for kiosk \(handshake.kiosk.replicaID)")
        }
        guard let tokenProof = Data(base64Encoded: tokenProofText) else {
            throw ProtocolError(.enrollmentRefused, "the token proof is not base64")
        }
        let payload = enrollmentPayload(
            serverNonce: handshake.serverNonce,
            kioskNonce: handshake.kioskNonce,
            replicaID: handshake.kiosk.replicaID.rawValue,
            serverID: configuration.serverID,
            publicKey: publicKeyText
        )
        state = .redeeming(handshake)
        return Enrollment(kiosk: handshake.kiosk, publicKey: keyBytes) { tokenKey in
            (try? Curve25519.Signing.PublicKey(rawRepresentation: tokenKey))?.isValidSignature(tokenProof, for: payload)
                ?? false
        }
    }

    private func authenticationPayload(_ handshake: Handshake) -> [UInt8] {
        WireProtocol.authenticationPayload(
            serverNonce: handshake.serverNonce,
            kioskNonce: handshake.kioskNonce,
            replicaID: handshake.kiosk.replicaID.rawValue,
            serverID: configuration.serverID
        )
    }

    /// A request after `welcome`: checked, and turned into what to do.
    private func request(_ message: SyncMessage, in established: inout Established) throws(ProtocolError) -> [Action] {
        var actions: [Action] = []
        // Any request ends a watch: its answer goes first, so answers stay in the order of requests.
        if established.watching {
            actions.append(.endWatch)
            established.watching = false
        }
        switch message {
        case .watch, .bye: break  // a renewal, or leaving: no sync begins
        default:
            if !established.syncing {
                established.syncing = true
                actions.append(.syncStarted)
            }
        }
        switch message {
        case .push(let batch, let records):
            guard batch >= 1 else {
                throw ProtocolError(.malformedFrame, "invalid push batch \(batch): batches are numbered from 1")
            }
            actions.append(.push(established.kiosk, batch: batch, records: records))
        case .pull(let cursorText, let limit, let estimate):
            let cursor = try Self.cursor(cursorText)
            // A page of no records could never move the cursor: refused rather than answered with one record.
            guard limit >= 1 else {
                throw ProtocolError(
                    .malformedFrame,
                    "invalid pull limit \(limit): expected 1 to \(maximumBatchSize) (more is capped)"
                )
            }
            actions.append(
                .pull(established.kiosk, cursor: cursor, limit: min(limit, maximumBatchSize), estimate: estimate)
            )
        case .watch(let cursorText, let seconds):
            guard established.version >= 2 else {
                throw ProtocolError(.unexpectedMessage, "watch needs protocol version 2; this connection speaks 1")
            }
            let cursor = try Self.cursor(cursorText)
            guard (1...maximumWatchSeconds).contains(seconds) else {
                throw ProtocolError(
                    .malformedFrame,
                    "invalid watch seconds \(seconds): expected 1 to \(maximumWatchSeconds)"
                )
            }
            // A watch ends a sync: the kiosk is up to date.
            if established.syncing {
                actions.append(.syncEnded(established.kiosk, version: established.version))
                established.syncing = false
            }
            established.watching = true
            actions.append(.watch(established.kiosk, cursor: cursor, seconds: seconds))
        case .bye:
            if established.syncing { actions.append(.syncEnded(established.kiosk, version: established.version)) }
            actions += [.send(.bye), .close]
        case .attachmentOffer(let digest):
            try Self.attachments(established, digest: digest)
            actions.append(.attachmentOffer(established.kiosk, digest: digest))
        case .attachmentPut(let digest, let offset, let data):
            try Self.attachments(established, digest: digest)
            actions.append(.attachmentPut(established.kiosk, digest: digest, offset: Int64(offset), data: data))
        case .attachmentGet(let digest, let offset):
            try Self.attachments(established, digest: digest)
            actions.append(.attachmentGet(established.kiosk, digest: digest, offset: Int64(offset)))
        case .fetch(let texts):
            guard established.capabilities.contains(SyncCapability.fetch) else {
                throw ProtocolError(
                    .unexpectedMessage,
                    "fetch needs the capability 'fetch', which this connection did not negotiate in hello and welcome"
                )
            }
            var ids: [ReturnID] = []
            for text in texts {
                // Canonical ids only: the answer's `missing` names exactly what was asked.
                guard let id = try? ReturnID(text), id.rawValue == text else {
                    throw ProtocolError(
                        .malformedFrame,
                        "invalid return id '\(text.prefix(80))' in fetch: expected a lower-case UUID"
                    )
                }
                if !ids.contains(id) { ids.append(id) }
            }
            actions.append(.fetch(established.kiosk, ids: ids))
        case let other:
            throw ProtocolError(.unexpectedMessage, "unexpected \(other.type) during a sync")
        }
        return actions
    }

    /// Attachment messages need version 4 and a digest that is one.
    private static func attachments(_ established: Established, digest: String) throws(ProtocolError) {
        guard established.version >= 4 else {
            throw ProtocolError(
                .unexpectedMessage,
                "attachment messages need protocol version 4; this connection speaks \(established.version)"
            )
        }
        guard AttachmentRules.isDigest(digest) else {
            throw ProtocolError(
                .malformedFrame,
                "invalid attachment digest '\(digest.prefix(80))': expected 64 lower-case hex digits of its SHA-256"
            )
        }
    }

    private static func cursor(_ text: String) throws(ProtocolError) -> Int64 {
        guard let cursor = Int64(text), cursor >= 0 else {
            throw ProtocolError(.malformedFrame, "invalid cursor '\(text)'")
        }
        return cursor
    }

    private func misuse(_ event: String) -> ProtocolError {
        ProtocolError(.internalError, "the server's session got \(event) out of turn")
    }
}

/// The server's identity key, made once from its seed and shared by every session.
///
/// `@unchecked Sendable`: swift-crypto's key types do not declare `Sendable`, but a key is never changed after it
/// is made, and signing only reads it (BoringSSL's `ED25519_sign` takes the key as `const`).
final class SigningIdentity: @unchecked Sendable {
    let seed: Data
    let key: Curve25519.Signing.PrivateKey
    /// The public key, as the challenge sends it (base64 of the raw 32 bytes).
    let publicKeyText: String

    /// - Throws: when `seed` is not an Ed25519 private key.
    init(seed: Data) throws {
        key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        self.seed = seed
        publicKeyText = key.publicKey.rawRepresentation.base64EncodedString()
    }
}
