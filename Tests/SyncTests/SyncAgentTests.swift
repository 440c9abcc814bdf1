import Foundation
import Logging
import NIOCore
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ServiceLifecycle
import SyncClient
import SyncEngine
import Testing
import WireProtocol

/// A ``SyncAgent`` running in its own ServiceGroup, with its events in a stream.
final class RunningAgent: Sendable {
    let agent: SyncAgent
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let watchdog: Task<Void, Never>
    let events: AsyncStream<SyncAgent.Event>

    /// Starts the agent; after `limit` seconds it is stopped whatever happens, so a test waiting for an event that
    /// never comes fails (its stream ends) instead of hanging.
    convenience init(
        kiosk: TestKiosk,
        configuration: SyncAgent.Configuration,
        jitter: @escaping @Sendable () -> Double = { 1 },
        limit: Duration = .seconds(60)
    ) {
        self.init(client: kiosk.client, configuration: configuration, jitter: jitter, limit: limit)
    }

    /// Starts an agent for `client`'s kiosk.
    init(
        client: SyncClient,
        configuration: SyncAgent.Configuration,
        jitter: @escaping @Sendable () -> Double = { 1 },
        limit: Duration = .seconds(60)
    ) {
        let (events, sink) = AsyncStream.makeStream(of: SyncAgent.Event.self)
        self.events = events
        let logger = Logger(label: "test.agent", factory: { _ in SwiftLogNoOpLogHandler() })
        agent = SyncAgent(
            client: client,
            configuration: configuration,
            logger: logger,
            jitter: jitter,
            onEvent: { event in
                sink.yield(event)
                if case .stopped = event { sink.finish() }
            }
        )
        let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [], logger: logger)
        self.group = group
        task = Task { try await group.run() }
        watchdog = Task {
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            await group.triggerGracefulShutdown()
        }
    }

    /// Stops the agent gracefully and waits until it returned.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        watchdog.cancel()
    }
}

extension AsyncStream<SyncAgent.Event>.Iterator {
    /// The next event `matching`, or `nil` when the agent stopped first.
    mutating func next(matching: (SyncAgent.Event) -> Bool) async -> SyncAgent.Event? {
        while let event = await next() {
            if matching(event) { return event }
        }
        return nil
    }
}

extension SyncAgent.Event {
    var isWatching: Bool {
        if case .watching = self { return true }
        return false
    }

    var report: SyncReport? {
        if case .synced(let report) = self { return report }
        return nil
    }

    var retryIn: Duration? {
        if case .offline(_, let retryIn) = self { return retryIn }
        return nil
    }
}

@Suite struct SyncAgentTests {
    /// Neither the schedule nor the local check fires during a test: whatever syncs, syncs because of live push.
    static let noPolling = SyncAgent.Configuration(interval: .seconds(3600), changeCheckInterval: .seconds(3600))

    @Test func anHQEditReachesAConnectedKioskWithoutItPolling() async throws {
        let server = try await TestServer(configure: { $0.changePollInterval = .milliseconds(20) })
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let id = try kiosk.record().id
        try await kiosk.sync()

        let running = RunningAgent(kiosk: kiosk, configuration: Self.noPolling)
        var events = running.events.makeAsyncIterator()
        #expect(await events.next(matching: \.isWatching) != nil)

        // HQ edits the return from another process (as `returns-server returns note` does).
        let hq = try ReplicaStore.open(at: server.store.path)
        _ = try hq.updateReturn(id, operation: "note") { item, author, date in
            try item.addNote("call the customer back", by: author, at: date)
        }
        let pushed = await events.next(matching: { ($0.report?.pulled ?? 0) > 0 })
        #expect(pushed?.report?.pulled == 1)
        #expect(try kiosk.store.returnRecord(id) == hq.returnRecord(id))
        #expect(try ProductReturn(record: kiosk.store.returnRecord(id)).notes.map(\.text) == ["call the customer back"])
        try await running.stop()
        try await server.stop()
    }

