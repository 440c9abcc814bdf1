import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import ReplicaStore
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import SyncClient
import SyncCore
import Testing
import WireProtocol

/// A kiosk knows its server; keys can be rotated and revoked (issue 13, part 5).
@Suite struct ServerIdentityTests {
    @Test func anImpostorServerIsRefusedBeforeTheKioskSendsAnything() async throws {
        let real = try await TestServer()
        let impostor = try await TestServer()
        // Enrolled with the real server; then the network sends it to the impostor (which answers as `hq` too).
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: real)
        try await kiosk.sync()
        try kiosk.record()
        await #expect {
            try await kiosk.client.sync(server: impostor.address)
        } throws: { error in "\(error)".contains("is not the one this kiosk was enrolled with") }
        #expect(try impostor.store.returnRecords().isEmpty && impostor.store.enrolledKiosks().isEmpty)
        // Nothing was counted as pushed: the real server still gets the return.
        #expect(try kiosk.store.status().unsyncedChanges == 1)
        #expect(try await kiosk.sync().pushed == 1)
        try await real.stop()
        try await impostor.stop()
    }

    @Test func anImpostorCannotRedeemAFirstSyncToken() async throws {
        let real = try await TestServer()
        let impostor = try await TestServer()
        let token = try real.enroll(store: "store-1", kiosk: "a")
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: real, token: token)
        // The first sync goes to the impostor: refused before the token's proof is sent.
        await #expect {
            try await kiosk.client.sync(server: impostor.address)
        } throws: { error in "\(error)".contains("is not the one this kiosk was enrolled with") }
        #expect(try impostor.store.enrolledKiosks().isEmpty)
        // The token is still good for the real server.
        try await kiosk.sync()
        #expect(try real.store.enrolledKiosks().map(\.replicaID) == ["store-1/a"])
        try await real.stop()
        try await impostor.stop()
    }

    /// A relay between a real kiosk and the real server records what an eavesdropper on plain TCP would see of a
    /// first sync: the token's secret is nowhere in it.
    @Test func anEavesdropperOnAFirstSyncNeverSeesTheToken() async throws {
        let server = try await TestServer()
        let token = try server.enroll(store: "store-1", kiosk: "a")
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, token: token)
        let relay = try await LineRelay(to: server)
        _ = try await kiosk.client.sync(server: relay.address)
        let seen = try await relay.recorded()
        #expect(seen.contains { $0.contains("\"tokenProof\"") }, "the enrollment went through the relay")
        #expect(!seen.contains { $0.contains(String(token.prefix(48))) }, "the secret never crossed the wire")
        #expect(try server.store.enrolledKiosks().map(\.replicaID) == ["store-1/a"])
        try await server.stop()
    }

    @Test func aRevokedKioskIsRefusedAtOnceOnEveryConnectionAndComesBackWithANewToken() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try await kiosk.sync()
        let oldKey = try HandBuiltKiosk(kiosk)
        let open = try await HeldConnection.open(oldKey, server: server)
        #expect(open.welcomed)

        try server.store.revokeKiosk(store: StoreID("store-1"), kiosk: KioskID("a"))
        // The open connection is closed by the server (it polls revocations twice a second)...
        let closedByServer = try await open.ended.value
        #expect(closedByServer)
        // ...and every new one is refused.
        await #expect {
            try await kiosk.sync()
        } throws: { error in (error as? SyncError)?.serverError?.code == .authenticationFailed }
        #expect(try server.store.enrolledKiosks().first?.revokedAt != nil)

        // Enrolled again with a new token: a new key, and the old one stays refused.
        let token = try server.enroll(store: "store-1", kiosk: "a")
        try kiosk.store.saveSyncCredentials(
            SyncClient.reenrolling(#require(try kiosk.store.syncCredentials()), token: token)
        )
        try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        #expect(try server.store.enrolledKiosks().first?.revokedAt == nil)
        let answer = try await RawClient.connect(to: server).converse { send, receive in
            try await oldKey.authenticate(send, receive)
        }
        #expect(answer?["code"] == .string("authentication-failed"))
        try await server.stop()
    }

    @Test func anExpiredTokenIsRefused() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(
            store: "store-1",
            kiosk: "a",
            server: server,
            token: try server.enroll(store: "store-1", kiosk: "a", validFor: -1)
        )
        await #expect {
            try await kiosk.sync()
        } throws: { error in
            (error as? SyncError)?.serverError?.code == .enrollmentRefused && "\(error)".contains("expired")
        }
        try await server.stop()
    }

    @Test func twoTokensForOneKioskAreNeverBothAccepted() async throws {
        let server = try await TestServer()
        let first = try server.enroll(store: "store-1", kiosk: "a")
        let second = try server.enroll(store: "store-1", kiosk: "a")
        let early = try TestKiosk(store: "store-1", kiosk: "a", server: server, token: first)
        await #expect {
            try await early.sync()
        } throws: { error in (error as? SyncError)?.serverError?.code == .enrollmentRefused }
        let late = try TestKiosk(store: "store-1", kiosk: "a", server: server, token: second)
        try await late.sync()
        // And once used, it is spent: the first cannot come back either.
        await #expect {
            try await early.sync()
        } throws: { error in (error as? SyncError)?.serverError?.code == .enrollmentRefused }
        try await server.stop()
    }

    @Test func anOldKioskIsToldToUpgrade() async throws {
        let server = try await TestServer()
        let answer = try await RawClient.connect(to: server).converse { send, receive in
            try await send(
                "{\"type\":\"hello\",\"versions\":[1,2],\"replicaId\":\"s/a\",\"storeId\":\"s\",\"kioskId\":\"a\"}\n"
            )
            return try await receive()
        }
        #expect(answer?["code"] == .string("unsupported-version"))
        #expect(answer?["message"]?.stringValue?.contains("upgrade the kiosk") == true)
        try await server.stop()
    }

    /// As operators type it: `returns-server kiosks revoke`, `kiosk sync` refused, `returns-server enroll` and
    /// `kiosk enroll --token`, `kiosk sync` again — with the real executables against a running `serve`.
    @Test func revokeAndReenrollFromTheCommandLine() async throws {
        let directory = try TemporaryDirectory()
        func run(_ tool: String, _ arguments: String...) async throws -> ToolRun {
            try await offThePool { try ToolRun(tool, arguments, in: directory.path) }
        }
        func enroll(validFor: String) async throws -> ToolRun {
            try await offThePool {
                try ToolRun(
                    "returns-server",
                    ["enroll", "--db", "hq.sqlite", "--store", "s", "--kiosk", "a", "--valid-for", validFor],
                    in: directory.path
                )
            }
        }
        let serve = try ChildProcess(
            ToolRun.binaries.appendingPathComponent("returns-server").path,
            ["serve", "--db", "hq.sqlite", "--port", "0"],
            directory: directory.path
        )
        defer { serve.send(SIGTERM) }
        let handle = serve.standardOutput!
        let listening = try await offThePool { () -> String in
            var line = Data()
            while line.last != UInt8(ascii: "\n") {
                let byte = handle.readData(ofLength: 1)
                guard !byte.isEmpty else { break }
                line.append(byte)
            }
            return String(decoding: line, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        let address = String(listening.dropFirst("listening on ".count))

        let token = try await run("returns-server", "enroll", "--db", "hq.sqlite", "--store", "s", "--kiosk", "a").line
        let fingerprint = try await run("returns-server", "identity", "--db", "hq.sqlite").line
        #expect(token.hasSuffix("." + fingerprint))
        #expect(
            try await run(
                "kiosk",
                "init",
                "--db",
                "a.sqlite",
                "--store",
                "s",
                "--kiosk",
                "a",
                "--server",
                address,
                "--token",
                token
            ).status == 0
        )
        #expect(try await run("kiosk", "sync", "--db", "a.sqlite").status == 0)

        let revoked = try await run("returns-server", "kiosks", "revoke", "s", "a", "--db", "hq.sqlite")
        #expect(revoked.status == 0 && revoked.line == "revoked s/a")
        #expect(try await run("returns-server", "kiosks", "--db", "hq.sqlite").stdout.contains("revoked "))
        let refused = try await run("kiosk", "sync", "--db", "a.sqlite")
        #expect(refused.status != 0 && refused.stderr.contains("was revoked"))

        let badValidity = try await enroll(validFor: "soon")
        #expect(badValidity.status != 0 && badValidity.stderr.contains("invalid --valid-for 'soon'"))
        let fresh = try await enroll(validFor: "1h").line
        let enrolled = try await run("kiosk", "enroll", "--db", "a.sqlite", "--token", fresh)
        #expect(enrolled.status == 0 && enrolled.line.contains("will enroll with a new key"))
        #expect(try await run("kiosk", "sync", "--db", "a.sqlite").status == 0)

        let old = try await run("kiosk", "enroll", "--db", "a.sqlite", "--token", String(fresh.prefix(48)))
        #expect(old.status != 0 && old.stderr.contains("older than protocol version 3"))
        // Waited for, so the server has closed its database before the directory is removed (one that was still
        // closing left the directory behind, emptied, after every run).
        serve.send(SIGTERM)
        let stopped = try await offThePool { serve.waitUntilExit() }
        #expect(stopped == .init(status: 0, bySignal: false))
    }
}

