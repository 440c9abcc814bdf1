import Crypto
import Foundation
import Logging
import NIOCore
import Prometheus
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ServiceLifecycle
import SyncClient
import SyncCore
import SyncEngine
import Testing
import WireProtocol

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The metrics endpoint beside a test server, run in its own ServiceGroup.
final class TestMetricsEndpoint: Sendable {
    let url: String
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    init(
        server: TestServer,
        storage: (any SyncServerStorage)? = nil,
        registry: PrometheusCollectorRegistry,
        metrics: ServerMetrics
    ) async throws {
        let logger = Logger(label: "test.metrics", factory: { _ in SwiftLogNoOpLogHandler() })
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let endpoint = MetricsEndpoint(
            host: "127.0.0.1",
            port: 0,
            registry: registry,
            metrics: metrics,
            store: storage ?? SQLiteServerStorage(server.store),
            logger: logger,
            onListening: {
                continuation.yield($0)
                continuation.finish()
            }
        )
        let group = ServiceGroup(services: [endpoint], gracefulShutdownSignals: [], logger: logger)
        self.group = group
        running = Task { try await group.run() }
        guard let port = await addresses.first(where: { _ in true })?.port else {
            throw SyncError("the metrics endpoint did not report its address")
        }
        url = "http://127.0.0.1:\(port)"
    }

    /// GETs `path`: the status and the body.
    func get(_ path: String, method: String = "GET") async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = method
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await running.value
    }
}

@Suite struct MetricsEndpointTests {
    /// The value of the sample `name` (with its labels, as written) in a Prometheus text exposition.
    static func sample(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Double(parts[1]) }
        }
        return nil
    }

    @Test func metricsCountSyncsRecordsConflictsRefusalsAndTheDatabase() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(factory: ServerMetrics.prometheusFactory(registry: registry))
        // Three syncs a minute: the fourth is refused, and counted.
        let server = try await TestServer(metrics: metrics, configure: { $0.syncsPerMinutePerKiosk = 3 })
        let endpoint = try await TestMetricsEndpoint(server: server, registry: registry, metrics: metrics)

        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let item = try kiosk.record()
        try kiosk.record()
        try kiosk.store.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
        }
        try await kiosk.sync()  // 2 returns merged
        try server.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.recycle, by: author, at: date)
        }
        try kiosk.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.repair, by: author, at: date)
        }
        try await kiosk.sync()  // 1 merged, with a conflict
        // Syncs with nothing new until one is refused: the bucket refills a token every 20 s, so on a machine so
        // busy that syncs come slower than that, the fourth is still admitted — count what happened instead.
        var synced = 2
        var refused = false
        for _ in 0..<20 where !refused {
            do {
                try await kiosk.sync()
                synced += 1
            } catch is SyncError {
                refused = true
            }
        }
        #expect(refused, "the bucket of 3 a minute ran dry")

        let (status, text) = try await endpoint.get("/metrics")
        #expect(status == 200)
        #expect(Self.sample("returnsync_syncs_total", in: text) == Double(synced))
        #expect(Self.sample("returnsync_records_merged_total", in: text) == 3)
        #expect(Self.sample("returnsync_conflicts_total", in: text) == 1)
        #expect(Self.sample("returnsync_refused_total{reason=\"rate-limited\"}", in: text) == 1)
        #expect(Self.sample("returnsync_connections_accepted_total", in: text) == Double(synced + 1))
        #expect(Self.sample("returnsync_sync_duration_seconds_count", in: text) == Double(synced))
        #expect(Self.sample("returnsync_sync_duration_seconds_bucket{le=\"+Inf\"}", in: text) == Double(synced))
        let size = try #require(Self.sample("returnsync_database_bytes", in: text))
        #expect(size >= Double(try server.store.storageSize()) * 0.5 && size > 4096)
        #expect(text.contains("# TYPE returnsync_sync_duration_seconds histogram"))

        try await endpoint.stop()
        try await server.stop()
    }

    @Test func healthAnswersOKAndOtherPathsAreRefused() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(factory: ServerMetrics.prometheusFactory(registry: registry))
        let server = try await TestServer(metrics: metrics)
        let endpoint = try await TestMetricsEndpoint(server: server, registry: registry, metrics: metrics)
        let health = try await endpoint.get("/health")
        #expect(health.0 == 200 && health.1 == "ok\n")
        #expect(try await endpoint.get("/nothing-here").0 == 404)
        #expect(try await endpoint.get("/metrics", method: "POST").0 == 405)
        try await endpoint.stop()
        try await server.stop()
    }

    @Test func healthReportsStorageThatCannotBeRead() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(factory: ServerMetrics.prometheusFactory(registry: registry))
        let server = try await TestServer(metrics: metrics)
        let endpoint = try await TestMetricsEndpoint(
            server: server,
            storage: UnreadableStorage(store: server.store),
            registry: registry,
            metrics: metrics
        )
        let (status, body) = try await endpoint.get("/health")
        #expect(status == 503)
        #expect(body == "storage unavailable: disk I/O error reading the change log\n")
        try await endpoint.stop()
        try await server.stop()
    }
}