    @Test func anotherKiosksPushReachesAWatchingKioskOfTheSameStoreAtOnce() async throws {
        // The server's poll for other processes' writes never runs: the push itself wakes the watcher.
        let server = try await TestServer(configure: { $0.changePollInterval = .seconds(3600) })
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let otherStore = try TestKiosk(store: "store-2", kiosk: "a", server: server)
        try await b.sync()

        let running = RunningAgent(kiosk: b, configuration: Self.noPolling)
        var events = running.events.makeAsyncIterator()
        #expect(await events.next(matching: \.isWatching) != nil)
        // Another store's push wakes b, which finds nothing for its store and keeps waiting.
        try otherStore.record()
        try await otherStore.sync()
        let id = try a.record().id
        try await a.sync()
        let pulled = await events.next(matching: { ($0.report?.pulled ?? 0) > 0 })
        #expect(pulled?.report?.pulled == 1)
        #expect(try b.store.returnRecord(id) == a.store.returnRecord(id))
        #expect(try b.store.returnRecords().count == 1, "nothing of store-2")
        try await running.stop()
        try await server.stop()
    }

    @Test func aLocalChangeIsPushedSoonWhileConnected() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        var configuration = Self.noPolling
        configuration.changeCheckInterval = .milliseconds(20)
        let running = RunningAgent(kiosk: kiosk, configuration: configuration)
        var events = running.events.makeAsyncIterator()
        #expect(await events.next(matching: \.isWatching) != nil)
        // A capture by another process (`kiosk record`) on the same database.
        let id = try kiosk.secondProcess().store.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-9"), gtin: GTIN("4006381333931"), reason: .damaged)
        ).id
        let pushed = await events.next(matching: { ($0.report?.pushed ?? 0) > 0 })
        #expect(pushed?.report?.pushed == 1)
        #expect(try server.store.returnRecord(id) == kiosk.store.returnRecord(id))
        try await running.stop()
        try await server.stop()
    }

    @Test func aPhotoAttachedWhileConnectedIsSentAfterItsReturn() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        var configuration = Self.noPolling
        configuration.changeCheckInterval = .milliseconds(20)
        let running = RunningAgent(kiosk: kiosk, configuration: configuration)
        var events = running.events.makeAsyncIterator()
        #expect(await events.next(matching: \.isWatching) != nil)
        // `kiosk record` and `kiosk attach` from another process on the same database.
        let other = try kiosk.secondProcess().store
        let id = try other.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-9"), gtin: GTIN("4006381333931"), reason: .damaged)
        ).id
        let photo = AttachmentSyncTests.photo(400_000, seed: 21)
        try other.attach(photo, to: id)
        let sent = await events.next(matching: { ($0.report?.attachmentsSent ?? 0) > 0 })
        #expect(sent?.report?.attachmentBytesSent == 400_000)
        #expect(try server.store.returnRecord(id) == kiosk.store.returnRecord(id))
        let streamed = Streamed()
        #expect(try server.store.streamAttachment(AttachmentSyncTests.digest(photo)) { streamed.append($0) } != nil)
        #expect(streamed.bytes == photo)
        try await running.stop()
        try await server.stop()
    }

    @Test func whileTheServerIsDownTheAgentBacksOffThenSyncsWhenItIsUp() async throws {
        let first = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: first)
        try await first.stop()
        let id = try kiosk.record().id  // offline: captured all the same

        var configuration = Self.noPolling
        configuration.initialBackoff = .milliseconds(20)
        configuration.maximumBackoff = .milliseconds(160)
        // Jitter at its top: each wait is its ceiling, so the sequence is exact.
        let running = RunningAgent(kiosk: kiosk, configuration: configuration, jitter: { 1 })
        var events = running.events.makeAsyncIterator()
        var waits: [Duration] = []
        while waits.count < 6, let event = await events.next(matching: { $0.retryIn != nil }) {
            waits.append(event.retryIn!)
        }
        #expect(waits == [20, 40, 80, 160, 160, 160].map { Duration.milliseconds($0) })

        let second = try await TestServer(restarting: first)
        let synced = await events.next(matching: { $0.report != nil })
        #expect(synced?.report?.pushed == 1)
        #expect(try second.store.returnRecord(id) == kiosk.store.returnRecord(id))
        try await running.stop()
        try await second.stop()
    }

    @Test func stoppingTheAgentWhileConnectedSaysByeAndLosesNothing() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let running = RunningAgent(kiosk: kiosk, configuration: Self.noPolling)
        var events = running.events.makeAsyncIterator()
        #expect(await events.next(matching: \.isWatching) != nil)
        let id = try kiosk.record().id
        running.agent.localChangeHappened()
        try await running.stop()
        #expect(await events.next(matching: { if case .stopped = $0 { true } else { false } }) != nil)
        // Whether the capture went out before the stop or not, it is either on the server or still waiting to be
        // pushed; the next sync settles it.
        if try server.store.record(entityType: "return", id: id.rawValue) == nil {
            #expect(try kiosk.store.hasUnpushedChanges())
        }
        try await kiosk.sync()
        #expect(try server.store.returnRecord(id) == kiosk.store.returnRecord(id))
        #expect(try server.store.enrolledKiosks().first?.lastSyncAt != nil)
        #expect(
            try server.store.enrolledKiosks().first?.protocolVersion == supportedProtocolVersions.max(),
            "the version it spoke"
        )
        try await server.stop()
    }

    @Test func aServerShuttingDownEndsWatchesAndTheAgentRetries() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        var configuration = Self.noPolling
        configuration.initialBackoff = .milliseconds(20)
        configuration.maximumBackoff = .milliseconds(20)
        let running = RunningAgent(kiosk: kiosk, configuration: configuration)
        var events = running.events.makeAsyncIterator()
        #expect(await events.next(matching: \.isWatching) != nil)
        // Returns only once every connection ended: the watching kiosk was told `bye`.
        try await server.stop()
        let offline = await events.next(matching: { $0.retryIn != nil })
        guard case .offline(let error, _)? = offline else {
            Issue.record("no offline event")
            return
        }
        #expect(error.message.contains("shutting down"))
        try await running.stop()
    }

    @Test func withLivePushOffTheAgentSyncsAfterLocalChanges() async throws {
        // As with a server that only speaks version 1: no connection is kept, local changes are looked for.
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        var configuration = Self.noPolling
        configuration.live = false
        configuration.changeCheckInterval = .milliseconds(20)
        let running = RunningAgent(kiosk: kiosk, configuration: configuration)
        var events = running.events.makeAsyncIterator()
        #expect(await events.next(matching: { $0.report != nil }) != nil)
        try kiosk.record()
        let pushed = await events.next(matching: { ($0.report?.pushed ?? 0) > 0 })
        #expect(pushed?.report?.pushed == 1)
        try await running.stop()
        try await server.stop()
    }
}

