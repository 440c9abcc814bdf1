import Foundation
import Logging
import ReplicaStore
import ServiceLifecycle
import SyncCore
import SyncEngine
import Synchronization
import WireProtocol

/// Exponential backoff with jitter: the wait before the next attempt doubles from `initial` up to `maximum`, and
/// each wait is drawn from its upper half, so a fleet cut off together does not come back in step.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    /// Failed attempts since the last success.
    public private(set) var attempt = 0
    private let jitter: @Sendable () -> Double

    /// Creates a backoff; `jitter` returns a number in 0…1 (random by default).
    public init(
        initial: Duration,
        maximum: Duration,
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.jitter = jitter
    }

    /// The cap of the next wait, without jitter.
    public var ceiling: Duration {
        // 2^attempt overflows long before it matters: the cap is reached after a few dozen attempts.
        let factor = attempt >= 40 ? Double(1 << 40) : Double(1 << attempt)
        return min(maximum, initial * factor)
    }

    /// The wait before the next attempt: from half the ceiling to the ceiling.
    public mutating func next() -> Duration {
        let cap = ceiling
        attempt += 1
        return cap * (0.5 + 0.5 * min(1, max(0, jitter())))
    }

    /// After a success, the next failure waits `initial` again.
    public mutating func reset() {
        attempt = 0
    }
}

/// Keeps a kiosk in sync by itself: syncs on start, soon after every local change, whenever the server says its
/// store changed (live push, protocol version 2), and on a schedule; retries with ``Backoff`` while the server
/// is unreachable. Offline is normal: the kiosk keeps working on its own database meanwhile.
///
/// Run it in a `ServiceGroup`: on graceful shutdown (SIGTERM) it finishes the sync in flight, says `bye` and
/// returns. Outside one, cancel the task running it. Nothing is lost by stopping at any point: a kiosk's data is durable before the agent sees it, and
/// what the server has not acknowledged is pushed again next time.
public final class SyncAgent: Service, Sendable {
    /// How the agent behaves.
    public struct Configuration: Sendable {
        /// The server, `HOST:PORT`; `nil` uses the one the kiosk was initialised with.
        public var server: String?
        /// A full sync at least this often, live push or not.
        public var interval: Duration
        /// How often the kiosk's database is checked for changes to push.
        public var changeCheckInterval: Duration
        /// The first wait after a failed sync.
        public var initialBackoff: Duration
        /// The longest wait between attempts.
        public var maximumBackoff: Duration
        /// Stay connected and let the server push its changes (when it speaks protocol version 2).
        public var live: Bool
        /// How long one `watch` waits (1–50 s; renewed while nothing happens).
        public var watchSeconds: Int

        /// Creates a configuration.
        public init(
            server: String? = nil,
            interval: Duration = .seconds(300),
            changeCheckInterval: Duration = .seconds(1),
            initialBackoff: Duration = .seconds(1),
            maximumBackoff: Duration = .seconds(300),
            live: Bool = true,
            watchSeconds: Int = 25
        ) {
            self.server = server
            self.interval = interval
            self.changeCheckInterval = changeCheckInterval
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.live = live
            self.watchSeconds = min(max(1, watchSeconds), maximumWatchSeconds)
        }
    }

    /// What the agent did, for a kiosk app's status display (and tests).
    public enum Event: Sendable {
        /// A sync completed.
        case synced(SyncReport)
        /// Connected and waiting for the server's changes.
        case watching
        /// A sync failed; the next attempt follows after `retryIn`.
        case offline(SyncError, retryIn: Duration)
        /// The agent returned.
        case stopped
    }

    private let client: SyncClient
    private let configuration: Configuration
    private let logger: Logger
    private let onEvent: @Sendable (Event) -> Void
    private let jitter: @Sendable () -> Double
    /// The open session's event sink, to wake it.
    private let sink = Mutex<AsyncStream<ConnectionEvent>.Continuation?>(nil)
    private let stopping = Atomic(false)

    /// Creates an agent syncing `client`'s kiosk.
    public init(
        client: SyncClient,
        configuration: Configuration = Configuration(),
        logger: Logger,
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        onEvent: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.jitter = jitter
        self.onEvent = onEvent
    }

    /// Tells the agent the kiosk's database changed, so it syncs now rather than at its next check. A kiosk app
    /// embedding the agent calls this after each capture; `kiosk agent` notices changes by itself.
    public func localChangeHappened() {
        sink.withLock { $0 }?.yield(.wake(.localChange))
    }

