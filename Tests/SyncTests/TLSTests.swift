import Foundation
import KioskCLI
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsServer
import SyncClient
import SyncCore
import Testing

/// Optional TLS: the server serves a certificate, kiosks trust a given CA and nothing else.
@Suite struct TLSTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tls")

    static func file(_ name: String) -> String { fixtures.appendingPathComponent(name).path }
    static func pem(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }

    /// The fixture key, copied owner-only (git checks files out 0644, and a readable key is refused).
    static func privateKey(in directory: TemporaryDirectory) throws -> String {
        let path = directory.file("server.key")
        try FileManager.default.copyItem(atPath: file("server.key"), toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        return path
    }

    static func tlsServer() async throws -> TestServer {
        let directory = try TemporaryDirectory()
        let context = try SyncServerConfiguration.tlsContext(
            certificatePath: file("server.pem"),
            keyPath: try privateKey(in: directory)
        )
        return try await TestServer { $0.tls = context }
    }

    @Test func aPrivateKeyOthersMayReadIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.privateKey(in: directory)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect {
            try SyncServerConfiguration.tlsContext(certificatePath: Self.file("server.pem"), keyPath: path)
        } throws: { error in
            "\(error)".contains("other users may read it (mode 644)") && "\(error)".contains("chmod 600 '\(path)'")
        }
    }

    @Test func aKioskTrustingTheCASyncsOverTLS() async throws {
        let server = try await Self.tlsServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, trustedCAPEM: Self.pem("ca.pem"))
        let item = try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        #expect(try server.store.returnRecord(item.id) == kiosk.store.returnRecord(item.id))
        // Enrolled over TLS, later syncs too.
        try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        try await server.stop()
    }

    @Test func aServerSignedByAnotherCAIsRefusedAndNothingIsSent() async throws {
        let server = try await Self.tlsServer()
        let kiosk = try TestKiosk(
            store: "store-1",
            kiosk: "a",
            server: server,
            trustedCAPEM: Self.pem("other-ca.pem")
        )
        try kiosk.record()
        await #expect {
            try await kiosk.sync()
        } throws: { "\($0)".contains("TLS with the server failed") }
        #expect(try server.store.returnRecords().isEmpty)
        #expect(try server.store.enrolledKiosks().isEmpty, "the token was never sent")
        try await server.stop()
    }

    @Test func plainTCPAndTLSDoNotMixAndTheServerKeepsServing() async throws {
        let tlsServer = try await Self.tlsServer()
        let plainKiosk = try TestKiosk(store: "store-1", kiosk: "a", server: tlsServer)
        try plainKiosk.record()
        await #expect(throws: SyncError.self) { try await plainKiosk.sync() }

        let plainServer = try await TestServer()
        let tlsKiosk = try TestKiosk(
            store: "store-1",
            kiosk: "b",
            server: plainServer,
            trustedCAPEM: Self.pem("ca.pem")
        )
        try tlsKiosk.record()
        await #expect {
            try await tlsKiosk.sync()
        } throws: { "\($0)".contains("TLS with the server failed") }

        // The TLS server still serves a kiosk that speaks TLS.
        let good = try TestKiosk(store: "store-1", kiosk: "c", server: tlsServer, trustedCAPEM: Self.pem("ca.pem"))
        try good.record()
        #expect(try await good.sync().pushed == 1)
        try await tlsServer.stop()
        try await plainServer.stop()
    }

    /// A well-formed token: what is tested here is the TLS file, not the token.
    static let token = String(repeating: "0", count: 48) + "." + String(repeating: "f", count: 64)

    @Test func badTLSFilesAreClearErrors() async throws {
        #expect {
            try SyncServerConfiguration.tlsContext(
                certificatePath: Self.file("server.pem"),
                keyPath: "/nonexistent.key"
            )
        } throws: { "\($0)".contains("/nonexistent.key") }
        #expect {
            try SyncClient.makeCredentials(server: "127.0.0.1:1", token: Self.token, trustedCAPEM: "not a certificate")
        } throws: { "\($0)".contains("not a PEM certificate") || "\($0)".contains("no certificate") }
        let directory = try TemporaryDirectory()
        let db = directory.file("kiosk.sqlite")
        let status = await KioskCLI.run(arguments: [
            "init", "--db", db, "--store", "s", "--kiosk", "k", "--server", "127.0.0.1:7420", "--token", Self.token,
            "--tls-ca", "/nonexistent/ca.pem",
        ])
        #expect(status == 1)
        #expect(!FileManager.default.fileExists(atPath: db), "nothing created")
    }
}
