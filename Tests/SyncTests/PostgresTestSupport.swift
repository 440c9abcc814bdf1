import Foundation
import Logging
import PostgresNIO
import PostgresStorage
import Testing

/// The PostgreSQL server the tests use, named by `RETURNSYNC_POSTGRES_URL`: `scripts/postgres-test-cluster start`
/// starts a throw-away one, and CI always does. Without it the PostgreSQL tests are skipped, saying so; in CI
/// (`CI` set) that is a failure (`PostgresSuiteRanTests`).
enum PostgresTestServer {
    static let url: String? = ProcessInfo.processInfo.environment["RETURNSYNC_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }

    static var isAvailable: Bool { url != nil }

    static let skipped: Comment =
        "no PostgreSQL server: run `eval \"$(scripts/postgres-test-cluster start)\"` to set RETURNSYNC_POSTGRES_URL"

    static let logger = Logger(label: "test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A fresh, empty database of its own on the test server; `drop` removes it (connections and all).
    static func makeDatabase() async throws -> (url: PostgresURL, drop: @Sendable () async -> Void) {
        let admin = try PostgresURL(try #require(url, "RETURNSYNC_POSTGRES_URL is not set"))
        let name = "rs_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await adminQuery(admin, PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        var database = admin
        database.database = name
        return (
            database,
            { try? await adminQuery(admin, PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")) }
        )
    }

    /// Runs one statement on the test server's own database.
    static func adminQuery(_ admin: PostgresURL, _ query: PostgresQuery) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: admin.host,
                port: admin.port,
                username: admin.user,
                password: admin.password,
                database: admin.database,
                tls: .disable
            ),
            id: 1,
            logger: logger
        )
        do {
            try await connection.query(query, logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

/// In CI the PostgreSQL suite must run: a missing server is a failure there, not a skip.
@Suite struct PostgresSuiteRanTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["CI"] != nil, "only CI insists on PostgreSQL"))
    func theSuiteRanAgainstARealServer() {
        #expect(
            PostgresTestServer.isAvailable,
            "CI must start a PostgreSQL cluster (scripts/postgres-test-cluster) and set RETURNSYNC_POSTGRES_URL"
        )
    }
}
