import Foundation
import ReturnsSync
import SyncEngine
import WireProtocol

/// The kiosk's side of a sync conversation (Protocol/SPEC.md §3–§5.4), as a state machine without sockets or
/// storage: the counterpart of ``ServerSession``.
///
/// A driver (`SyncClient`) feeds it the server's messages and its storage's answers, and does what it is told:
/// send, read the changes to push, set a refused record aside, save the push checkpoint, merge a pulled page, close.
/// The protocol decisions live here once — what the kiosk checks in the challenge before it sends anything that
/// matters, how many push batches may be in flight, that acknowledgements come in order, when a refused record
/// restarts the push from the checkpoint, that the next pull is asked for before a page is merged, and that the
/// answer of a watch a request ended is taken in passing — and are tested message by message (`ClientSessionTests`).
///
/// ```swift
/// var session = ClientSession(configuration)
/// send(session.start())                          // hello
/// perform(try session.receive(challenge))        // [.send(.authenticate(…))]
/// perform(try session.receive(welcome))          // [.welcomed(serverID: "hq", enrolled: false)]
/// perform(session.startRound(pushedSeq: 0, pullCursor: "0"))  // [.readChanges(after: 0, limit: 500)]
/// ```
///
/// Every error is a ``SyncError`` with the sentence a clerk reads; a refusal by the server keeps its
/// ``SyncError/serverError``.
public struct ClientSession: Sendable {
    /// What the kiosk brings to a conversation.
    public struct Configuration: Sendable {
        /// The kiosk's replica id, `STORE/KIOSK`, its store and its kiosk id.
        public var replicaID: String
        public var storeID: String
        public var kioskID: String
        /// The kiosk's Ed25519 private key, raw.
        public var privateKey: Data
        /// The fingerprint of the server key this kiosk pinned at enrollment.
        public var pinnedServerKey: String
        /// The enrollment token to redeem, when the kiosk is not enrolled yet; `nil` for an enrolled kiosk.
        public var enrollment: EnrollmentToken?
        /// Records per push batch and per pull page.
        public var batchSize: Int
        /// Push batches sent ahead of their acknowledgement.
        public var pushWindow: Int
        /// Ask the server for an estimate of the pull, with the round's first pull (for a progress display, and
        /// to know whether a large load is coming).
        public var estimatesPull: Bool
        /// The server as the kiosk addresses it, for messages.
        public var serverAddress: String
        /// The protocol versions offered: every one this kiosk speaks, unless it acts as an older kiosk
        /// (compatibility tests).
        public var versions: [Int] = supportedProtocolVersions
        /// The optional features the kiosk asks for in `hello` (``SyncCapability``); the server grants some in
        /// `welcome` (``ClientSession/capabilities``).
        public var capabilities: [String] = SyncCapability.supported

        /// Creates a configuration.
        public init(
            replicaID: String,
            storeID: String,
            kioskID: String,
            privateKey: Data,
            pinnedServerKey: String,
            enrollment: EnrollmentToken?,
            batchSize: Int = maximumBatchSize,
            pushWindow: Int = 8,
            estimatesPull: Bool = false,
            serverAddress: String
        ) {
            self.replicaID = replicaID
            self.storeID = storeID
            self.kioskID = kioskID
            self.privateKey = privateKey
            self.pinnedServerKey = pinnedServerKey
            self.enrollment = enrollment
            self.batchSize = max(1, min(batchSize, maximumBatchSize))
            self.pushWindow = max(1, pushWindow)
            self.estimatesPull = estimatesPull
            self.serverAddress = serverAddress
        }
    }

    /// A record changed here, as stored: what a push sends.
    public struct StoredChange: Sendable, Hashable {
        /// Its place in the kiosk's change log.
        public var seq: Int64
        public var entityType: String
        /// The record's JSON, sent as stored.
        public var json: String

        public init(seq: Int64, entityType: String, json: String) {
            self.seq = seq
            self.entityType = entityType
            self.json = json
        }
    }