@Suite struct BackoffTests {
    @Test func waitsDoubleUpToTheMaximumAndStayInTheUpperHalf() {
        for jitter in [0.0, 0.25, 0.5, 0.999, 1.0] {
            var backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), jitter: { jitter })
            var ceilings: [Duration] = []
            for _ in 0..<8 {
                let ceiling = backoff.ceiling
                let wait = backoff.next()
                ceilings.append(ceiling)
                #expect(wait >= ceiling / 2 && wait <= ceiling, "jitter \(jitter): \(wait) of \(ceiling)")
            }
            #expect(ceilings == [1, 2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
            backoff.reset()
            #expect(backoff.ceiling == .seconds(1))
        }
    }

    @Test func manyAttemptsDoNotOverflow() {
        var backoff = Backoff(initial: .milliseconds(1), maximum: .seconds(300), jitter: { 1 })
        for _ in 0..<200 { _ = backoff.next() }
        #expect(backoff.next() == .seconds(300))
    }

    @Test func jitterSpreadsAFleet() {
        // A fleet cut off together: its first retries spread over half the first ceiling, not one instant.
        let waits = (0..<100).map { index in
            var backoff = Backoff(initial: .seconds(10), maximum: .seconds(60), jitter: { Double(index) / 99 })
            return backoff.next()
        }
        #expect(waits.min() == .seconds(5))
        #expect(waits.max() == .seconds(10))
        #expect(Set(waits).count == 100)
    }
}
