import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ReplicaStore
import ReturnsModel
import ServiceLifecycle
import SyncCore
import SyncEngine
import SyncTransport
import Synchronization
import WireProtocol

/// How the sync server listens.
public struct SyncServerConfiguration: Sendable {
    /// The address to bind.
    public var host: String
    /// The port to bind; 0 picks a free one (reported through `onListening`).
    public var port: Int
    /// The largest frame accepted, in bytes.
    public var maximumFrameSize: Int
    /// Makes each connection's challenge nonce. Random (32 bytes, base64) unless a test replaying recorded
    /// conversations needs a fixed one.
    public var makeNonce: @Sendable () -> String
    /// How long a connection may stay silent before the server closes it, so a peer that connects and stalls
    /// cannot hold a connection forever.
    public var idleTimeout: TimeAmount
    /// How long a new connection has to authenticate: a peer that trickles its handshake byte by byte (slow loris)
    /// is closed after this however busy it keeps the idle timer.
    public var handshakeTimeout: TimeAmount
    /// The most connections served at once. Past it the oldest unauthenticated connection is closed to make room;
    /// when every connection is authenticated, one more is answered `server-busy` and closed.
    public var maximumConnections: Int
    /// The most connections that have not authenticated yet; one more closes the oldest of them. This reserves
    /// the rest of ``maximumConnections`` for kiosks that proved who they are.
    public var maximumUnauthenticatedConnections: Int
    /// The most unauthenticated connections from one source address; one more closes that address's oldest.
    public var maximumUnauthenticatedPerAddress: Int
    /// The most connections one kiosk holds at once; a new one closes its oldest.
    public var maximumConnectionsPerKiosk: Int
    /// The largest frame accepted before the peer has authenticated: `hello` and `authenticate` are a few hundred
    /// bytes, so a stranger cannot make the server buffer megabytes.
    public var handshakeFrameSize: Int
    /// How many syncs one kiosk may start per minute (a token bucket holding as many); one more is answered
    /// `rate-limited` and closed.
    public var syncsPerMinutePerKiosk: Int
    /// TLS: the server's certificate chain and key, or `nil` for plain TCP (a loopback demo, or TLS terminated in
    /// front of the server).
    public var tls: NIOSSLContext?
    /// How often the server looks for changes written by other processes (HQ commands), to push them to watching
    /// kiosks; changes kiosks push are passed on at once.
    public var changePollInterval: TimeAmount
    /// The protocol versions spoken: by default every one this server knows (``supportedProtocolVersions``). Fewer
    /// only to act as an older server would (compatibility tests).
    public var protocolVersions = supportedProtocolVersions
    /// The optional features granted to kiosks that ask (``SyncCapability``): by default every one this server has.
    /// Fewer only to act as an older server would (compatibility tests).
    public var capabilities = SyncCapability.supported
    /// The longest a push may expect to wait for the pushes queued before it (``SyncServerStorage/pushBacklog``);
    /// a push behind a longer backlog is answered `server-busy` at once and its connection closed, the kiosk
    /// keeping its returns for a later sync. Twenty seconds: a third of the kiosks' 60 s answer timeout and of
    /// ``idleTimeout``'s default, so an admitted push is answered well before either gives up unless the estimate
    /// (the rate of the last large commits) is badly off. `nil`: never.
    public var pushBacklogLimit: TimeAmount? = .seconds(20)

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1",
        port: Int = 7420,
        maximumFrameSize: Int = WireProtocol.maximumFrameSize,
        idleTimeout: TimeAmount = .seconds(60),
        handshakeTimeout: TimeAmount = .seconds(10),
        maximumConnections: Int = 4096,
        maximumUnauthenticatedConnections: Int? = nil,
        maximumUnauthenticatedPerAddress: Int = 64,
        maximumConnectionsPerKiosk: Int = 4,
        handshakeFrameSize: Int = 8192,
        syncsPerMinutePerKiosk: Int = 60,
        tls: NIOSSLContext? = nil,
        changePollInterval: TimeAmount = .milliseconds(500),
        makeNonce: @escaping @Sendable () -> String = SyncServerConfiguration.randomNonce
    ) {
        self.host = host
        self.port = port
        self.maximumFrameSize = maximumFrameSize
        self.idleTimeout = idleTimeout
        self.handshakeTimeout = handshakeTimeout
        self.maximumConnections = maximumConnections
        self.maximumUnauthenticatedConnections = maximumUnauthenticatedConnections ?? max(1, maximumConnections / 4)
        self.maximumUnauthenticatedPerAddress = maximumUnauthenticatedPerAddress
        self.maximumConnectionsPerKiosk = maximumConnectionsPerKiosk
        self.handshakeFrameSize = handshakeFrameSize
        self.syncsPerMinutePerKiosk = syncsPerMinutePerKiosk
        self.tls = tls
        self.changePollInterval = changePollInterval
        self.makeNonce = makeNonce
    }

    /// A TLS context serving the certificate chain and private key in the PEM files at `certificatePath` and
    /// `keyPath`.
    ///
    /// - Throws: an error naming the file that could not be read or parsed.
    public static func tlsContext(certificatePath: String, keyPath: String) throws(TLSSetupError) -> NIOSSLContext {
        // The key impersonates the server: a file others may read is refused before it is used.
        do {
            try OwnerOnlyFiles.requirePrivate(keyPath, holding: "the server's TLS private key")
        } catch let error as ReplicaStoreError {
            throw TLSSetupError(error.message, cause: error)
        } catch {
            throw TLSSetupError("\(error)", cause: error)
        }
        return try SyncTLS.serverContext(certificatePath: certificatePath, keyPath: keyPath)
    }

    /// 32 random bytes, base64.
    public static func randomNonce() -> String {
        Data((0..<32).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
    }
}

