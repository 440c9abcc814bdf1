import Foundation
import PostgresNIO
import Testing

@testable import PostgresStorage

/// A push is acknowledged after its commit: on PostgreSQL that commit must wait for the WAL flush, whatever the
/// database's or role's default.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresDurabilityTests {
    static func synchronousCommit(_ connection: PostgresConnection) async throws -> String? {
        let rows = try await connection.query("SHOW synchronous_commit", logger: PostgresTestServer.logger)
        var value: String?
        for try await text in rows.decode(String.self) { value = text }
        return value
    }

    @Test func theServersConnectionsCommitSynchronouslyWhereTheDatabaseSaysOff() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        try await PostgresTestServer.adminQuery(
            url,
            PostgresQuery(unsafeSQL: "ALTER DATABASE \(url.database) SET synchronous_commit = off")
        )
        // The premise: a connection that does not ask gets the database's default.
        let plain = try await PostgresConnection.connect(
            configuration: try url.connectionConfiguration(),
            id: 1,
            logger: PostgresTestServer.logger
        )
        #expect(try await Self.synchronousCommit(plain) == "off")
        try await plain.close()

        let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let seen = try await storage.client.withConnection { try await Self.synchronousCommit($0) }
        #expect(seen == "on", "the pool's connections ask for synchronous commits at start-up")
        await storage.close()
        await drop()
    }
}
