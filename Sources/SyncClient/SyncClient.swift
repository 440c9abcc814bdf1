import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ReplicaStore
import ReturnsModel
import ReturnsSync
import SyncEngine
import SyncTransport
import Synchronization
import WireProtocol

/// What one sync did.
public struct SyncReport: Hashable, Sendable {
    /// Records pushed to the server.
    public var pushed: Int
    /// Records pulled from the server that changed something here.
    public var pulled: Int
    /// Conflicts met on either side, as record id and field, each once.
    public var conflicts: [SyncMessage.RecordField]
    /// Bytes written to the connection (above TLS, when used).
    public var bytesSent: Int
    /// Bytes read from the connection (above TLS, when used).
    public var bytesReceived: Int
    /// Records set aside in this sync: the server refused them for what they are, so they are no longer pushed
    /// (`kiosk quarantine list`).
    public var quarantined: [QuarantinedRecord] = []

    /// Creates a report.
    public init(
        pushed: Int = 0,
        pulled: Int = 0,
        conflicts: [SyncMessage.RecordField] = [],
        bytesSent: Int = 0,
        bytesReceived: Int = 0
    ) {
        self.pushed = pushed
        self.pulled = pulled
        self.conflicts = conflicts
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
    }
}

/// Why a sync failed. Local data is untouched by a failed sync beyond what the server had acknowledged.
public struct SyncError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    /// The server's error, when it refused.
    public var serverError: ProtocolError?
    /// The error underneath, kept whole (a socket's, TLS's, the store's) for logs and callers that look closer;
    /// ``message`` is the sentence for a person. Not part of equality.
    public var cause: (any Error & Sendable)?

    public init(_ message: String, serverError: ProtocolError? = nil, cause: (any Error & Sendable)? = nil) {
        self.message = message
        self.serverError = serverError
        self.cause = cause
    }

    public var description: String { message }

    public static func == (lhs: SyncError, rhs: SyncError) -> Bool {
        lhs.message == rhs.message && lhs.serverError == rhs.serverError
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(message)
        hasher.combine(serverError)
    }
}

/// Where a sync is, for a progress display: which direction, how many records are done, and how many there are in
/// all when known (the server's estimate for a pull).
public struct SyncProgress: Hashable, Sendable {
    /// The direction.
    public enum Phase: String, Hashable, Sendable {
        case push, pull
    }

    public var phase: Phase
    /// Records sent (push) or received (pull) so far.
    public var done: Int
    /// Records to send or receive in all, when known.
    public var total: Int?

    /// Creates a progress report.
    public init(phase: Phase, done: Int, total: Int?) {
        self.phase = phase
        self.done = done
        self.total = total
    }
}

/// The kiosk side of sync: connects to the server, authenticates, pushes what changed here, pulls what changed
/// there (Protocol/SPEC.md). Embeddable in a kiosk app; `kiosk sync` is a thin wrapper, and ``SyncAgent`` keeps a
/// kiosk in sync by itself.
///
/// Both directions are resumable: the push checkpoint advances only after the server acknowledged a batch, and
/// the pull cursor only after a batch is merged and committed here, so a connection cut anywhere loses nothing
/// and the retry sends or receives again only what is needed (merging a known version changes nothing).
public struct SyncClient: Sendable {
    /// The peer name of the server in the store's checkpoints.
    public static let serverPeer = ReplicaStore.serverPeer

    /// Push batches sent ahead of their acknowledgement.
    static let pushWindow = 4

    let store: ReplicaStore
    private let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let batchSize: Int
    let responseTimeout: TimeAmount
    private let progress: (@Sendable (SyncProgress) -> Void)?