/// The central sync server: accepts kiosks over TCP, authenticates them, merges what they push and feeds them
/// their store's changes (Protocol/SPEC.md).
///
/// Run it in a `ServiceGroup`: on graceful shutdown it stops accepting connections and lets the syncs in flight
/// finish. Each connection is one structured child task whose errors end that connection only.
public final class SyncServer: Service, Sendable {
    private let store: any SyncServerStorage
    private let configuration: SyncServerConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void
    private let registry: ConnectionRegistry
    private let rateLimiter: RateLimiter
    private let metrics: ServerMetrics
    private let feedWatch = FeedWatch()

    /// Creates a server over `store`, a server replica's storage.
    ///
    /// - Parameter onListening: called once with the bound address, so callers binding port 0 learn the port.
    public init(
        store: any SyncServerStorage,
        configuration: SyncServerConfiguration = SyncServerConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        metrics: ServerMetrics = ServerMetrics(),
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.store = store
        self.metrics = metrics
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
        rateLimiter = RateLimiter(perMinute: configuration.syncsPerMinutePerKiosk)
        registry = ConnectionRegistry(
            limits: .init(
                maximum: max(1, configuration.maximumConnections),
                maximumUnauthenticated: max(1, configuration.maximumUnauthenticatedConnections),
                maximumUnauthenticatedPerAddress: max(1, configuration.maximumUnauthenticatedPerAddress),
                maximumPerKiosk: max(1, configuration.maximumConnectionsPerKiosk)
            )
        )
    }