    /// On graceful shutdown: the sync in flight finishes, a waiting session says `bye`.
    private func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        sink.withLock { $0 }?.yield(.wake(.shutdown))
    }

    private var isStopping: Bool {
        stopping.load(ordering: .sequentiallyConsistent) || Task.isCancelled || Task.isShuttingDownGracefully
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.watchLocalChanges() }
                await self.loop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        onEvent(.stopped)
        logger.info("sync agent stopped")
    }

    /// Connects, syncs and stays connected until the connection fails; then waits out the backoff and again.
    private func loop() async {
        var backoff = Backoff(
            initial: configuration.initialBackoff,
            maximum: configuration.maximumBackoff,
            jitter: jitter
        )
        while !isStopping {
            do {
                let stayedConnected = try await client.withSession(server: configuration.server, register: register) {
                    session in
                    try await self.serve(&session, backoff: &backoff)
                }
                if !stayedConnected { await idle() }
            } catch {
                if isStopping { break }
                let failure = error as? SyncError ?? SyncError("\(error)")
                let delay = backoff.next()
                logger.notice(
                    "sync failed; retrying",
                    metadata: [
                        "error": "\(failure.message)", "retry-in": "\(Self.seconds(delay)) s",
                        "attempt": "\(backoff.attempt)",
                    ]
                )
                onEvent(.offline(failure, retryIn: delay))
                await sleep(for: delay)
            }
        }
    }

    private func register(_ continuation: AsyncStream<ConnectionEvent>.Continuation?) {
        sink.withLock { $0 = continuation }
        // Stopped while connecting: the new session learns it at once.
        if let continuation, stopping.load(ordering: .sequentiallyConsistent) { continuation.yield(.wake(.shutdown)) }
    }

    /// Syncs on an open session, then keeps it for live pushes. Returns whether it stayed connected (`false`: the
    /// server speaks version 1 or live push is off, so the agent polls between syncs).
    private func serve(_ session: inout Session, backoff: inout Backoff) async throws -> Bool {
        try await syncRound(&session)
        backoff.reset()
        guard configuration.live, session.core.version >= 2 else {
            try await client.bye(&session)
            return false
        }
        var lastRound = ContinuousClock.now
        var announced = false
        while true {
            if session.conversation.wakes.contains(.shutdown) || isStopping {
                try await client.bye(&session)
                return true
            }
            let wokenByChange = session.conversation.wakes.contains(.localChange)
            let local = wokenByChange ? try await client.storage { try $0.hasUnpushedChanges() } : false
            if local || session.core.watchSawChange || ContinuousClock.now - lastRound >= configuration.interval {
                session.conversation.wakes.remove(.localChange)
                try await syncRound(&session)
                lastRound = ContinuousClock.now
                continue
            }
            session.conversation.wakes.remove(.localChange)
            try await client.perform(session.core.watch(seconds: configuration.watchSeconds), &session)
            if !announced {
                announced = true
                logger.info("connected; waiting for changes")
                onEvent(.watching)
            }
            // Until the watch is answered, or something here needs a sync (the next request ends the watch, and
            // the conversation takes its answer in passing).
            waiting: while session.core.isWatching {
                switch try await session.conversation.nextEvent() {
                case .message(let message):
                    // The watch's answer; anything else from a server the kiosk waits on ends the session.
                    try await client.perform(try session.core.receive(message), &session)
                case .wake(.localChange):
                    if try await client.storage({ try $0.hasUnpushedChanges() }) {
                        session.conversation.wakes.insert(.localChange)
                        break waiting
                    }
                case .wake(.shutdown):
                    session.conversation.wakes.insert(.shutdown)
                    break waiting
                }
            }
        }
    }

    /// One round, logged and reported; a change made here meanwhile gets another round at once.
    private func syncRound(_ session: inout Session) async throws {
        let start = ContinuousClock.now
        let (sentBefore, receivedBefore) = session.bytes.totals
        var report = try await client.round(&session)
        // The connection's counters run on across rounds: this round's share.
        let (sent, received) = session.bytes.totals
        (report.bytesSent, report.bytesReceived) = (sent - sentBefore, received - receivedBefore)
        // A live session runs a round for every change; pruning is due at most once an hour.
        report.pruned = try await client.pruneIfDue()
        if let pruned = report.pruned, !pruned.isEmpty {
            logger.info(
                "pruned",
                metadata: [
                    "returns": "\(pruned.returns)", "orderLines": "\(pruned.orderLines)",
                    "histories": "\(pruned.histories)",
                    "retentionDays": "\(pruned.retentionDays)",
                ]
            )
        }
        if report.pushed > 0 || report.pulled > 0 || !report.conflicts.isEmpty {
            logger.info(
                "synced",
                metadata: [
                    "pushed": "\(report.pushed)", "pulled": "\(report.pulled)",
                    "conflicts": "\(report.conflicts.count)",
                    "seconds": "\(Self.seconds(ContinuousClock.now - start))",
                ]
            )
        } else {
            logger.debug("synced; nothing new")
        }
        onEvent(.synced(report))
    }

    /// Between syncs without a live connection: returns at the next local change or when the interval is up.
    private func idle() async {
        let until = ContinuousClock.now + configuration.interval
        while !isStopping && ContinuousClock.now < until {
            await sleep(for: min(configuration.changeCheckInterval, until - ContinuousClock.now))
            if (try? await client.storage { try $0.hasUnpushedChanges() }) == true { return }
        }
    }

    /// While connected, checks the kiosk's database for changes of its own (captures by `kiosk` commands in other
    /// processes) and wakes the session.
    private func watchLocalChanges() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.changeCheckInterval)
            } catch {
                return
            }
            guard let sink = sink.withLock({ $0 }) else { continue }
            if (try? await client.storage { try $0.hasUnpushedChanges() }) == true { sink.yield(.wake(.localChange)) }
        }
    }

    /// Sleeps, ending early on graceful shutdown or cancellation.
    private func sleep(for duration: Duration) async {
        guard duration > .zero else { return }
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: duration)
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