/// A server store whose reads fail, as on a failing disk (the failure injected; everything else is the real store).
struct UnreadableStorage: SyncServerStorage {
    let storage: SQLiteServerStorage

    init(store: ReplicaStore) { storage = SQLiteServerStorage(store) }

    struct Failure: Error, CustomStringConvertible {
        var description: String { "disk I/O error reading the change log" }
    }

    var serverReplicaID: ReplicaID { storage.serverReplicaID }
    func enrolledKiosk(_ replicaID: String) async throws -> KioskEnrollment? {
        try await storage.enrolledKiosk(replicaID)
    }
    func redeemEnrollment(
        store storeID: StoreID,
        kiosk: KioskID,
        publicKey: Data,
        proves: @escaping @Sendable (_ tokenKey: Data) -> Bool
    ) async throws {
        try await storage.redeemEnrollment(store: storeID, kiosk: kiosk, publicKey: publicKey, proves: proves)
    }
    func createEnrollment(
        tokenHash: String,
        tokenKey: Data,
        store storeID: StoreID,
        kiosk: KioskID,
        expiresAt: Date
    ) async throws {
        try await storage.createEnrollment(
            tokenHash: tokenHash,
            tokenKey: tokenKey,
            store: storeID,
            kiosk: kiosk,
            expiresAt: expiresAt
        )
    }
    func revokedKiosks() async throws -> Set<String> { try await storage.revokedKiosks() }
    func serverIdentitySeed() async throws -> Data { try await storage.serverIdentitySeed() }
    func acceptPush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store storeID: StoreID
    ) async throws -> PushOutcome {
        try await storage.acceptPush(records, from: pusher, store: storeID)
    }
    func encodedFeed(
        store storeID: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?
    ) async throws -> (records: [String], next: Int64, more: Bool) {
        try await storage.encodedFeed(store: storeID, after: cursor, limit: limit, requester: requester)
    }
    func feedEstimate(store storeID: StoreID, after cursor: Int64) async throws -> Int {
        try await storage.feedEstimate(store: storeID, after: cursor)
    }
    func storeReturns(_ ids: [ReturnID], store storeID: StoreID) async throws -> [VersionedRecord] {
        try await storage.storeReturns(ids, store: storeID)
    }
    func noteSync(of replicaID: String, protocolVersion: Int) async throws {
        try await storage.noteSync(of: replicaID, protocolVersion: protocolVersion)
    }
    func attachmentState(_ digest: String, store storeID: StoreID) async throws -> AttachmentState? {
        try await storage.attachmentState(digest, store: storeID)
    }
    func appendAttachmentChunk(
        _ digest: String,
        store storeID: StoreID,
        offset: Int64,
        bytes: Data
    ) async throws -> AttachmentState {
        try await storage.appendAttachmentChunk(digest, store: storeID, offset: offset, bytes: bytes)
    }
    func attachmentData(
        _ digest: String,
        store storeID: StoreID,
        offset: Int64,
        limit: Int
    ) async throws -> (state: AttachmentState, bytes: Data) {
        try await storage.attachmentData(digest, store: storeID, offset: offset, limit: limit)
    }
    func lastChangeSeq() async throws -> Int64 { throw Failure() }
    func storageSize() async throws -> Int64 { throw Failure() }
}

@Suite struct WatchAccountingTests {
    /// Renewing a watch with nothing in between is no sync: no commit, no count. The first watch after a pull is.
    @Test func renewedWatchesAreNotSyncs() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(factory: ServerMetrics.prometheusFactory(registry: registry))
        let server = try await TestServer(metrics: metrics)
        let token = try server.enroll(store: "store-1", kiosk: "a")
        let wire = try HandBuiltKiosk(enrolling: "store-1/a", token: token)
        let client = try await RawClient.connect(to: server)
        let answers = try await client.converse { send, receive in
            let welcome = try await wire.authenticate(send, receive)
            #expect(welcome?["type"] == .string("welcome"))
            var answers: [String] = []
            try await send("{\"type\":\"pull\",\"cursor\":\"0\",\"limit\":500}\n")
            answers.append(try #require(try await receive()?["type"]?.stringValue))
            for _ in 0..<3 {
                try await send("{\"type\":\"watch\",\"cursor\":\"0\",\"seconds\":1}\n")
                answers.append(try #require(try await receive()?["type"]?.stringValue))
            }
            try await send("{\"type\":\"bye\"}\n")
            answers.append(try #require(try await receive()?["type"]?.stringValue))
            return answers
        }
        #expect(answers == ["pull-batch", "quiet", "quiet", "quiet", "bye"])
        let text = registry.emitToString()
        #expect(MetricsEndpointTests.sample("returnsync_syncs_total", in: text) == 1)
        #expect(MetricsEndpointTests.sample("returnsync_watching_kiosks", in: text) == 0)
        try await server.stop()
    }
}
