import Crypto
import Foundation
import NIOCore
import NIOPosix
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import SyncClient
import SyncCore
import SyncEngine
import Testing
import WireProtocol

private let hello =
    "{\"type\":\"hello\",\"versions\":[1],\"replicaId\":\"store-1/a\",\"storeId\":\"store-1\",\"kioskId\":\"a\"}\n"

/// A listener that accepts connections and never says a word: a stalled server, or one behind a dead link. With
/// `trickling`, it sends a space every 50 ms — bytes, but never a frame.
final class BlackHole: Sendable {
    let port: Int
    private let listener: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let task: Task<Void, Never>

    init(trickling: Bool = false) async throws {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        self.listener = listener
        port = listener.channel.localAddress!.port!
        task = Task {
            try? await listener.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            // Read everything, answer nothing (or only stray spaces).
                            group.addTask {
                                try? await connection.executeThenClose { inbound, outbound in
                                    try await withThrowingTaskGroup(of: Void.self) { both in
                                        both.addTask { for try await _ in inbound {} }
                                        if trickling {
                                            both.addTask {
                                                while true {
                                                    try await Task.sleep(for: .milliseconds(50))
                                                    try await outbound.write(ByteBuffer(string: " "))
                                                }
                                            }
                                        }
                                        try await both.next()
                                        both.cancelAll()
                                    }
                                }
                            }
                        }
                    } catch {}
                }
            }
        }
    }

    func close() async {
        try? await listener.channel.close()
        task.cancel()
    }
}

