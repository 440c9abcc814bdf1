import Foundation
import PostgresNIO
import PostgresStorage
import ReturnsModel
import ReturnsServer
import ReturnsServerCLI
import Testing

/// How the server names a PostgreSQL database: one clear line for every mistake, never the password.
@Suite struct PostgresURLTests {
    @Test func aFullURLIsUnderstood() throws {
        let url = try PostgresURL("postgres://hq:s%40cret@db.example:6543/returns?sslmode=verify-full")
        #expect(url.user == "hq" && url.password == "s@cret" && url.host == "db.example" && url.port == 6543)
        #expect(url.database == "returns" && url.sslMode == .verifyFull)
        #expect("\(url)" == "postgres://hq:***@db.example:6543/returns?sslmode=verify-full")
        let plain = try PostgresURL("postgresql://hq@localhost/returns")
        #expect(plain.port == 5432 && plain.sslMode == .prefer && plain.password == nil)
        #expect(PostgresURL.isPostgres("postgres://x@y/z") && !PostgresURL.isPostgres("./returns-server.sqlite"))
    }

    @Test(arguments: [
        ("postgres://db.example/returns", "names no user"),
        ("postgres://hq:pw@/returns", "names no host"),
        ("postgres://hq:pw@db.example", "names no database"),
        ("postgres://hq:pw@db.example/returns?sslmode=sometimes", "sslmode 'sometimes': expected one of disable"),
        ("postgres://hq:pw@db.example/returns?application_name=x", "unknown parameter 'application_name'"),
        ("postgres://hq:pw@db.example:0/returns", "port 0"),
    ])
    func aBadURLIsNamedWithoutItsPassword(_ text: String, _ complaint: String) {
        #expect {
            _ = try PostgresURL(text)
        } throws: { error in
            "\(error)".contains(complaint) && !"\(error)".contains(":pw@")
        }
    }
}

/// The PostgreSQL storage against a real server (``PostgresTestServer``): what only several processes on one
/// database can show.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresStorageTests {
    @Test func migrationsAreRecordedAndSeveralProcessesMayStartAtOnce() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        // Four `serve` processes starting together: one migrates, the others find it done.
        let storages = try await withThrowingTaskGroup(of: PostgresServerStorage.self) { group in
            for _ in 0..<4 {
                group.addTask { try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(storages.allSatisfy { $0.serverReplicaID.rawValue == "hq" })
        let seeds = try await withThrowingTaskGroup(of: Data.self) { group in
            for storage in storages { group.addTask { try await storage.serverIdentitySeed() } }
            return try await group.reduce(into: Set<Data>()) { $0.insert($1) }
        }
        #expect(seeds.count == 1, "one identity, whichever process made it")
        for storage in storages { await storage.close() }
        await drop()
    }

    @Test func aDatabaseMigratedByANewerVersionIsRefused() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        await storage.close()
        try await PostgresTestServer.adminQuery(
            url,
            "INSERT INTO returnsync_migrations (name) VALUES ('2099-01-01-from-the-future')"
        )
        await #expect {
            _ = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        } throws: { error in
            "\(error)".contains("migrated by a newer version of returns-server (migration 2099-01-01-from-the-future)")
        }
        await drop()
    }

    @Test func aTokenIsRedeemedOnceWhenTwoProcessesTryAtOnce() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let first = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let second = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let store = try StoreID("store-1")
        let kiosk = try KioskID("a")
        try await first.createEnrollment(
            tokenHash: "race",
            tokenKey: Data(repeating: 1, count: 32),
            store: store,
            kiosk: kiosk,
            expiresAt: Date().addingTimeInterval(3_600)
        )
        // Two devices claiming the kiosk with one token, through two processes: exactly one is enrolled.
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for (index, storage) in [first, second].enumerated() {
                group.addTask {
                    do {
                        try await storage.redeemEnrollment(
                            store: store,
                            kiosk: kiosk,
                            publicKey: Data(repeating: UInt8(index + 10), count: 32)
                        ) { _ in true }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
        let enrolled = try #require(try await second.enrolledKiosk("store-1/a"))
        #expect(
            enrolled.publicKey == Data(repeating: 10, count: 32) || enrolled.publicKey == Data(repeating: 11, count: 32)
        )
        // Revocation, seen by every process.
        try await PostgresTestServer.adminQuery(url, "UPDATE kiosks SET revoked_at = now()")
        #expect(try await first.revokedKiosks() == ["store-1/a"])
        try await first.noteSync(of: "store-1/a")
        #expect(try await second.enrolledKiosk("store-1/a")?.lastSyncAt != nil)
        #expect(try await first.storageSize() > 0)
        await first.close()
        await second.close()
        await drop()
    }

    @Test func aServerThatIsNotThereOrRefusesGetsOneLine() async throws {
        let admin = try PostgresURL(try #require(PostgresTestServer.url))
        var missing = admin
        missing.database = "no_such_database_here"
        await #expect {
            _ = try await PostgresServerStorage.open(missing, logger: PostgresTestServer.logger)
        } throws: { error in
            "\(error)".contains("refused") && "\(error)".contains("no_such_database_here")
                && !"\(error)".contains("\n")
        }
        var stranger = admin
        stranger.user = "nobody_we_know"
        await #expect {
            _ = try await PostgresServerStorage.open(stranger, logger: PostgresTestServer.logger)
        } throws: { error in
            "\(error)".contains("refused") && "\(error)".contains("nobody_we_know") && !"\(error)".contains("\n")
        }
        var closed = admin
        closed.port = 1
        await #expect {
            _ = try await PostgresServerStorage.open(closed, logger: PostgresTestServer.logger)
        } throws: { error in
            "\(error)".hasPrefix("cannot reach PostgreSQL at \(admin.host):1") && !"\(error)".contains("\n")
        }
    }
}

/// Until `serve` runs on PostgreSQL, a PostgreSQL `--db` is refused in one line, its password hidden.
@Suite struct PostgresURLCommandTests {
    @Test func aPostgresDatabaseIsRefusedPlainlyForNow() async {
        let refused = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["kiosks", "--db", "postgres://hq:secret@db.example/returns"])
        }
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("postgres://hq:***@db.example:5432/returns"), "\(refused.stderr)")
        #expect(refused.stderr.contains("cannot serve from PostgreSQL yet") && !refused.stderr.contains("secret"))
        let mistyped = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["kiosks", "--db", "postgres://hq:secret@db.example/returns?ssl=1"])
        }
        #expect(mistyped.status == 1 && mistyped.stderr.contains("unknown parameter 'ssl'"))
        #expect(!mistyped.stderr.contains("secret"), "\(mistyped.stderr)")
    }
}