    public func run() async throws {
        // Made on first use; read once here so each handshake signs without a database read.
        let identitySeed = try await store.serverIdentitySeed()
        var configured = try ServerSession.Configuration(
            serverID: store.serverReplicaID.rawValue,
            identitySeed: identitySeed,
            versions: configuration.protocolVersions
        )
        configured.capabilities = configuration.capabilities
        let sessions = configured
        let maximumFrameSize = configuration.maximumFrameSize
        let idleTimeout = configuration.idleTimeout
        let tls = configuration.tls
        let handshakeFrameSize = min(configuration.handshakeFrameSize, maximumFrameSize)
        let server = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A fleet reconnecting at once (after a server restart, say) must queue, not be refused by the kernel.
            .serverChannelOption(.backlog, value: 1024)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addSyncTLSServer(tls) }
                    // Small frames until the peer authenticates; the session raises the limit after `welcome`.
                    let limit = FrameLimit(handshakeFrameSize)
                    try channel.pipeline.syncOperations.addSyncProtocolHandlers(
                        limit: limit,
                        maximumFrameSize: maximumFrameSize
                    )
                    // Only whole frames (or the server's answers) keep a connection alive, not stray bytes.
                    try channel.pipeline.syncOperations.addHandler(FrameIdleHandler(timeout: idleTimeout))
                    // Reads stop once two decoded frames wait unprocessed: a connection holds at most about three
                    // frames in memory however fast its peer sends. Writes wait while the peer does not read.
                    let connection = try NIOAsyncChannel<SyncFrame, SyncMessage>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2))
                    )
                    return (connection, limit)
                }
            }
        if let address = server.channel.localAddress { onListening(address) }
        logger.info(
            "sync server listening",
            metadata: [
                "address": "\(server.channel.localAddress.map { "\($0)" } ?? "?")",
                "tls": "\(configuration.tls != nil)",
            ]
        )

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.pollForChanges() }
                if store.notifiesChanges { group.addTask { await self.listenForChanges() } }
                try await server.executeThenClose { connections in
                    for try await (connection, limit) in connections {
                        group.addTask { await self.serve(connection, frameLimit: limit, sessions: sessions) }
                    }
                }
            }
        } onGracefulShutdown: {
            // Stop accepting, and end live-push waits (their kiosks are told `bye`); the task group
            // still waits for every sync in flight.
            server.channel.close(promise: nil)
            self.feedWatch.close()
        }
    }

    /// Wakes watching connections when the change log grows by another process's hand (an HQ command), and closes
    /// the connections of kiosks an operator revoked. One read of the newest sequence number per interval, none while
    /// no kiosk watches; one read of the revoked kiosks, none while no kiosk is connected.
    private func pollForChanges() async {
        var seen = (try? await store.lastChangeSeq()) ?? 0
        let interval = Duration.nanoseconds(configuration.changePollInterval.nanoseconds)
        // The poll waits as a watcher of no store: only shutdown (or its own wake-up of everyone) ends its sleep early.
        let noStore = ""
        while !feedWatch.isClosed {
            let mark = feedWatch.mark(for: noStore)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: interval) }
                group.addTask { await self.feedWatch.wait(for: noStore, after: mark) }
                await group.next()
                group.cancelAll()
            }
            // A kiosk revoked by an operator (another process) loses its connections at once, not at its next sync.
            if !feedWatch.isClosed, registry.hasAuthenticated,
                let revoked = try? await store.revokedKiosks(),
                !revoked.isEmpty
            {
                let closing = registry.connections(of: revoked)
                for channel in closing { channel.close(promise: nil) }
                if !closing.isEmpty { logger.notice("closed \(closing.count) connection(s) of revoked kiosks") }
            }
            // Kiosks wait, besides the poll itself (which is not waiting now); a storage that tells of changes
            // (``listenForChanges()``) needs no polling for them.
            guard !feedWatch.isClosed, !store.notifiesChanges, feedWatch.waiting > 0 else { continue }
            guard let latest = try? await store.lastChangeSeq() else {
                continue
            }
            if latest != seen {
                seen = latest
                feedWatch.changed()
            }
        }
    }

    /// Wakes watching connections as the storage tells of committed changes (PostgreSQL's `NOTIFY`), by this process
    /// or any other, until the server closes.
    private func listenForChanges() async {
        let feedWatch = self.feedWatch
        let store = self.store
        let logger = self.logger
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await store.watchChanges { changed in feedWatch.changed(store: changed) }
                } catch {
                    if !Task.isCancelled {
                        logger.error("lost the storage's change notifications", metadata: ["error": "\(error)"])
                    }
                }
            }
            group.addTask {
                // Until the server closes (a global change wakes this loop too; it waits again).
                let noStore = ""
                while !feedWatch.isClosed {
                    let mark = feedWatch.mark(for: noStore)
                    await feedWatch.wait(for: noStore, after: mark)
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Serves one kiosk connection; never throws, so one bad peer cannot take the server down.
    private func serve(
        _ connection: NIOAsyncChannel<SyncFrame, SyncMessage>,
        frameLimit: FrameLimit,
        sessions: ServerSession.Configuration
    ) async {
        let peer = connection.channel.remoteAddress.map { "\($0)" } ?? "?"
        var logger = self.logger
        logger[metadataKey: "peer"] = "\(peer)"
        let (registration, shed) = registry.admit(
            connection.channel,
            address: connection.channel.remoteAddress?.ipAddress ?? peer
        )
        for channel in shed { channel.close(promise: nil) }
        if !shed.isEmpty { logger.debug("closed \(shed.count) unauthenticated connection(s) to make room") }
        let admitted = registration != nil
        defer { if let registration { registry.remove(registration) } }
        metrics.connectionsAccepted.increment()
        if admitted {
            metrics.connections.increment()
        } else {
            metrics.refused(ProtocolError.Code.serverBusy.rawValue)
        }
        defer { if admitted { metrics.connections.decrement() } }
        // A handshake must finish in time; `authenticated` cancels the deadline.
        let authenticated = NIOLockedValueBox(false)
        let channel = connection.channel
        let deadline = channel.eventLoop.scheduleTask(in: configuration.handshakeTimeout) {
            if !authenticated.withLockedValue({ $0 }) { channel.close(promise: nil) }
        }
        defer { deadline.cancel() }
        do {
            try await connection.executeThenClose { inbound, outbound in
                guard admitted else {
                    logger.warning("refused a connection: at the maximum of \(configuration.maximumConnections)")
                    try? await outbound.write(
                        .error(
                            ProtocolError(
                                .serverBusy,
                                "the server is serving its maximum of \(configuration.maximumConnections) connections; retry later"
                            )
                        )
                    )
                    return
                }
                var session = SyncSession(
                    store: store,
                    logger: logger,
                    metrics: metrics,
                    feedWatch: feedWatch,
                    makeNonce: configuration.makeNonce,
                    sessions: sessions,
                    frameLimit: frameLimit,
                    inbound: inbound.makeAsyncIterator(),
                    outbound: outbound,
                    pushBacklogLimit: configuration.pushBacklogLimit,
                    admit: { replicaID in
                        authenticated.withLockedValue { $0 = true }
                        frameLimit.set(self.configuration.maximumFrameSize)
                        if let registration {
                            let (_, older) = self.registry.authenticated(registration, as: replicaID)
                            // This kiosk's oldest connections beyond its limit (half-open ones, most likely).
                            for channel in older { channel.close(promise: nil) }
                        }
                        return self.rateLimiter.admit(replicaID)
                    }
                )
                await session.run()
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The connections being served now.
    public var connectionCount: Int { registry.count }
}

/// A connection's inbound frames. One read runs at a time — the session starts one only once the last is done —
/// so the iterator is never used by two tasks at once, though a read may run on a task of its own while pushes
/// commit.
final class FrameReader: @unchecked Sendable {
    private var iterator: NIOAsyncChannelInboundStream<SyncFrame>.AsyncIterator

    init(_ iterator: NIOAsyncChannelInboundStream<SyncFrame>.AsyncIterator) {
        self.iterator = iterator
    }

    func next() async throws -> SyncFrame? {
        try await iterator.next()
    }
}

/// A push a session started, and its outcome once it is committed (or refused).
final class PipelinedPush: Sendable {
    let batch: Int
    let kiosk: ServerSession.Kiosk
    private let result = NIOLockedValueBox<Result<PushOutcome, any Error>?>(nil)

    init(batch: Int, kiosk: ServerSession.Kiosk) {
        self.batch = batch
        self.kiosk = kiosk
    }

    /// The outcome, once the push is done.
    var outcome: Result<PushOutcome, any Error>? { result.withLockedValue { $0 } }

    func finish(_ outcome: Result<PushOutcome, any Error>) {
        result.withLockedValue { $0 = outcome }
    }
}

/// What a session waits for while its pushes commit: a wake-up for each push done and for the frame read, and the
/// frame. The wake-ups are buffered, so one that comes between a check and the wait is not lost.
final class SessionProgress: Sendable {
    let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    private let frame = NIOLockedValueBox<Result<SyncFrame?, any Error>?>(nil)

    init() {
        (signals, signal) = AsyncStream.makeStream(of: Void.self)
    }

    deinit { signal.finish() }

    func pushDone() { signal.yield() }

    func frameRead(_ read: Result<SyncFrame?, any Error>) {
        frame.withLockedValue { $0 = read }
        signal.yield()
    }

    /// The frame read, if it is there; taken once.
    func takeFrame() -> Result<SyncFrame?, any Error>? {
        frame.withLockedValue { frame in
            defer { frame = nil }
            return frame
        }
    }
}

/// One kiosk's conversation with the server: hello, challenge, authenticate, then pushes and pulls until `bye`.
struct SyncSession {
    let store: any SyncServerStorage
    let logger: Logger
    let metrics: ServerMetrics
    let feedWatch: FeedWatch
    let makeNonce: @Sendable () -> String
    /// What every conversation's state machine starts from (the server's id and identity key), made once.
    let sessions: ServerSession.Configuration
    /// The connection's frame limit, lowered until the kiosk authenticates.
    let frameLimit: FrameLimit
    let inbound: FrameReader
    let outbound: NIOAsyncChannelOutboundWriter<SyncMessage>
    /// The pushes started and not yet answered, oldest first: their answers go out in this order, before any other.
    private var pushes: [PipelinedPush] = []
    /// Done once the newest push started has its place in the order of commits: the next one waits for it.
    private var lastQueued: Task<Void, Never>?
    /// The read of the next frame, when it runs while pushes commit.
    private var reading: Task<Void, Never>?
    /// What the session waits for while pushes commit: a push done, or the frame read.
    private let progress = SessionProgress()
    private var progressSignals: AsyncStream<Void>.Iterator
    /// At most this many pushes of a connection are started and not yet answered; past it the session waits for
    /// the oldest before reading on. Eight, what kiosks keep in flight: while one group commits, the next pushes are
    /// read and prepared, so the writer seldom waits for work and takes those ready in one group. Pushes in the
    /// group committing count against the limit, so a group holds about half of it: with four, a sync of 100,000
    /// returns committed about 1,000 returns a group; with eight, about twice that, each page of the random-order
    /// unit index written to the log half as often — 5–7 % faster; sixteen was no faster, with 30 MB more RSS.
    /// Two (one committing, one prepared) synced 11 % slower than four (BENCHMARKS.md, issue 18); each push
    /// waiting holds its decoded records (docs/reliability.md).
    static let maximumPipelinedPushes = 8
    /// Called once the kiosk proved who it is: ends the handshake deadline, and says whether its rate allows
    /// another sync.
    let admit: @Sendable (String) -> Bool
    /// A push behind a longer backlog is refused (``SyncServerConfiguration/pushBacklogLimit``).
    let pushBacklogLimit: TimeAmount?

    init(
        store: any SyncServerStorage,
        logger: Logger,
        metrics: ServerMetrics = ServerMetrics(),
        feedWatch: FeedWatch = FeedWatch(),
        makeNonce: @escaping @Sendable () -> String,
        sessions: ServerSession.Configuration,
        frameLimit: FrameLimit,
        inbound: NIOAsyncChannelInboundStream<SyncFrame>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<SyncMessage>,
        pushBacklogLimit: TimeAmount? = nil,
        admit: @escaping @Sendable (String) -> Bool = { _ in true }
    ) {
        self.store = store
        self.logger = logger
        self.metrics = metrics
        self.feedWatch = feedWatch
        self.makeNonce = makeNonce
        self.sessions = sessions
        self.frameLimit = frameLimit
        self.inbound = FrameReader(inbound)
        self.outbound = outbound
        progressSignals = progress.signals.makeAsyncIterator()
        self.admit = admit
        self.pushBacklogLimit = pushBacklogLimit
    }

    /// Runs the conversation; protocol errors are answered with an `error` frame.
    mutating func run() async {
        do {
            try await converse()
        } catch let error as ProtocolError {
            logger.info("refused", metadata: ["code": "\(error.code.rawValue)", "message": "\(error.message)"])
            metrics.refused(error.code.rawValue)
            // Pushes sent before the request at fault are answered first, as they would have been in turn.
            try? await answerAllPushes()
            try? await outbound.write(.error(error))
        } catch is ByteToMessageDecoderError.PayloadTooLargeError {
            try? await answerAllPushes()
            metrics.refused(ProtocolError.Code.frameTooLarge.rawValue)
            let limit = frameLimit.current
            let handshake = limit < WireProtocol.maximumFrameSize ? " before authentication" : ""
            try? await outbound.write(
                .error(ProtocolError(.frameTooLarge, "a frame is at most \(limit) bytes\(handshake)"))
            )
        } catch is CancellationError {
            // The server is stopping while pushes commit: they still commit, and the kiosk, left unanswered, sends
            // them again at its next sync (merging a version twice changes nothing).
            logger.debug("sync cancelled")
        } catch let error as ChannelError {
            logger.debug("connection failed", metadata: ["error": "\(error)"])
        } catch let error as NIOSSLError {
            // A peer that does not speak TLS, or distrusts this certificate: nothing to answer in plain text.
            logger.info("TLS handshake failed", metadata: ["error": "\(error)"])
        } catch let error as BoringSSLError {
            logger.info("TLS handshake failed", metadata: ["error": "\(error)"])
        } catch {
            // The server's own trouble (storage, most likely): say so, so the kiosk retries later. If the connection
            // is what failed, this write fails too, quietly.
            var metadata: Logger.Metadata = ["error": "\(error)"]
            if let cause = (error as? ReplicaStoreError)?.cause { metadata["cause"] = "\(String(reflecting: cause))" }
            logger.error("sync failed", metadata: metadata)
            try? await outbound.write(.error(ProtocolError(.internalError, "the server could not complete the sync")))
        }
    }

    /// The next message; a frame that did not decode, or the end of the stream, is an error.
    ///
    /// While pushes commit, the frame is read by a task of its own, and each push is answered as soon as it is
    /// done, in order: a kiosk waiting for an acknowledgement before it sends more gets it.
    private mutating func next() async throws -> SyncMessage {
        let read: SyncFrame?
        if pushes.isEmpty && reading == nil {
            read = try await inbound.next()
        } else {
            read = try await nextWhileCommitting()
        }
        guard let frame = read else {
            throw ProtocolError(.unexpectedMessage, "the connection closed in the middle of a sync")
        }
        switch frame {
        case .message(.error(let error)):
            throw ProtocolError(.unexpectedMessage, "the client reported \(error)")
        case .message(let message):
            return message
        case .invalid(let error):
            throw error
        }
    }

    /// Reads the next frame while pushes commit: answers each push once it is done (oldest first) until the frame
    /// is there. Past ``maximumPipelinedPushes`` the frame is read only once the oldest push is answered.
    private mutating func nextWhileCommitting() async throws -> SyncFrame? {
        while true {
            try await answerDonePushes()
            if let frame = progress.takeFrame() {
                reading = nil
                return try frame.get()
            }
            if reading == nil && pushes.count < Self.maximumPipelinedPushes {
                let inbound = self.inbound
                let progress = self.progress
                reading = Task {
                    let frame: Result<SyncFrame?, any Error>
                    do { frame = .success(try await inbound.next()) } catch { frame = .failure(error) }
                    progress.frameRead(frame)
                }
            }
            try await waitForProgress()
        }
    }

    /// Waits until a push is done or the frame is read; a cancelled session stops waiting.
    private mutating func waitForProgress() async throws {
        // The signal is only a wake-up: the results are in `progress`, checked again by the caller.
        guard await progressSignals.next() != nil else { throw CancellationError() }
    }

    /// `amount` in whole seconds, rounded up, for a message.
    static func seconds(_ amount: TimeAmount) -> Int64 {
        (amount.nanoseconds + 999_999_999) / 1_000_000_000
    }

    /// Starts merging a pushed batch behind the pushes started before it; its answer goes out once it is done.
    private mutating func startPush(batch: Int, records: [VersionedRecord], from kiosk: ServerSession.Kiosk) {
        let push = PipelinedPush(batch: batch, kiosk: kiosk)
        let previous = lastQueued
        let store = self.store
        let progress = self.progress
        lastQueued = Task {
            // In the order the kiosk sent them: this push takes its place once the one before has its own.
            await previous?.value
            await store.enqueuePush(records, from: kiosk.replicaID, store: kiosk.storeID) { outcome in
                push.finish(outcome)
                progress.pushDone()
            }
        }
        pushes.append(push)
    }

    /// Writes the answers of the oldest pushes that are done, in order, up to the first still committing.
    private mutating func answerDonePushes() async throws {
        while let oldest = pushes.first, let outcome = oldest.outcome {
            pushes.removeFirst()
            try await answer(oldest.batch, outcome, from: oldest.kiosk)
        }
    }

    /// Answers every push started, waiting for those still committing: what follows a push sees it merged.
    private mutating func answerAllPushes() async throws {
        while true {
            try await answerDonePushes()
            if pushes.isEmpty { return }
            try await waitForProgress()
        }
    }

    /// Drives the conversation's state machine (``ServerSession``, SyncCore): reads messages, does what it says —
    /// storage on the storage threads, frames on the channel — and hands it the answers. No protocol rule is
    /// decided here.
    private mutating func converse() async throws {
        var session = ServerSession(sessions, makeNonce: makeNonce)
        var started = ContinuousClock.now
        var watching: Task<SyncMessage?, Never>?
        defer { watching?.cancel() }
        while true {
            let message: SyncMessage
            do {
                message = try await next()
            } catch let error as ProtocolError where session.authenticatedKiosk != nil && !error.code.closesConnection {
                // A bad record or an oversized batch spoils that request only: refuse it and carry on.
                metrics.refused(error.code.rawValue)
                try await answerAllPushes()
                try await outbound.write(.error(error))
                continue
            } catch let error as ProtocolError where watching != nil && feedWatch.isClosed {
                // The kiosk closed the connection after the shutdown's `bye`.
                logger.debug("watching kiosk left", metadata: ["reason": "\(error.message)"])
                return
            }
            var actions: [ServerSession.Action]
            do {
                actions = try session.receive(message)
            } catch {
                // A request that closes the connection still ends the watch first, and answers the pushes before
                // it: their answers go out before the error, in the order of requests.
                try await answerAllPushes()
                try? await end(&watching)
                throw error
            }
            while !actions.isEmpty {
                let action = actions.removeFirst()
                // Pushes are pipelined; anything else is answered, or done, after every push before it.
                if case .push = action {} else { try await answerAllPushes() }
                switch action {
                case .send(let reply):
                    try await outbound.write(reply)
                case .lookUpKiosk(let kiosk):
                    let enrolled = try await store.enrolledKiosk(kiosk.replicaID.rawValue)
                    actions += try session.kioskFound(
                        publicKey: enrolled?.publicKey,
                        revoked: enrolled?.revokedAt != nil
                    )
                case .redeem(let enrollment):
                    do {
                        try await store.redeemEnrollment(
                            store: enrollment.kiosk.storeID,
                            kiosk: enrollment.kiosk.kioskID,
                            publicKey: enrollment.publicKey,
                            proves: enrollment.proves
                        )
                    } catch let refusal as EnrollmentRefused {
                        throw ProtocolError(.enrollmentRefused, refusal.message)
                    }
                    logger.info("kiosk enrolled", metadata: ["kiosk": "\(enrollment.kiosk.replicaID)"])
                    actions += try session.enrolled()
                case .admit(let kiosk):
                    actions += try session.admitted(
                        admit(kiosk.replicaID.rawValue),
                        serverTime: Date().millisecondsSince1970
                    )
                case .endWatch:
                    try await end(&watching)
                case .syncStarted:
                    started = ContinuousClock.now
                case .syncEnded(let kiosk, let version):
                    try await syncEnded(kiosk.replicaID.rawValue, version: version, since: started)
                case .push(let kiosk, let batch, let records):
                    if let limit = pushBacklogLimit, let backlog = store.pushBacklog, backlog > limit {
                        // It would wait longer than the kiosk waits for its answer, and be committed after the
                        // kiosk gave up (and sent it again). The pushes before it are answered first, in turn.
                        try await answerAllPushes()
                        throw ProtocolError(
                            .serverBusy,
                            "the server has about \(Self.seconds(backlog)) s of pushes to commit, more than its limit of "
                                + "\(Self.seconds(limit)) s; nothing of batch \(batch) was stored: retry later"
                        )
                    }
                    startPush(batch: batch, records: records, from: kiosk)
                case .pull(let kiosk, let cursor, let limit, let wantsEstimate):
                    let page = try await store.encodedFeed(
                        store: kiosk.storeID,
                        after: cursor,
                        limit: limit,
                        requester: kiosk.replicaID,
                        estimating: wantsEstimate
                    )
                    try await outbound.write(
                        .encodedPullBatch(
                            records: page.records,
                            cursor: String(page.next),
                            more: page.more,
                            estimate: page.estimate.map { max($0, page.records.count) }
                        )
                    )
                case .fetch(let kiosk, let ids):
                    let records = try await store.storeReturns(ids, store: kiosk.storeID)
                    let found = Set(records.map(\.id))
                    try await outbound.write(
                        .fetched(records: records, missing: ids.map(\.rawValue).filter { !found.contains($0) })
                    )
                case .watch(let kiosk, let cursor, let seconds):
                    watching = watch(store: kiosk.storeID, after: cursor, seconds: seconds, requester: kiosk.replicaID)
                case .attachmentOffer(let kiosk, let digest):
                    try await answerAttachment(digest) {
                        guard let state = try await $0.attachmentState(digest, store: kiosk.storeID) else {
                            throw AttachmentRules.unknown(digest)
                        }
                        return state.acknowledgement
                    }
                case .attachmentPut(let kiosk, let digest, let offset, let data):
                    try await answerAttachment(digest) { [metrics] in
                        let state = try await $0.appendAttachmentChunk(
                            digest,
                            store: kiosk.storeID,
                            offset: offset,
                            bytes: Data(data)
                        )
                        metrics.attachmentBytesReceived.increment(by: data.count)
                        return state.acknowledgement
                    }
                case .attachmentGet(let kiosk, let digest, let offset):
                    try await answerAttachment(digest) {
                        let (state, bytes) = try await $0.attachmentData(
                            digest,
                            store: kiosk.storeID,
                            offset: offset,
                            limit: AttachmentRules.dataChunk
                        )
                        return .attachmentData(
                            digest: digest,
                            offset: Int(offset),
                            size: Int(state.size),
                            data: Array(bytes)
                        )
                    }
                case .close:
                    return
                }
            }
        }
    }

    /// Ends an outstanding watch and writes its answer (`quiet`, or `changed` if the feed changed meanwhile), so it
    /// goes out before the answer of the request that ended it.
    private func end(_ watching: inout Task<SyncMessage?, Never>?) async throws {
        guard let watch = watching else { return }
        watching = nil
        watch.cancel()
        if let answer = await watch.value { try await outbound.write(answer) }
    }

    /// Answers a merged (or refused) push; a refusal keeps the connection, any other failure ends it.
    private func answer(
        _ batch: Int,
        _ result: Result<PushOutcome, any Error>,
        from kiosk: ServerSession.Kiosk
    ) async throws {
        do {
            let outcome = try result.get()
            metrics.recordsMerged.increment(by: outcome.merged)
            metrics.conflicts.increment(by: outcome.conflicts.count)
            // Other kiosks of the store may be watching: they pull this at once.
            if outcome.merged > 0 { feedWatch.changed(store: kiosk.storeID.rawValue) }
            try await outbound.write(
                .pushAck(
                    batch: batch,
                    merged: outcome.merged,
                    unchanged: outcome.unchanged,
                    conflicts: outcome.conflicts
                )
            )
        } catch let rejection as PushRejection {
            let code = ProtocolError.Code(rejection.reason)
            metrics.refused(code.rawValue)
            try await outbound.write(.error(ProtocolError(code, rejection.message, recordID: rejection.recordID)))
        }
    }

    /// Answers an attachment request; a refusal by the rules (an unknown digest, a chunk out of order, bytes that do
    /// not hash to their digest) is answered with its error and keeps the connection.
    private func answerAttachment(
        _ digest: String,
        _ body: (any SyncServerStorage) async throws -> SyncMessage
    ) async throws {
        do {
            try await outbound.write(try await body(store))
        } catch let refusal as ProtocolError where !refusal.code.closesConnection {
            metrics.refused(refusal.code.rawValue)
            logger.info(
                "attachment request refused",
                metadata: ["digest": "\(digest)", "code": "\(refusal.code.rawValue)"]
            )
            try await outbound.write(.error(refusal))
        }
    }

    /// Records a completed sync: the kiosk's last sync time and protocol version, and the metrics.
    private func syncEnded(_ replicaText: String, version: Int, since started: ContinuousClock.Instant) async throws {
        try await store.noteSync(of: replicaText, protocolVersion: version)
        metrics.syncs.increment()
        let elapsed = (ContinuousClock.now - started).components
        metrics.syncDuration.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }

    /// Waits, in its own task, until the store's feed holds something after `cursor` for `requester` (answers
    /// `changed`), `seconds` pass or the task is cancelled by the kiosk's next request (answers `quiet`). On server
    /// shutdown it answers `bye` and closes the connection. A cancelled watch returns its answer for the session to
    /// write; one that wrote its answer returns `nil`.
    private func watch(
        store storeID: StoreID,
        after cursor: Int64,
        seconds: Int,
        requester: ReplicaID
    ) -> Task<SyncMessage?, Never> {
        let feedWatch = self.feedWatch
        let outbound = self.outbound
        let metrics = self.metrics
        let logger = self.logger
        let store = self.store
        return Task {
            metrics.watching.increment()
            defer { metrics.watching.decrement() }
            let deadline = ContinuousClock.now + .seconds(seconds)
            var changed = false
            while true {
                let mark = feedWatch.mark(for: storeID.rawValue)
                do {
                    // In a task of its own, which the watch's cancellation does not reach: the check after the
                    // kiosk's next request cancelled the watch must still run, or a change would be answered `quiet`.
                    let page = try await Task {
                        try await store.encodedFeed(store: storeID, after: cursor, limit: 1, requester: requester)
                    }.value
                    changed = !page.records.isEmpty
                } catch {
                    logger.warning("cannot read the feed for a watch", metadata: ["error": "\(error)"])
                }
                if changed || Task.isCancelled || feedWatch.isClosed || ContinuousClock.now >= deadline { break }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await feedWatch.wait(for: storeID.rawValue, after: mark) }
                    group.addTask { try? await Task.sleep(until: deadline) }
                    await group.next()
                    group.cancelAll()
                }
            }
            if !changed && feedWatch.isClosed && !Task.isCancelled {
                // Shutting down: the kiosk reconnects later (to this server restarted, or another).
                try? await outbound.write(.bye)
                outbound.finish()
                return nil
            }
            let answer: SyncMessage = changed ? .changed : .quiet
            // A cancelled task cannot write (the writer refuses it): the session writes the answer then.
            guard !Task.isCancelled else { return answer }
            do {
                try await outbound.write(answer)
                return nil
            } catch {
                return Task.isCancelled ? answer : nil
            }
        }
    }
}

extension EnrollmentToken {
    /// How long a token stays valid by default: a week.
    public static let defaultValidity: TimeInterval = 7 * 86_400

    /// The fingerprint of the identity key of the server whose database is `replica` (made on first use).
    public static func serverKeyFingerprint(of replica: any SyncServerStorage) async throws -> String {
        try serverKeyFingerprint(identitySeed: await replica.serverIdentitySeed())
    }

    /// The fingerprint of the identity key of the SQLite server database `replica`, for tools and tests that hold one.
    public static func serverKeyFingerprint(of replica: ReplicaStore) throws -> String {
        try serverKeyFingerprint(identitySeed: replica.serverIdentitySeed())
    }

    /// Issues a token for kiosk `kiosk` of store `store`, valid for `validity` seconds, and records it in `replica`
    /// (its hash and the public key it derives, never the secret). Earlier unused tokens of that kiosk stop working.
    public static func issue(
        in replica: any SyncServerStorage,
        store: StoreID,
        kiosk: KioskID,
        validFor validity: TimeInterval = defaultValidity
    ) async throws -> EnrollmentToken {
        let token = make(serverKeyFingerprint: try await serverKeyFingerprint(of: replica))
        try await replica.createEnrollment(
            tokenHash: token.hash,
            tokenKey: token.proofKey.publicKey.rawRepresentation,
            store: store,
            kiosk: kiosk,
            expiresAt: Date().addingTimeInterval(validity)
        )
        return token
    }

    /// ``issue(in:store:kiosk:validFor:)`` on a SQLite server database directly, for tools and tests that hold one
    /// and run no event loop (the storage protocol is asynchronous; these callers are not).
    public static func issue(
        in replica: ReplicaStore,
        store: StoreID,
        kiosk: KioskID,
        validFor validity: TimeInterval = defaultValidity
    ) throws -> EnrollmentToken {
        let token = make(serverKeyFingerprint: try serverKeyFingerprint(of: replica))
        try replica.createEnrollment(
            tokenHash: token.hash,
            tokenKey: token.proofKey.publicKey.rawRepresentation,
            store: store,
            kiosk: kiosk,
            expiresAt: Date().addingTimeInterval(validity)
        )
        return token
    }

    /// The fingerprint of the server identity key made from `seed`: one derivation for every storage.
    static func serverKeyFingerprint(identitySeed seed: Data) throws -> String {
        fingerprint(of: try Curve25519.Signing.PrivateKey(rawRepresentation: seed).publicKey.rawRepresentation)
    }
}

/// Closes a connection when `IdleStateHandler` reports that nothing was read for the idle timeout.
final class CloseOnIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Per-kiosk token buckets: each kiosk may start `perMinute` syncs in a burst, and one more every 60/`perMinute`
/// seconds after that.
final class RateLimiter: Sendable {
    private let perMinute: Int
    private let buckets = Mutex<[String: (tokens: Double, refilled: NIODeadline)]>([:])

    init(perMinute: Int) {
        self.perMinute = max(1, perMinute)
    }

    /// Takes a token for `key`; `false` when its bucket is empty.
    func admit(_ key: String, now: NIODeadline = .now()) -> Bool {
        buckets.withLock { buckets in
            let capacity = Double(perMinute)
            var bucket = buckets[key] ?? (capacity, now)
            let elapsed = Double((now - bucket.refilled).nanoseconds) / 1e9
            bucket.tokens = min(capacity, bucket.tokens + elapsed * capacity / 60)
            bucket.refilled = now
            let admitted = bucket.tokens >= 1
            if admitted { bucket.tokens -= 1 }
            buckets[key] = bucket
            // Full buckets carry no information: dropping them keeps the table as small as the busy kiosks.
            if buckets.count > 10_000 { buckets = buckets.filter { $0.value.tokens < capacity - 1 } }
            return admitted
        }
    }
}
