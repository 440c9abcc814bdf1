import Crypto
import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import ReplicaStore
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing
import WireProtocol

/// A raw line client: sends bytes exactly as given and reads the server's frames as JSON.
struct RawClient {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(to server: TestServer) async throws -> RawClient {
        let port = Int(server.address.split(separator: ":").last!)!
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawClient(channel: channel)
    }

    /// Runs `body` with a sender and a receiver of frames; the receiver returns `nil` once the server closed.
    func converse<T: Sendable>(
        _ body: (_ send: (String) async throws -> Void, _ receive: () async throws -> JSONValue?) async throws -> T
    ) async throws -> T {
        try await channel.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            return try await body(
                { text in try await outbound.write(ByteBuffer(string: text)) },
                {
                    // A reset or a close both mean the server hung up.
                    guard let line = try? await lines.next() else { return nil }
                    return try JSONValue.parse(line.readableBytesView)
                }
            )
        }
    }
}

@Suite struct HostileInputTests {
    /// Connects, optionally authenticates as kiosk store-1/a, sends the case's bytes and checks the answer; the
    /// server must store nothing and serve an honest kiosk afterwards.
    @Test(arguments: HostileInputs.cases)
    func hostileInputGetsItsErrorAndChangesNothing(_ hostile: HostileCase) async throws {
        let server = try await TestServer()
        let honest = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        // Kiosk store-1/a, enrolled, and a real return of it (not pushed) to mutate.
        let source = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try await source.sync()
        let wire = try HandBuiltKiosk(source)
        let record = try source.store.returnRecord(source.record().id)
        let changesBefore = try server.store.changeLogCount()

        let client = try await RawClient.connect(to: server)
        let (answer, closed) = try await client.converse { send, receive in
            if hostile.authenticated {
                #expect(try await wire.authenticate(send, receive)?["type"] == .string("welcome"))
            }
            try await send(hostile.payload(record))
            let answer = try await receive()
            // Whether the server hung up: ask for something harmless and see whether anything comes back.
            try? await send("{\"type\":\"pull\",\"cursor\":\"0\",\"limit\":1}\n")
            let after = try await receive()
            return (answer, after == nil || after?["type"] == .string("error"))
        }
        #expect(answer?["type"] == .string("error"), "\(hostile.name): \(answer?.serializedString ?? "closed")")
        #expect(answer?["code"] == .string(hostile.code.rawValue), "\(hostile.name): \(answer?.serializedString ?? "")")
        #expect(answer?["retryable"] == .bool(false))
        #expect(closed == hostile.closes, "\(hostile.name): the connection should \(hostile.closes ? "" : "not ")close")
        #expect(try server.store.changeLogCount() == changesBefore, "nothing stored")

        // The server still serves others.
        try honest.record()
        #expect(try await honest.sync().pushed == 1)
        try await server.stop()
    }

    @Test func aTruncatedFrameAndAHalfClosedConnectionEndQuietly() async throws {
        let server = try await TestServer()
        let client = try await RawClient.connect(to: server)
        let answer = try await client.converse { send, receive in
            try await send("{\"type\":\"hello\",\"vers")
            try await client.channel.channel.close(mode: .output)
            return try await receive()
        }
        #expect(answer == nil || answer?["type"] == .string("error"))
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        try await server.stop()
    }

    @Test func aReplayedAuthenticationFromAnotherConnectionIsRefused() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try await kiosk.sync()  // enrolled now
        let wire = try HandBuiltKiosk(kiosk)
        // An eavesdropper captured a valid authentication of one connection (the same kiosk nonce, even)...
        let captured = try await RawClient.connect(to: server).converse { send, receive in
            try await send(wire.hello)
            let nonce = try #require(try await receive()?["nonce"]?.stringValue)
            let signature = try wire.key.signature(
                for: authenticationPayload(
                    serverNonce: nonce,
                    kioskNonce: wire.kioskNonce,
                    replicaID: "store-1/a",
                    serverID: "hq"
                )
            )
            return signature.base64EncodedString()
        }
        // ...and replays it on another: the server's nonce differs, the signature does not verify.
        let answer = try await RawClient.connect(to: server).converse { send, receive in
            try await send(wire.hello)
            _ = try await receive()
            try await send("{\"type\":\"authenticate\",\"signature\":\"\(captured)\"}\n")
            return try await receive()
        }
        #expect(answer?["code"] == .string(ProtocolError.Code.authenticationFailed.rawValue))
        try await server.stop()
    }
}
