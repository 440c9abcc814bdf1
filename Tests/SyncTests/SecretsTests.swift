import Foundation
import Logging
import ReplicaStore
import ReturnSyncTestSupport
import SyncClient
import Synchronization
import Testing

/// Collects every log line, message and metadata, as text.
final class CapturedLog: LogHandler, @unchecked Sendable {
    // @unchecked: the lines are behind a Mutex; the rest is set once before use.
    private let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLock { $0.append("\(event.level) \(event.message) \(all)") }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

/// A kiosk's private key and enrollment token never leave its database: not in an export, not in a log.
@Suite struct SecretsTests {
    @Test func neitherExportNorLogsCarryKeyMaterial() async throws {
        let server = try await TestServer()
        let token = try server.enroll(store: "store-1", kiosk: "a")
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, token: token)
        let credentials = try #require(try kiosk.store.syncCredentials())
        let secrets = [
            credentials.privateKey.base64EncodedString(),
            credentials.privateKey.map { String(format: "%02x", $0) }.joined(),
            String(token.prefix(48)),
        ]
        try kiosk.record()

        let captured = CapturedLog()
        let client = SyncClient(store: kiosk.store, logger: Logger(label: "test", factory: { _ in captured }))
        _ = try await client.sync()  // the enrollment: the one sync that uses the token
        var export = Data()
        _ = try kiosk.store.exportReturns { export.append($0) }
        let exported = String(decoding: export, as: UTF8.self)
        #expect(exported.contains("store-1/a"), "the export holds the return")
        for secret in secrets {
            #expect(!exported.contains(secret))
            #expect(!captured.text.contains(secret))
        }
        try await server.stop()
    }
}
