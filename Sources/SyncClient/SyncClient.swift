import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ReplicaStore
import ReturnsModel
import ReturnsSync
import SyncCore
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
    /// Attachments whose bytes the server now holds whole, sent in this sync (or found there already).
    public var attachmentsSent = 0
    /// Bytes of attachments sent in this sync.
    public var attachmentBytesSent: Int64 = 0
    /// Attachments the server would not take this time (their return is not there, say): sent by a later sync.
    public var attachmentsWaiting: [AttachmentRefusal] = []
    /// The server's clock next to this kiosk's, and what the kiosk did about it (`nil`: the server did not say its
    /// time — before release 0.4.0 — or no round ran).
    public var clock: ClockAdjustment?
    /// What the store's retention let go once the sync completed (``ReplicaStore/prune(limit:)``); `nil` when no
    /// pruning ran (a round of a live session between the agent's hourly prunes).
    public var pruned: PruneReport?

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
    static let pushWindow = 8

    /// Attachments read to send at a time.
    static let attachmentPage = 50

    let store: ReplicaStore
    private let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let batchSize: Int
    let responseTimeout: TimeAmount
    private let progress: (@Sendable (SyncProgress) -> Void)?
    /// When this client (and its copies) last pruned: ``pruneIfDue()``.
    private let lastPrune = PruneSchedule()

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
        if let trustedCAPEM { _ = try tlsContext(trusting: trustedCAPEM) }
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

    /// The client TLS context trusting only the CA in `pem`.
    static func tlsContext(trusting pem: String) throws(SyncError) -> NIOSSLContext {
        do {
            return try SyncTLS.clientContext(trusting: pem)
        } catch {
            throw SyncError(error.message, cause: error)
        }
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
            try await bye(&session)
            (report.bytesSent, report.bytesReceived) = session.bytes.totals
            report.pruned = try await pruneIfDue()
            return report
        }
    }

    /// Lets go what the store's retention allows now that HQ acknowledged everything up to the sync: closed and
    /// voided returns past the window, order lines past theirs (``ReplicaStore/prune(limit:)``; at most 2,000 of
    /// each a time, so a kiosk that was never pruned catches up over a few syncs).
    public func prune() async throws -> PruneReport {
        try await storage { try $0.prune() }
    }

    /// ``prune()`` after a completed sync, at most once an hour per client: a long-lived client (the agent, an app)
    /// syncs often and the retention is counted in days, so an idle sync stays one round trip and no more; a
    /// `kiosk sync` run is a client of its own, and prunes every time. `nil` when it was not due.
    public func pruneIfDue() async throws -> PruneReport? {
        guard lastPrune.claim(every: .seconds(3_600)) else { return nil }
        return try await prune()
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
        do {
            return try await connect(credentials, address: address, recovering: false, register: register, body)
        } catch let error as SyncError
            where error.serverError?.code == .enrollmentRefused && credentials.enrolledAt == nil
        {
            // A sync cut between the server's welcome and this kiosk storing its enrollment (a crash, a power cut)
            // spent the token: the server may hold this kiosk's key already, and the key's signature alone is then
            // enough. If it is not, the server refuses and the original refusal stands.
            do {
                return try await connect(credentials, address: address, recovering: true, register: register, body)
            } catch let retry as SyncError where retry.serverError?.code == .authenticationFailed {
                throw error
            }
        }
    }

    /// Connects to `address`, authenticates and runs `body` with the session; closes the connection after.
    ///
    /// - Parameter recovering: authenticate as enrolled although the credentials hold a token not yet marked spent
    ///   (``withSession(server:register:_:)`` says when).
    private func connect<T: Sendable>(
        _ credentials: SyncCredentials,
        address: String,
        recovering: Bool,
        register: @Sendable (AsyncStream<ConnectionEvent>.Continuation?) -> Void,
        _ body: (inout Session) async throws -> T
    ) async throws -> T {
        let (host, port) = try Self.parse(address)
        let core = try sessionConfiguration(credentials, address: address, recovering: recovering)
        let channel: NIOAsyncChannel<KioskFrame, SyncMessage>
        let responseTimeout = self.responseTimeout
        let tls = try credentials.trustedCAPEM.map(Self.tlsContext(trusting:))
        let counter = ByteCounter()
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addSyncTLSClient(tls, host: host) }
                        try channel.pipeline.syncOperations.addHandler(counter)
                        try channel.pipeline.syncOperations.addKioskProtocolHandlers()
                        // A server that stops answering (stalled, gone without a FIN, or trickling bytes that make
                        // no frame) fails the sync after the timeout instead of holding it forever.
                        try channel.pipeline.syncOperations.addHandler(
                            FrameIdleHandler(timeout: responseTimeout, reportsTimeout: true)
                        )
                        return try NIOAsyncChannel<KioskFrame, SyncMessage>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw SyncError(
                "cannot reach the server at \(address) (\(Self.reason(error))); the returns stay here and will be sent "
                    + "on the next sync",
                cause: error
            )
        }
        // The conversation runs on the channel's event loop, where its frames are read and its messages written: two
        // thread wake-ups fewer a message than on Swift's global executor (EventLoopTaskExecutor). Storage calls
        // still run on their own threads.
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(channel.channel.eventLoop)) {
            try await converse(
                on: channel,
                credentials: credentials,
                core: core,
                usesTLS: tls != nil,
                counter: counter,
                register: register,
                body
            )
        }
    }

    /// The conversation on a connected channel: the server's frames read by a task of their own, the session run
    /// with `body`; closes the channel after.
    private func converse<T: Sendable>(
        on channel: NIOAsyncChannel<KioskFrame, SyncMessage>,
        credentials: SyncCredentials,
        core: ClientSession.Configuration,
        usesTLS: Bool,
        counter: ByteCounter,
        register: @Sendable (AsyncStream<ConnectionEvent>.Continuation?) -> Void,
        _ body: (inout Session) async throws -> T
    ) async throws -> T {
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
                        for try await frame in inbound {
                            switch frame {
                            case .pullBatch(let pulled):
                                // Its records are decoded by the page's preparation: the session asks for the next
                                // page meanwhile (PullBatchEnvelope).
                                let envelope = pulled.envelope
                                let message = SyncMessage.pullBatch(
                                    records: [],
                                    cursor: envelope.cursor,
                                    more: envelope.more,
                                    estimate: envelope.estimate
                                )
                                sink.yield(.pulled(message, PreparingPull(pulled)))
                            case .frame(.message(let message)):
                                if case .pullBatch(let records, _, _, _) = message, !records.isEmpty {
                                    sink.yield(.pulled(message, PreparingPull(records)))
                                } else {
                                    sink.yield(.frame(.message(message)))
                                }
                            case .frame(let frame):
                                sink.yield(.frame(frame))
                            }
                        }
                        sink.yield(.closed)
                    } catch {
                        sink.yield(.failed(error))
                    }
                    sink.finish()
                }
                var session = Session(
                    core: ClientSession(core),
                    conversation: Conversation(
                        events: events.makeAsyncIterator(),
                        outbound: outbound,
                        usesTLS: usesTLS
                    ),
                    bytes: counter,
                    credentials: credentials
                )
                let result: Result<T, any Error>
                do {
                    try await perform(session.core.start(), &session)
                    while !session.core.isReady {
                        try await perform(try session.core.receive(session.conversation.receive()), &session)
                    }
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

    /// What the kiosk brings to a conversation, from its stored credentials; what it lacks is said before any
    /// connection is made.
    private func sessionConfiguration(
        _ credentials: SyncCredentials,
        address: String,
        recovering: Bool
    ) throws -> ClientSession.Configuration {
        guard let storeID = store.identity.storeID, let kioskID = store.identity.kioskID else {
            throw SyncError("replica \(store.identity.replicaID) is not a kiosk")
        }
        guard let pinned = credentials.serverKeyFingerprint else {
            throw SyncError(
                "this kiosk does not know its server's key (it was set up before servers proved their identity): "
                    + "enroll it again with a new token, 'kiosk enroll --token TOKEN' ('returns-server enroll' issues one)"
            )
        }
        var enrollment: EnrollmentToken?
        if credentials.enrolledAt == nil && !recovering {
            guard let secret = credentials.token, let parsed = try? EnrollmentToken("\(secret).\(pinned)") else {
                throw SyncError(
                    "this kiosk is not enrolled and holds no enrollment token: 'kiosk enroll --token TOKEN'"
                )
            }
            enrollment = parsed
        }
        return ClientSession.Configuration(
            replicaID: store.identity.replicaID.rawValue,
            storeID: storeID.rawValue,
            kioskID: kioskID.rawValue,
            privateKey: credentials.privateKey,
            pinnedServerKey: pinned,
            enrollment: enrollment,
            batchSize: batchSize,
            pushWindow: Self.pushWindow,
            // Asked at every round's first pull (one index range counted by the server, a few bytes each way): a
            // progress display shows it, and a kiosk about to take many returns builds its indexes at the end
            // (PullMerger).
            estimatesPull: true,
            serverAddress: address
        )
    }

    /// One sync on an open session: push everything changed here, then pull everything changed there
    /// (``ClientSession`` decides the order of things; this does the storage work it asks for).
    func round(_ session: inout Session) async throws -> SyncReport {
        // One trip to the storage threads for what every round starts with — the server id to note (after
        // `welcome`), the checkpoint, the first page to push — since each trip costs two thread wake-ups, and an
        // idle sync is little else.
        let serverID = session.serverIDToNote
        let serverClock = session.serverClockToTake
        let capabilities = session.capabilitiesToNote
        session.serverIDToNote = nil
        session.serverClockToTake = nil
        session.capabilitiesToNote = nil
        let start = try await storage { [batchSize] store in
            // Before anything is read to push: writes stamped too far ahead for the server are stamped again.
            try store.startRound(
                serverID: serverID,
                capabilities: capabilities,
                serverClock: serverClock,
                peer: Self.serverPeer,
                limit: batchSize
            )
        }
        let (restarted, clock, checkpoint, firstPage) = (start.restarted, start.clock, start.checkpoint, start.changes)
        if let clock, clock.correction != clock.previous || !clock.restamped.isEmpty {
            logger.notice(
                clock.correction == 0 && clock.restamped.isEmpty
                    ? "this kiosk's clock agrees with the server's again: its correction is lifted"
                    : "this kiosk's clock is off from the server's: stamps and times are corrected by it",
                metadata: [
                    "offset-ms": "\(clock.measured)", "correction-ms": "\(clock.correction)",
                    "restamped": "\(clock.restamped.count)",
                ]
            )
        }
        if restarted {
            logger.notice(
                "the server's id changed: it was restored from a backup; re-sending everything this kiosk holds",
                metadata: ["server-id": "\(serverID ?? "")"]
            )
        }
        session.round = Round(checkpoint: checkpoint, storedCursor: checkpoint.pullCursor)
        session.round.report.clock = clock
        session.round.firstPage = (checkpoint.pushedSeq, firstPage)
        if progress != nil {
            session.round.pushTotal = try await storage { try $0.returnsChanged(after: checkpoint.pushedSeq) }
        }
        do {
            try await perform(
                session.core.startRound(pushedSeq: checkpoint.pushedSeq, pullCursor: checkpoint.pullCursor ?? "0"),
                &session
            )
            while session.core.isInRound {
                try await perform(try session.core.receive(session.conversation.receive()), &session)
            }
        } catch {
            // No merge outlives the sync: the pages received are merged (or their merge fails) before it reports.
            await session.round.merges?.settle()
            throw error
        }
        // Records first, the bytes of photos after: a slow line never holds a return back behind a photo.
        if session.core.version >= 4 { try await uploadAttachments(&session) }
        // The server's merge of a push and this kiosk's merge of the pull can both detect one conflict.
        var report = session.round.report
        var seen = Set<SyncMessage.RecordField>()
        report.conflicts = report.conflicts.filter { seen.insert($0).inserted }
        return report
    }

    /// Says goodbye and waits for the server's, taking a watch's answer in passing.
    func bye(_ session: inout Session) async throws {
        try await perform(session.core.bye(), &session)
        while let message = try? await session.conversation.receive() {
            guard let actions = try? session.core.receive(message), !actions.contains(.close) else { return }
        }
    }

    /// Does what the session asks; a storage answer goes back to the session at once, and what it asks then is
    /// done next. Returns when the session waits for the server.
    func perform(_ actions: [ClientSession.Action], _ session: inout Session) async throws {
        var pending = Array(actions.reversed())
        while let action = pending.popLast() {
            var next: [ClientSession.Action] = []
            switch action {
            case .send(let message):
                try await session.conversation.send(message)
            case .welcomed(let serverID, _):
                // Enrolled now, or found enrolled already after a cut first sync: the token is spent either way.
                if session.credentials.enrolledAt == nil {
                    var saved = session.credentials
                    saved.token = nil
                    saved.enrolledAt = Date()
                    try await storage { [saved] in try $0.saveSyncCredentials(saved) }
                }
                // Noted as the first round starts, in the same trip to the storage threads as its first reads.
                session.serverIDToNote = serverID
                session.capabilitiesToNote = session.core.capabilities
                if let serverTime = session.core.serverTime {
                    session.serverClockToTake = (serverTime, store.uncorrectedWallClock())
                }
            case .readChanges(let after, let limit):
                let page: [(seq: Int64, entityType: String, json: String)]
                if let first = session.round.firstPage, first.after == after {
                    page = first.page
                } else {
                    page = try await storage { try $0.encodedChanges(since: after, limit: limit) }
                }
                session.round.firstPage = nil
                next = session.core.changesRead(
                    page.map { ClientSession.StoredChange(seq: $0.seq, entityType: $0.entityType, json: $0.json) }
                )
            case .setAside(let recordID, let refusal):
                // Resending this record can never succeed: set it aside (visibly) and push everything else.
                let setAside = try await storage {
                    try $0.quarantine(recordID: recordID, code: refusal.code.rawValue, message: refusal.message)
                }
                if setAside {
                    logger.error(
                        "the server refused a record; it is set aside (kiosk quarantine list)",
                        metadata: [
                            "record": "\(recordID)", "code": "\(refusal.code.rawValue)", "why": "\(refusal.message)",
                        ]
                    )
                    session.round.report.quarantined.append(
                        QuarantinedRecord(
                            entityType: ReturnEntity.entityType,
                            recordID: recordID,
                            code: refusal.code.rawValue,
                            message: refusal.message,
                            quarantinedAt: Date()
                        )
                    )
                }
                next = try session.core.setAside(setAside, refusal: refusal)
            case .acknowledged(let records, let conflicts):
                session.round.report.pushed += records
                session.round.report.conflicts += conflicts
                progress?(
                    SyncProgress(phase: .push, done: session.round.report.pushed, total: session.round.pushTotal)
                )
            case .saveCheckpoint(let pushedSeq):
                session.round.checkpoint.pushedSeq = pushedSeq
                let checkpoint = session.round.checkpoint
                try await storage { try $0.saveCheckpoint(checkpoint) }
            case .merge(let records, let cursor, let estimate):
                // A page whose records are still being decoded comes with none (PullBatchEnvelope): its preparation
                // knows how many.
                let prepared = session.conversation.takePrepared(records)
                let count = prepared?.count ?? records.count
                // An empty page that leaves the cursor where it is stored changes nothing: no commit (most syncs).
                if count == 0 && cursor == session.round.storedCursor { break }
                // The merge runs while the next page is read, and takes the pages that arrived meanwhile with it;
                // the last one's cursor is stored in the same transaction: merged and remembered together or not at
                // all (PullMerger).
                let page = prepared ?? PreparingPull(records)
                let merges = session.round.merges ?? PullMerger(store: store, peer: Self.serverPeer)
                session.round.merges = merges
                try await merges.merge(page, cursor: cursor, estimate: estimate)
                session.round.storedCursor = cursor
                session.round.received += count
                if let estimate { session.round.pullTotal = estimate }
                if count > 0 {
                    progress?(
                        SyncProgress(phase: .pull, done: session.round.received, total: session.round.pullTotal)
                    )
                }
            case .roundEnded(let pushedSeq):
                if let merges = session.round.merges {
                    let outcome = try await merges.finish()
                    session.round.merges = nil
                    for entry in outcome.quarantined {
                        logger.error(
                            "the server's version of a record disagrees with this kiosk's on a write; it is set aside",
                            metadata: [
                                "record": "\(entry.recordID)", "code": "\(entry.code)", "why": "\(entry.message)",
                            ]
                        )
                    }
                    session.round.report.quarantined += outcome.quarantined
                    session.round.report.pulled += outcome.merged
                    session.round.report.conflicts += outcome.conflicts
                }
                // What was just pulled is the server's own state: the push checkpoint moves over it, up to the
                // first change made here meanwhile (by another process, say), in one transaction so such a change
                // is never skipped.
                // The same trip reads the first attachments to send, which come next (two thread wake-ups fewer for
                // an idle sync).
                session.round.firstAttachments = try await storage {
                    try $0.advancePushCheckpoint(overMergesAfter: pushedSeq, peer: Self.serverPeer, syncedAt: Date())
                    return try $0.attachmentsToUpload(after: nil, limit: Self.attachmentPage)
                }
            case .close:
                break  // the caller closes the channel
            }
            pending.append(contentsOf: next.reversed())
        }
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

/// When a client last pruned, shared by its copies.
final class PruneSchedule: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    /// Whether a prune is due — none yet, or none for `interval` — and if so, notes one now.
    func claim(every interval: Duration) -> Bool {
        let now = ContinuousClock.now
        return last.withLock { last in
            guard last.map({ now - $0 >= interval }) ?? true else { return false }
            last = now
            return true
        }
    }
}