    /// Creates a client for the kiosk whose replica is `store`.
    ///
    /// - Parameter progress: called as records are pushed and pulled; `nil` saves the counting a progress display
    ///   needs.
    public init(
        store: ReplicaStore,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "returnsync.sync-client", factory: { _ in SwiftLogNoOpLogHandler() }),
        batchSize: Int = maximumBatchSize,
        responseTimeout: TimeAmount = .seconds(60),
        progress: (@Sendable (SyncProgress) -> Void)? = nil
    ) {
        self.store = store
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.batchSize = max(1, min(batchSize, maximumBatchSize))
        self.responseTimeout = responseTimeout
        self.progress = progress
    }

    /// New sync credentials for a kiosk: the server, the enrollment token's secret, the server key it pins (the
    /// token's fingerprint), a fresh Ed25519 key and, for TLS, the CA certificates (PEM) that sign the server's
    /// certificate.
    ///
    /// - Throws: ``SyncError`` when the token is not one `returns-server enroll` prints, or `trustedCAPEM` holds no
    ///   valid certificate.
    public static func makeCredentials(
        server: String,
        token: String,
        trustedCAPEM: String? = nil
    ) throws -> SyncCredentials {
        let parsed: EnrollmentToken
        do {
            parsed = try EnrollmentToken(token)
        } catch let error as EnrollmentTokenError {
            throw SyncError(error.message)
        }
        if let trustedCAPEM { _ = try trustRoots(trustedCAPEM) }
        return SyncCredentials(
            server: server,
            token: parsed.secret,
            privateKey: Curve25519.Signing.PrivateKey().rawRepresentation,
            trustedCAPEM: trustedCAPEM,
            serverKeyFingerprint: parsed.serverKeyFingerprint
        )
    }

    /// Credentials for enrolling an existing kiosk again with a new token: a fresh key pair, the new token's secret
    /// and pinned server key; the server address, TLS trust and server id are kept. The old key stops working once
    /// the server accepts the new one.
    public static func reenrolling(_ credentials: SyncCredentials, token: String) throws -> SyncCredentials {
        var fresh = try makeCredentials(server: credentials.server, token: token)
        fresh.trustedCAPEM = credentials.trustedCAPEM
        fresh.serverID = credentials.serverID
        return fresh
    }

    /// The certificates in a PEM text.
    static func trustRoots(_ pem: String) throws -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
        } catch {
            throw SyncError("the trusted CA is not a PEM certificate: \(error)", cause: error)
        }
        guard !certificates.isEmpty else { throw SyncError("the trusted CA file holds no certificate") }
        return certificates
    }

    /// The client TLS context trusting only the CA in `pem`, verifying the server's certificate and name.
    static func tlsContext(trusting pem: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try trustRoots(pem))
        configuration.certificateVerification = .fullVerification
        return try NIOSSLContext(configuration: configuration)
    }

    /// Runs a call of the kiosk's store on NIO's blocking-I/O threads: SQLite blocks, and Swift's cooperative pool
    /// has only as many threads as cores, which a blocked call would hold up (the server's rule too).
    func storage<T: Sendable>(_ body: @escaping @Sendable (ReplicaStore) throws -> T) async throws -> T {
        let store = self.store
        return try await NIOThreadPool.singleton.runIfActive { try body(store) }
    }

    /// Syncs once with the server (the stored one, or `server` when given, as `HOST:PORT`).
    public func sync(server override: String? = nil) async throws -> SyncReport {
        try await withSession(server: override) { session in
            var report = try await round(&session)
            try await session.conversation.send(.bye)
            _ = try? await session.conversation.receive()
            (report.bytesSent, report.bytesReceived) = session.bytes.totals
            return report
        }
    }

    /// Connects, authenticates and runs `body` with the session; closes the connection after.
    ///
    /// - Parameter register: told the session's event sink when it opens and `nil` when it closes, so a
    ///   ``SyncAgent`` can wake a waiting session (a local change, shutdown).
    func withSession<T: Sendable>(
        server override: String?,
        register: @Sendable (AsyncStream<ConnectionEvent>.Continuation?) -> Void = { _ in },
        _ body: (inout Session) async throws -> T
    ) async throws -> T {
        guard let credentials = try await storage({ try $0.syncCredentials() }) else {
            throw SyncError(
                "this kiosk has no sync settings: initialise it with 'kiosk init --store S --kiosk K --server HOST:PORT --token TOKEN'"
            )
        }
        let address = override ?? credentials.server
        let (host, port) = try Self.parse(address)
        guard let storeID = store.identity.storeID, let kioskID = store.identity.kioskID else {
            throw SyncError("replica \(store.identity.replicaID) is not a kiosk")
        }
        let channel: NIOAsyncChannel<SyncFrame, SyncMessage>
        let responseTimeout = self.responseTimeout
        let tls = try credentials.trustedCAPEM.map(Self.tlsContext(trusting:))
        let counter = ByteCounter()
        // The name checked against the certificate; an IP address is checked against its IP entries instead.
        let serverHostname = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: serverHostname)
                            )
                        }
                        try channel.pipeline.syncOperations.addHandler(counter)
                        try channel.pipeline.syncOperations.addSyncProtocolHandlers()
                        // A server that stops answering (stalled, gone without a FIN, or trickling bytes that make
                        // no frame) fails the sync after the timeout instead of holding it forever.
                        try channel.pipeline.syncOperations.addHandler(
                            FrameIdleHandler(timeout: responseTimeout, reportsTimeout: true)
                        )
                        return try NIOAsyncChannel<SyncFrame, SyncMessage>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw SyncError(
                "cannot reach the server at \(address) (\(Self.reason(error))); the returns stay here and will be sent "
                    + "on the next sync",
                cause: error
            )
        }
        let underlying = channel.channel
        return try await channel.executeThenClose { inbound, outbound in
            // One stream of events for the conversation: the server's frames, read by their own task, and wake-ups
            // from outside (an agent's local change or shutdown), so a session can wait for whichever comes first.
            let (events, sink) = AsyncStream<ConnectionEvent>.makeStream()
            register(sink)
            defer { register(nil) }
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await frame in inbound { sink.yield(.frame(frame)) }
                        sink.yield(.closed)
                    } catch {
                        sink.yield(.failed(error))
                    }
                    sink.finish()
                }
                var session = Session(
                    conversation: Conversation(
                        events: events.makeAsyncIterator(),
                        outbound: outbound,
                        usesTLS: tls != nil
                    ),
                    bytes: counter
                )
                let result: Result<T, any Error>
                do {
                    try await handshake(&session, credentials: credentials, storeID: storeID, kioskID: kioskID)
                    result = .success(try await body(&session))
                } catch {
                    result = .failure(error)
                }
                // Ends the reading task: its stream finishes when the channel closes.
                underlying.close(promise: nil)
                group.cancelAll()
                try? await group.waitForAll()
                return try result.get()
            }
        }
    }

    private func handshake(
        _ session: inout Session,
        credentials: SyncCredentials,
        storeID: StoreID,
        kioskID: KioskID
    ) async throws {
        let replicaID = store.identity.replicaID.rawValue
        guard let pinned = credentials.serverKeyFingerprint else {
            throw SyncError(
                "this kiosk does not know its server's key (it was set up before servers proved their identity): "
                    + "enroll it again with a new token, 'kiosk enroll --token TOKEN' ('returns-server enroll' issues one)"
            )
        }
        let handshake = KioskHandshake(replicaID: replicaID)
        try await session.conversation.send(handshake.hello(storeID: storeID.rawValue, kioskID: kioskID.rawValue))
        guard
            case .challenge(let version, let nonce, let serverID, let serverKey, let serverSignature) =
                try await session.conversation.receive()
        else {
            throw SyncError("the server did not send a challenge")
        }
        guard supportedProtocolVersions.contains(version) else {
            throw SyncError(
                "the server chose protocol version \(version); this kiosk speaks "
                    + supportedProtocolVersions.map(String.init).joined(separator: " and ")
            )
        }
        // Nothing that matters is sent before the server proved it holds the key this kiosk pinned.
        guard handshake.serverProves((nonce, serverID, serverKey, serverSignature), pinned: pinned) else {
            throw SyncError(
                "the server at \(credentials.server) is not the one this kiosk was enrolled with: it does not prove "
                    + "it holds the key of the pinned fingerprint \(pinned.prefix(16))…; nothing was sent"
            )
        }
        session.version = version
        let enrolling = credentials.enrolledAt == nil
        var token: EnrollmentToken?
        if enrolling {
            guard let secret = credentials.token, let parsed = try? EnrollmentToken("\(secret).\(pinned)") else {
                throw SyncError(
                    "this kiosk is not enrolled and holds no enrollment token: 'kiosk enroll --token TOKEN'"
                )
            }
            token = parsed
        }
        try await session.conversation.send(
            handshake.authenticate(
                kioskKey: credentials.privateKey,
                serverNonce: nonce,
                serverID: serverID,
                enrolling: token
            )
        )
        guard case .welcome = try await session.conversation.receive() else {
            throw SyncError("the server did not welcome this kiosk")
        }
        if enrolling {
            var enrolled = credentials
            enrolled.token = nil
            enrolled.enrolledAt = Date()
            try await storage { [enrolled] in try $0.saveSyncCredentials(enrolled) }
        }
        if try await storage({ try $0.noteServerID(serverID) }) {
            logger.notice(
                "the server's id changed: it was restored from a backup; re-sending everything this kiosk holds",
                metadata: ["server-id": "\(serverID)"]
            )
        }
    }

    /// One sync on an open session: push everything changed here, then pull everything changed there.
    func round(_ session: inout Session) async throws -> SyncReport {
        var report = SyncReport()
        var checkpoint = try await storage { try $0.checkpoint(for: Self.serverPeer) }
        let progress = self.progress
        let pushedSeq = checkpoint.pushedSeq
        let pushTotal = progress == nil ? nil : try await storage { try $0.returnsChanged(after: pushedSeq) }

        // Push everything changed since the last acknowledged push, several batches in flight: the kiosk reads and
        // encodes the next batches while the server commits the first. Acknowledgements come in order; the
        // checkpoint advances only with them.
        var batch = 0
        var inFlight: [(batch: Int?, lastSeq: Int64, count: Int)] = []
        var readUpTo = checkpoint.pushedSeq
        var exhausted = false
        var acknowledged = 0
        // Set once the server refused a record for what it is: the batches after it are answered but the
        // checkpoint stays, and the push starts over from the checkpoint without the record set aside.
        var refused = false
        while true {
            if refused && inFlight.isEmpty {
                // Every answer is in: start over from the checkpoint, without the records set aside (acknowledged
                // ones are answered `unchanged` again).
                refused = false
                exhausted = false
                readUpTo = checkpoint.pushedSeq
            }
            while !exhausted && !refused && inFlight.count < Self.pushWindow {
                // Records go out as stored: a kiosk's own records need no decoding to be sent.
                let page = try await storage { [readUpTo, batchSize] in
                    try $0.encodedChanges(since: readUpTo, limit: batchSize)
                }
                guard let last = page.last else {
                    exhausted = true
                    break
                }
                readUpTo = last.seq
                // Kiosks write returns only; other entities here (recalls, orders, policies) came from the server.
                let changes = page.filter { $0.entityType == ReturnEntity.entityType }
                guard !changes.isEmpty else {
                    inFlight.append((nil, last.seq, 0))
                    continue
                }
                batch += 1
                try await session.conversation.send(.encodedPush(batch: batch, records: changes.map(\.json)))
                inFlight.append((batch, last.seq, changes.count))
            }
            guard let oldest = inFlight.first else { break }
            inFlight.removeFirst()
            if let expected = oldest.batch {
                let answer: SyncMessage
                do {
                    answer = try await session.conversation.receive()
                } catch let error as SyncError {
                    guard let refusal = error.serverError, refusal.code.refusesRecord, let recordID = refusal.recordID
                    else { throw error }
                    // Resending this record can never succeed: set it aside (visibly) and push everything else.
                    let setAside = try await storage {
                        try $0.quarantine(recordID: recordID, code: refusal.code.rawValue, message: refusal.message)
                    }
                    guard setAside else { throw error }  // set aside already, yet sent: something is wrong here, stop
                    logger.error(
                        "the server refused a record; it is set aside (kiosk quarantine list)",
                        metadata: [
                            "record": "\(recordID)", "code": "\(refusal.code.rawValue)", "why": "\(refusal.message)",
                        ]
                    )
                    report.quarantined.append(
                        QuarantinedRecord(
                            entityType: ReturnEntity.entityType,
                            recordID: recordID,
                            code: refusal.code.rawValue,
                            message: refusal.message,
                            quarantinedAt: Date()
                        )
                    )
                    refused = true
                    continue
                }
                guard case .pushAck(let answered, _, _, let conflicts) = answer, answered == expected else {
                    throw SyncError("the server did not acknowledge push batch \(expected)")
                }
                // After a refusal the rest of the batches are answered, but the push starts over: the checkpoint
                // must not pass the refused batch's other records.
                if refused { continue }
                report.pushed += oldest.count
                report.conflicts += conflicts
                progress?(SyncProgress(phase: .push, done: report.pushed, total: pushTotal))
            }
            if refused { continue }
            checkpoint.pushedSeq = oldest.lastSeq
            acknowledged += 1
            // Every commit costs the kiosk an fsync: the checkpoint is saved every few batches and at the end. A
            // crash in between only re-sends acknowledged batches, which the server answers `unchanged`.
            if acknowledged % 8 == 0 { try await storage { [checkpoint] in try $0.saveCheckpoint(checkpoint) } }
        }
        try await storage { [checkpoint] in try $0.saveCheckpoint(checkpoint) }
        let pushedUpTo = checkpoint.pushedSeq

        // Pull everything the server has for this store since the last cursor. The next page is asked for before
        // this one is merged, so the server reads while the kiosk writes; the cursor is stored in the merge's own
        // transaction, so a page is merged and remembered together or not at all.
        var cursor = checkpoint.pullCursor ?? "0"
        try await session.conversation.send(.pull(cursor: cursor, limit: batchSize, estimate: progress != nil))
        var received = 0
        var pullTotal: Int?
        while true {
            guard
                case .pullBatch(let records, let next, let more, let estimate) = try await session.conversation
                    .receive()
            else {
                throw SyncError("the server did not answer the pull")
            }
            if more { try await session.conversation.send(.pull(cursor: next, limit: batchSize)) }
            let outcome = try await storage { try $0.mergePulled(records, cursor: next, peer: Self.serverPeer) }
            for entry in outcome.quarantined {
                logger.error(
                    "the server's version of a record disagrees with this kiosk's on a write; it is set aside",
                    metadata: ["record": "\(entry.recordID)", "code": "\(entry.code)", "why": "\(entry.message)"]
                )
            }
            report.quarantined += outcome.quarantined
            report.pulled += outcome.merged
            report.conflicts += outcome.conflicts
            cursor = next
            received += records.count
            if let estimate { pullTotal = estimate }
            if !records.isEmpty { progress?(SyncProgress(phase: .pull, done: received, total: pullTotal)) }
            if !more { break }
        }
        session.cursor = cursor

        // What was just pulled is the server's own state: the push checkpoint moves over it, up to the first change
        // made here meanwhile (by another process, say), in one transaction so such a change is never skipped.
        try await storage { [pushedUpTo] in
            try $0.advancePushCheckpoint(overMergesAfter: pushedUpTo, peer: Self.serverPeer, syncedAt: Date())
        }
        // The server's merge of a push and this kiosk's merge of the pull can both detect one conflict.
        var seen = Set<SyncMessage.RecordField>()
        report.conflicts = report.conflicts.filter { seen.insert($0).inserted }
        return report
    }

    /// Why a connection could not be made, in words a clerk reads: not NIO's error dump.
    static func reason(_ error: any Error) -> String {
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused: is the server running?"
            case ENETUNREACH, EHOSTUNREACH: return "no route to it: is the network up?"
            case ETIMEDOUT: return "no answer"
            default: return String(cString: strerror(error.errnoCode))
            }
        }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first?.error { return reason(first) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "unknown host \(error.host)" }
            return "no address for \(error.host)"
        }
        if case .connectTimeout? = error as? ChannelError { return "no answer within 10 s" }
        return "\(error)"
    }

    /// Splits `HOST:PORT`.
    ///
    /// - Throws: ``SyncError`` naming the address when it is not `HOST:PORT` with a port from 1 to 65535.
    public static func parse(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port), colon > address.startIndex
        else { throw SyncError("invalid server address '\(address)': expected HOST:PORT, such as 127.0.0.1:7420") }
        return (String(address[..<colon]), port)
    }
}