/// Relays one connection, line by line and turn by turn (a request, then its answer), to a test server, and records
/// the lines it relays; with `rewrite`, each answer is relayed as it returns it (a network that changes bytes).
struct LineRelay: Sendable {
    let address: String
    private let task: Task<[String], any Error>

    init(to server: TestServer, rewrite: @escaping @Sendable (String) -> String = { $0 }) async throws {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        address = "127.0.0.1:\(listener.channel.localAddress?.port ?? 0)"
        task = Task {
            try await listener.executeThenClose { connections in
                var recorded: [String] = []
                for try await kiosk in connections {
                    let upstream = try await RawClient.connect(to: server)
                    try await kiosk.executeThenClose { fromKiosk, toKiosk in
                        try await upstream.channel.executeThenClose { fromServer, toServer in
                            var kioskLines = fromKiosk.makeAsyncIterator()
                            var serverLines = fromServer.makeAsyncIterator()
                            while let line = try await kioskLines.next() {
                                recorded.append(String(buffer: line))
                                try await toServer.write(ByteBuffer(string: String(buffer: line) + "\n"))
                                guard let answer = try await serverLines.next() else { break }
                                let relayed = rewrite(String(buffer: answer))
                                recorded.append(relayed)
                                try await toKiosk.write(ByteBuffer(string: relayed + "\n"))
                            }
                        }
                    }
                    break
                }
                return recorded
            }
        }
    }

    /// The lines relayed, once the connection ended.
    func recorded() async throws -> [String] {
        try await task.value
    }
}