    /// What the driver does next.
    public enum Action: Sendable, Equatable {
        /// Writes a message to the server.
        case send(SyncMessage)
        /// The server proved its key and welcomed the kiosk: note the server id (a restored server has a new one);
        /// when `enrolled`, the token is spent: store the credentials without it.
        case welcomed(serverID: String, enrolled: Bool)
        /// Reads up to `limit` changes logged after `after` (returns and everything else, quarantined records left
        /// out) and answers ``ClientSession/changesRead(_:)``.
        case readChanges(after: Int64, limit: Int)
        /// The server refused a record for what it is: set it aside so it is no longer pushed, and answer
        /// ``ClientSession/setAside(_:)`` with whether it was not set aside already.
        case setAside(recordID: String, refusal: ProtocolError)
        /// The server acknowledged a batch of `records` returns, meeting `conflicts`.
        case acknowledged(records: Int, conflicts: [SyncMessage.RecordField])
        /// Saves the push checkpoint: everything up to `pushedSeq` is acknowledged.
        case saveCheckpoint(pushedSeq: Int64)
        /// Merges a pulled page and stores `cursor` in the same transaction; `estimate` is the server's, when asked.
        case merge(records: [VersionedRecord], cursor: String, estimate: Int?)
        /// The round is over: the push checkpoint may move over what was just pulled, from `pushedSeq` on.
        case roundEnded(pushedSeq: Int64)
        /// The conversation is over: close the connection.
        case close
    }

    private enum State: Sendable {
        case idle
        case awaitingChallenge
        case awaitingWelcome(serverID: String)
        case established
        case pushing(Push)
        case settingAside(Push)
        case pulling(pushedSeq: Int64)
        case closing
        case closed
    }

    /// A push under way: batches in flight, oldest first; a batch of `nil` is a page of changes with no return in
    /// it, acknowledged by nobody but still passed by the checkpoint in order.
    private struct Push: Sendable {
        var batch = 0
        var inFlight: [(batch: Int?, lastSeq: Int64, count: Int)] = []
        /// The checkpoint: everything up to here is acknowledged.
        var pushedSeq: Int64
        /// The checkpoint as last saved: an unchanged one is not saved again (a commit, an fsync, for nothing).
        var savedSeq: Int64
        var readUpTo: Int64
        var reading = false
        var exhausted = false
        /// Set once the server refused a record for what it is: the batches after it are answered, but the
        /// checkpoint stays, and the push starts over from it without the record set aside.
        var refused = false
        var acknowledgedPages = 0
    }

    private let configuration: Configuration
    private let handshake: KioskHandshake
    private var state = State.idle
    /// A `watch` was sent and its answer has not come yet: the next request's answer comes after it.
    public private(set) var isWatching = false
    /// The last watch answered `changed` and no round ran since.
    public private(set) var watchSawChange = false
    /// The protocol version the server chose (1 until the challenge).
    public private(set) var version = 1
    /// The pull cursor after the last round.
    public private(set) var cursor = "0"
    /// The server's wall clock as its `welcome` told it, in milliseconds since the Unix epoch (`nil`: a server before
    /// release 0.4.0 does not tell it).
    public private(set) var serverTime: Int64?
    /// The optional features the server granted in `welcome` (empty for a server before release 0.5.0).
    public private(set) var capabilities: Set<String> = []

    /// Creates the session of one new connection.
    ///
    /// - Parameter kioskNonce: the hello's nonce, 32 random bytes in base64; fresh ones by default (tests pass one).
    public init(_ configuration: Configuration, kioskNonce: String? = nil) {
        self.configuration = configuration
        handshake =
            kioskNonce.map { KioskHandshake(replicaID: configuration.replicaID, kioskNonce: $0) }
            ?? KioskHandshake(replicaID: configuration.replicaID)
    }

    /// Whether a round is under way (its push or its pull).
    public var isInRound: Bool {
        switch state {
        case .pushing, .settingAside, .pulling: true
        default: false
        }
    }

    /// Whether the server welcomed the kiosk and no round, watch or goodbye is under way: a round may start.
    public var isReady: Bool {
        if case .established = state { return !isWatching }
        return false
    }

    /// Opens the conversation.
    public mutating func start() -> [Action] {
        precondition(isIdle, "a client session starts once")
        state = .awaitingChallenge
        return [
            .send(
                handshake.hello(
                    storeID: configuration.storeID,
                    kioskID: configuration.kioskID,
                    versions: configuration.versions,
                    capabilities: configuration.capabilities
                )
            )
        ]
    }

    private var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// Starts a round: push what changed after `pushedSeq`, then pull after `pullCursor`.
    public mutating func startRound(pushedSeq: Int64, pullCursor: String) -> [Action] {
        precondition(isEstablished, "a round starts on an established session")
        cursor = pullCursor
        watchSawChange = false
        return advance(Push(pushedSeq: pushedSeq, savedSeq: pushedSeq, readUpTo: pushedSeq))
    }