@Suite struct NetworkFaultTests {
    @Test(.timeLimit(.minutes(1)))
    func aStalledServerFailsTheSyncAndTheNextSyncCatchesUp() async throws {
        let server = try await TestServer()
        let hole = try await BlackHole()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let item = try kiosk.record()
        let impatient = SyncClient(store: kiosk.store, responseTimeout: .milliseconds(300))
        await #expect {
            try await impatient.sync(server: "127.0.0.1:\(hole.port)")
        } throws: { "\($0)".contains("did not answer within 0.3 s") }
        #expect(try kiosk.store.checkpoint(for: SyncClient.serverPeer).pushedSeq == 0, "nothing counted as pushed")
        #expect(try await kiosk.sync().pushed == 1)
        #expect(try server.store.returnRecord(item.id) == kiosk.store.returnRecord(item.id))
        await hole.close()
        try await server.stop()
    }

    /// Bytes that never make a frame do not keep a kiosk waiting: it times out as if the server were silent.
    @Test(.timeLimit(.minutes(1)))
    func aServerTricklingStrayBytesFailsTheSyncAtItsTimeout() async throws {
        let server = try await TestServer()
        let trickle = try await BlackHole(trickling: true)
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try kiosk.record()
        let impatient = SyncClient(store: kiosk.store, responseTimeout: .milliseconds(300))
        await #expect {
            try await impatient.sync(server: "127.0.0.1:\(trickle.port)")
        } throws: { "\($0)".contains("did not answer within 0.3 s") }
        await trickle.close()
        try await server.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func aHandshakeTrickledByteByByteIsCutAtItsDeadline() async throws {
        // The idle timeout alone would never fire: a byte arrives every 50 ms, and the whole hello would take 5 s.
        // The deadline leaves an honest kiosk's handshake seconds, even on a machine busy with parallel tests.
        #expect(hello.utf8.count * 50 > 4_000)
        let server = try await TestServer(idleTimeout: .seconds(60)) { $0.handshakeTimeout = .seconds(3) }
        let client = try await RawClient.connect(to: server)
        let channel = client.channel.channel
        let trickle = Task {
            for byte in hello.utf8 {
                try await channel.writeAndFlush(ByteBuffer(bytes: [byte]))
                try await Task.sleep(for: .milliseconds(50))  // the attack's pace, not a synchronisation
            }
        }
        let answer = try await client.converse { _, receive in try await receive() }
        trickle.cancel()
        #expect(answer == nil, "the server closed the connection")
        let kiosk = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        try await server.stop()
    }

    @Test func aKioskStartingTooManySyncsIsRateLimited() async throws {
        let server = try await TestServer { $0.syncsPerMinutePerKiosk = 2 }
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let other = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        try await kiosk.sync()
        try await kiosk.sync()
        // The bucket refills a token every 30 s: on a machine so busy that syncs come slower, one more may pass.
        // Whatever the pace, one of the next few is refused, retryably.
        var refusal: SyncError?
        for _ in 0..<10 where refusal == nil {
            do { try await kiosk.sync() } catch let error as SyncError { refusal = error }
        }
        let code = refusal?.serverError?.code
        #expect(code == .rateLimited && code?.isRetryable == true, "\(String(describing: refusal))")
        // The limit is per kiosk.
        try await other.sync()
        try await server.stop()
    }

    @Test func oneKioskSyncingFromTwoProcessesAtOnceWhileCapturingLosesNothing() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try await kiosk.sync()  // enrolled
        let second = try kiosk.secondProcess()
        var captured: [ReturnID] = []
        for round in 0..<6 {
            captured.append(try kiosk.record().id)
            // Two syncs at once, and a capture by the second process in the middle of them.
            async let first = kiosk.sync()
            async let other = second.client.sync()
            let late = try second.store.recordReturn(
                ReturnCapture(orderID: OrderID("ORD-\(round)"), gtin: GTIN("96385074"), reason: .damaged)
            )
            captured.append(late.id)
            _ = try await (first, other)
        }
        try await kiosk.sync()
        let onServer = try server.store.returnRecords(store: StoreID("store-1"))
        #expect(onServer.map(\.id).sorted() == captured.map(\.rawValue).sorted(), "every return exactly once")
        #expect(try kiosk.records == onServer)
        #expect(try second.store.returnRecords() == onServer)
        #expect(try kiosk.store.status().unsyncedChanges == 0)
        try await server.stop()
    }

    @Test func duplicatedAndReorderedBatchesMergeToTheSameState() async throws {
        let server = try await TestServer()
        let token = try server.enroll(store: "store-1", kiosk: "a")
        let source = try TestKiosk(store: "store-1", kiosk: "a", server: server, token: token)
        let first = try source.record()
        let second = try source.record()
        _ = try source.store.updateReturn(first.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
        }
        let records = try [first.id, second.id].map { try source.store.returnRecord($0) }
        let wire = try HandBuiltKiosk(enrolling: "store-1/a", token: token)
        let acks = try await RawClient.connect(to: server).converse { send, receive in
            _ = try await wire.authenticate(send, receive)
            var acks: [JSONValue] = []
            // Batch 2 before batch 1, then both again.
            for (batch, record) in [(2, records[1]), (1, records[0]), (2, records[1]), (1, records[0])] {
                try await send(
                    String(decoding: SyncMessage.push(batch: batch, records: [record]).encoded(), as: UTF8.self) + "\n"
                )
                acks.append(try #require(try await receive()))
            }
            return acks
        }
        #expect(acks.map { $0["batch"] } == [.integer(2), .integer(1), .integer(2), .integer(1)])
        #expect(acks.map { $0["merged"] } == [.integer(1), .integer(1), .integer(0), .integer(0)])
        #expect(try server.store.returnRecords() == records)
        try await server.stop()
    }

    // The limit is a net for a hang, not a timing: alone the test takes seconds, in a full run it has taken 160 s
    // and passed, and a loaded CI run cut it at 2 minutes (2026-12-07).
    @Test(.timeLimit(.minutes(5)))
    func aThousandSlowConnectionsDoNotStopKiosksFromSyncing() async throws {
        // The handshake deadline and the idle timeout are not what this test is about: on a busy machine (the full
        // suite) this test has taken over 150 s, and the 60 s idle timeout closed some idlers before the count.
        // Nor is the per-address limit on strangers (AdversaryTests): here all 1,000 come from 127.0.0.1.
        let server = try await TestServer {
            $0.handshakeTimeout = .seconds(600)
            $0.idleTimeout = .seconds(600)
            $0.maximumUnauthenticatedPerAddress = 2_000
        }
        let idlers = try await withThrowingTaskGroup(of: RawClient.self) { group in
            for _ in 0..<1000 { group.addTask { try await RawClient.connect(to: server) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // Each says a few bytes of a hello and stops: slow-loris style.
        for idler in idlers {
            try await idler.channel.channel.writeAndFlush(ByteBuffer(string: "{\"type\":\"hel"))
        }
        let kiosks = try (0..<10).map { try TestKiosk(store: "store-\($0 % 3)", kiosk: "k\($0)", server: server) }
        for kiosk in kiosks { try kiosk.record() }
        let pushed = try await withThrowingTaskGroup(of: Int.self) { group in
            for kiosk in kiosks { group.addTask { try await kiosk.sync().pushed } }
            return try await group.reduce(0, +)
        }
        #expect(pushed == 10)
        #expect(server.server.connectionCount >= 1000, "the idlers were still connected")
        for idler in idlers { try? await idler.channel.executeThenClose { _, _ in } }
        try await server.stop()
    }
}

@Suite struct SyncErrorCauseTests {
    /// A clerk reads a sentence; a log or an embedding app can still see the socket's own error underneath.
    @Test func anUnreachableServerIsASentenceThatKeepsItsCause() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        do {
            _ = try await kiosk.client.sync(server: "127.0.0.1:1")
            Issue.record("synced with nothing listening")
        } catch let error as SyncError {
            #expect(error.message.hasPrefix("cannot reach the server at 127.0.0.1:1"))
            #expect(error.cause != nil && !(error.cause is SyncError), "\(String(describing: error.cause))")
        }
        try await server.stop()
    }
}