/// What a session's conversation waits for: a frame from the server, the connection's end, or a wake-up.
enum ConnectionEvent: Sendable {
    case frame(SyncFrame)
    case closed
    case failed(any Error)
    case wake(SyncAgent.Wake)
}

/// An open, authenticated connection to the server.
struct Session {
    var conversation: Conversation
    let bytes: ByteCounter
    /// The protocol version the server chose.
    var version = 1
    /// The pull cursor after the last round.
    var cursor = "0"
}

/// The client's side of the frame stream.
struct Conversation {
    var events: AsyncStream<ConnectionEvent>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<SyncMessage>
    let usesTLS: Bool
    /// Wake-ups that came while the conversation waited for an answer, for the agent to act on after.
    var wakes: Set<SyncAgent.Wake> = []
    /// A `watch` was sent and its answer has not come yet: the next request's answer comes after it.
    var watching = false
    /// The last watch answered `changed`.
    var watchSawChange = false

    mutating func send(_ message: SyncMessage) async throws {
        do {
            try await outbound.write(message)
        } catch {
            // The connection closed under the write: why it closed (a TLS failure, say) waits on the inbound side.
            _ = try await receive()
            throw SyncError("the connection to the server closed")
        }
    }

    /// The next message from the server; wake-ups are kept in ``wakes``, and the answer of a watch that a request
    /// ended is taken in passing.
    mutating func receive() async throws -> SyncMessage {
        while true {
            switch try await nextEvent() {
            case .wake(let wake):
                wakes.insert(wake)
            case .message(.changed) where watching:
                watching = false
                watchSawChange = true
            case .message(.quiet) where watching:
                watching = false
            case .message(let message):
                return message
            }
        }
    }