    private var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }

    /// Waits for the server to say the store's feed changed (protocol version 2), at most `seconds`.
    /// A watch already outstanding goes on: nothing is sent.
    public mutating func watch(seconds: Int) -> [Action] {
        precondition(isEstablished, "a watch is sent between rounds")
        guard !isWatching else { return [] }
        isWatching = true
        return [.send(.watch(cursor: cursor, seconds: seconds))]
    }

    /// Says goodbye; the server's `bye` closes.
    public mutating func bye() -> [Action] {
        state = .closing
        return [.send(.bye)]
    }

    // MARK: Events

    /// Takes the next message from the server, an `error` included.
    public mutating func receive(_ message: SyncMessage) throws(SyncError) -> [Action] {
        // The answer of a watch that a request ended comes before that request's answer.
        if isWatching {
            switch message {
            case .changed:
                isWatching = false
                watchSawChange = true
                return []
            case .quiet:
                isWatching = false
                return []
            default: break
            }
        }
        switch (state, message) {
        case (.pushing(var push), .error(let refusal)):
            // A record the server can never accept: set aside (visibly), and everything else is pushed.
            guard refusal.code.refusesRecord, refusal.recordID != nil, push.inFlight.first?.batch != nil else {
                throw Self.refused(refusal)
            }
            push.inFlight.removeFirst()
            state = .settingAside(push)
            return [.setAside(recordID: refusal.recordID!, refusal: refusal)]
        case (_, .error(let error)):
            throw Self.refused(error)
        case (.awaitingChallenge, .challenge(let version, let nonce, let serverID, let serverKey, let signature)):
            return try challenge(
                version: version,
                nonce: nonce,
                serverID: serverID,
                serverKey: serverKey,
                signature: signature
            )
        case (.awaitingChallenge, _):
            throw SyncError("the server did not send a challenge")
        case (.awaitingWelcome(let serverID), .welcome(_, _, let time, let granted)):
            state = .established
            serverTime = time
            // Only what was asked for counts: a server granting more is not believed.
            capabilities = Set(granted ?? []).intersection(configuration.capabilities)
            return [.welcomed(serverID: serverID, enrolled: configuration.enrollment != nil)]
        case (.awaitingWelcome, _):
            throw SyncError("the server did not welcome this kiosk")
        case (.pushing(var push), .pushAck(let answered, _, _, let conflicts)):
            guard let oldest = push.inFlight.first, let expected = oldest.batch, answered == expected else {
                throw SyncError(
                    "the server did not acknowledge push batch \(push.inFlight.first?.batch.map(String.init) ?? "")"
                )
            }
            push.inFlight.removeFirst()
            // After a refusal the rest of the batches are answered, but the checkpoint must not pass the refused
            // batch's other records.
            guard !push.refused else { return advance(push) }
            var actions = [Action.acknowledged(records: oldest.count, conflicts: conflicts)]
            Self.pass(oldest, in: &push, actions: &actions)
            return actions + advance(push)
        case (.pushing(let push), _):
            throw SyncError("the server did not acknowledge push batch \(push.inFlight.first?.batch ?? 0)")
        case (.pulling(let pushedSeq), .pullBatch(let records, let next, let more, let estimate)):
            var actions: [Action] = []
            // The next page is asked for before this one is merged, so the server reads while the kiosk writes.
            if more { actions.append(.send(.pull(cursor: next, limit: configuration.batchSize))) }
            actions.append(.merge(records: records, cursor: next, estimate: estimate))
            cursor = next
            if !more {
                state = .established
                actions.append(.roundEnded(pushedSeq: pushedSeq))
            }
            return actions
        case (.pulling, _):
            throw SyncError("the server did not answer the pull")
        case (.closing, .bye):
            state = .closed
            return [.close]
        case (.established, .bye):
            throw SyncError("the server is shutting down")
        case (_, let other):
            throw SyncError("the server sent \(other.type) to a waiting kiosk")
        }
    }

    /// The changes read after ``Action/readChanges(after:limit:)``, oldest first.
    public mutating func changesRead(_ page: [StoredChange]) -> [Action] {
        guard case .pushing(var push) = state, push.reading else {
            preconditionFailure("changesRead without readChanges")
        }
        push.reading = false
        guard let last = page.last else {
            push.exhausted = true
            return advance(push)
        }
        push.readUpTo = last.seq
        // Kiosks write returns only; other entities here (recalls, orders, policies) came from the server.
        let changes = page.filter { $0.entityType == ReturnEntity.entityType }
        guard !changes.isEmpty else {
            push.inFlight.append((nil, last.seq, 0))
            return advance(push)
        }
        push.batch += 1
        push.inFlight.append((push.batch, last.seq, changes.count))
        // Records go out as stored: a kiosk's own records need no decoding to be sent.
        return [.send(.encodedPush(batch: push.batch, records: changes.map(\.json)))] + advance(push)
    }

    /// Whether the refused record was set aside now, after ``Action/setAside(recordID:refusal:)``; a record set
    /// aside already, yet sent, means something is wrong here: the session stops with the refusal.
    public mutating func setAside(_ done: Bool, refusal: ProtocolError) throws(SyncError) -> [Action] {
        guard case .settingAside(var push) = state else { preconditionFailure("setAside without a refusal") }
        guard done else { throw Self.refused(refusal) }
        push.refused = true
        return advance(push)
    }

    // MARK: Steps

    private mutating func challenge(
        version: Int,
        nonce: String,
        serverID: String,
        serverKey: String?,
        signature: String?
    ) throws(SyncError) -> [Action] {
        guard configuration.versions.contains(version) else {
            throw SyncError(
                "the server chose protocol version \(version); this kiosk speaks "
                    + configuration.versions.map(String.init).joined(separator: " and ")
            )
        }
        // Nothing that matters is sent before the server proved it holds the key this kiosk pinned.
        let pinned = configuration.pinnedServerKey
        guard handshake.serverProves((nonce, serverID, serverKey, signature), pinned: pinned) else {
            throw SyncError(
                "the server at \(configuration.serverAddress) is not the one this kiosk was enrolled with: it does "
                    + "not prove it holds the key of the pinned fingerprint \(pinned.prefix(16))…; nothing was sent"
            )
        }
        self.version = version
        let authenticate: SyncMessage
        do {
            authenticate = try handshake.authenticate(
                kioskKey: configuration.privateKey,
                serverNonce: nonce,
                serverID: serverID,
                enrolling: configuration.enrollment
            )
        } catch {
            throw SyncError("this kiosk's key cannot sign (\(error)): enroll it again", cause: error)
        }
        state = .awaitingWelcome(serverID: serverID)
        return [.send(authenticate)]
    }

    /// Runs the push until it needs something from outside: changes read, an answer; or starts the pull.
    private mutating func advance(_ start: Push) -> [Action] {
        var push = start
        var actions: [Action] = []
        while true {
            if push.refused && push.inFlight.isEmpty {
                // Every answer is in: start over from the checkpoint, without the records set aside
                // (acknowledged ones are answered `unchanged` again).
                push.refused = false
                push.exhausted = false
                push.readUpTo = push.pushedSeq
            }
            if !push.exhausted && !push.refused && push.inFlight.count < configuration.pushWindow {
                push.reading = true
                state = .pushing(push)
                return actions + [.readChanges(after: push.readUpTo, limit: configuration.batchSize)]
            }
            guard let oldest = push.inFlight.first else {
                // Everything is acknowledged: save the checkpoint (if it moved) and pull.
                state = .pulling(pushedSeq: push.pushedSeq)
                if push.pushedSeq != push.savedSeq { actions.append(.saveCheckpoint(pushedSeq: push.pushedSeq)) }
                return actions + [
                    .send(.pull(cursor: cursor, limit: configuration.batchSize, estimate: configuration.estimatesPull))
                ]
            }
            guard oldest.batch == nil else {
                state = .pushing(push)
                return actions  // waits for the oldest batch's answer
            }
            push.inFlight.removeFirst()
            if !push.refused { Self.pass(oldest, in: &push, actions: &actions) }
        }
    }

    /// Moves the checkpoint past an acknowledged page. Every commit costs the kiosk an fsync: the checkpoint is
    /// saved every few pages and at the end; a crash in between only re-sends acknowledged batches, which the
    /// server answers `unchanged`.
    private static func pass(
        _ page: (batch: Int?, lastSeq: Int64, count: Int),
        in push: inout Push,
        actions: inout [Action]
    ) {
        push.pushedSeq = page.lastSeq
        push.acknowledgedPages += 1
        if push.acknowledgedPages % 8 == 0 {
            actions.append(.saveCheckpoint(pushedSeq: push.pushedSeq))
            push.savedSeq = push.pushedSeq
        }
    }

    private static func refused(_ error: ProtocolError) -> SyncError { .refused(by: error) }
}