    enum Event {
        case message(SyncMessage)
        case wake(SyncAgent.Wake)
    }

    /// The next message or wake-up.
    mutating func nextEvent() async throws -> Event {
        guard let event = await events.next() else { throw SyncError("the server closed the connection") }
        switch event {
        case .wake(let wake):
            return .wake(wake)
        case .closed:
            throw SyncError("the server closed the connection")
        case .failed(let error):
            throw Self.describe(error, usesTLS: usesTLS)
        case .frame(.message(.error(let error))):
            throw SyncError("the server refused: \(error.message) (\(error.code.rawValue))", serverError: error)
        case .frame(.message(let message)):
            return .message(message)
        case .frame(.invalid(let error)):
            throw SyncError("the server sent a bad frame: \(error)")
        }
    }

    private static func describe(_ error: any Error, usesTLS: Bool) -> SyncError {
        switch error {
        case let timeout as FrameIdleHandler.Timeout:
            return SyncError(
                "the server did not answer within \(timeout.seconds) s; nothing unacknowledged was lost",
                cause: timeout
            )
        case let error as NIOSSLError:
            return SyncError(
                "TLS with the server failed (\(error)): does it serve TLS, and does the trusted CA sign it?",
                cause: error
            )
        case let error as BoringSSLError:
            return SyncError(
                "TLS with the server failed (\(error)): is its certificate signed by the trusted CA?",
                cause: error
            )
        default:
            return SyncError(
                "the connection to the server failed (\(error))"
                    + (usesTLS ? "" : "; if the server serves TLS, initialise the kiosk with --tls-ca"),
                cause: error
            )
        }
    }
}

/// Counts the bytes a connection writes and reads.
final class ByteCounter: ChannelDuplexHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let counts = Mutex((sent: 0, received: 0))

    var totals: (Int, Int) { counts.withLock { ($0.sent, $0.received) } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data).readableBytes
        counts.withLock { $0.received += bytes }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = Self.unwrapOutboundIn(data).readableBytes
        counts.withLock { $0.sent += bytes }
        context.write(data, promise: promise)
    }
}
