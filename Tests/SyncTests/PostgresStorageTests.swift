import Foundation
import Logging
import NIOCore
import PostgresNIO
import PostgresStorage
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsServerCLI
import ServiceLifecycle
import SyncClient
import SyncCore
import SyncEngine
import Testing
import WireProtocol

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

    /// The migration that moved a store's records' places in its feed onto the records themselves: a database the
    /// previous release left (every place a `feed` row) gives every kiosk the same pages after it as before.
    @Test func aFeedFromBeforeRecordsKeptTheirPlacesReadsTheSameAfterTheMigration() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        var storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        // Pushes of two stores (a conflict among them), a recall every store receives, an HQ edit, an order line
        // corrected to the other store.
        for (pusher, store, records) in try ReportParityTests.storeDay(in: directory) {
            _ = try await storage.acceptPush(records, from: pusher, store: store)
        }
        _ = try await storage.write(
            .createRecall(
                RecallCampaign(
                    id: "RC-1",
                    gtins: [GTIN("4006381333931")],
                    hazard: "cable",
                    instructions: "quarantine",
                    unitsAffected: 10,
                    createdAt: Date()
                )
            )
        )
        let north = try StoreID("north")
        let voided = try #require(try await storage.returnRecords(store: north).first).id
        _ = try await storage.editReturn(try ReturnID(voided), operation: "void", operatorID: nil) {
            item,
            author,
            date in
            try item.void(note: "HQ: duplicate", by: author, at: date)
        }
        func line(_ store: String) throws -> OrderLine {
            try OrderLine(
                orderID: OrderID("ORD-1"),
                storeID: StoreID(store),
                line: 1,
                gtin: GTIN("4006381333931"),
                quantity: 1,
                unitPriceCents: 1_999,
                soldAt: Date()
            )
        }
        _ = try await storage.importOrders([try line("south")])
        _ = try await storage.importOrders([try line("north")])
        // Every store's feed as each of its kiosks (and a fresh one) reads it, in pages of two and in one.
        func feeds(_ storage: PostgresServerStorage) async throws -> [String] {
            var read: [String] = []
            for (store, requesters) in [("north", ["north/k1", "north/k2", nil]), ("south", ["south/k1", nil])] {
                for requester in requesters {
                    let replica = try requester.map { try ReplicaID($0) }
                    var cursor: Int64 = 0
                    var more = true
                    while more {
                        let page = try await storage.encodedFeed(
                            store: StoreID(store),
                            after: cursor,
                            limit: 2,
                            requester: replica
                        )
                        read.append("\(store) \(requester ?? "-") after \(cursor): \(page.records) next \(page.next)")
                        (cursor, more) = (page.next, page.more)
                    }
                    let whole = try await storage.encodedFeed(
                        store: StoreID(store),
                        after: 0,
                        limit: 100,
                        requester: replica
                    )
                    read.append("\(store) \(requester ?? "-") whole: \(whole.records.count) next \(whole.next)")
                    read.append("\(store) estimate \(try await storage.feedEstimate(store: StoreID(store), after: 0))")
                }
            }
            return read
        }
        let before = try await feeds(storage)
        #expect(before.contains { $0.hasPrefix("north - whole: 7 ") }, "5 returns, the recall, the line: \(before)")
        #expect(before.contains { $0.hasPrefix("south - whole: 3 ") }, "2 returns, the recall: \(before)")
        await storage.close()

        // The database as the previous release left it: each store's records' places in `feed`, and an entry
        // naming no record (as an order line corrected to another store left in its old store's feed).
        try await PostgresTestServer.adminQuery(
            url,
            """
            DO $$ BEGIN
                ALTER TABLE global_feed RENAME TO feed;
                ALTER INDEX global_feed_pkey RENAME TO feed_pkey;
                DROP INDEX global_feed_by_record;
                ALTER TABLE feed ADD COLUMN record_store text NOT NULL DEFAULT '', ADD COLUMN source text;
                ALTER TABLE feed ALTER COLUMN record_store DROP DEFAULT;
                CREATE UNIQUE INDEX feed_by_record ON feed (store_id, entity_type, record_store, id);
                INSERT INTO feed (store_id, seq, entity_type, record_store, id, source)
                SELECT store_id, seq, entity_type, store_id, id, source FROM records WHERE seq IS NOT NULL;
                INSERT INTO feed (store_id, seq, entity_type, record_store, id, source)
                VALUES ('south', 0, 'order', 'south', 'gone', NULL);
                DROP INDEX records_by_store_feed;
                ALTER TABLE records DROP COLUMN seq, DROP COLUMN source;
                DELETE FROM returnsync_migrations WHERE name = '2026-12-06-store-feeds-in-records';
            END $$
            """
        )
        storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let after = try await feeds(storage)
        #expect(after == before)
        // Only the records every store receives keep rows of a feed; a push after goes on from the store's head.
        let rows = try await PostgresKilledMigrationTests.scalar(
            url,
            "SELECT string_agg(store_id || ' ' || entity_type || ' ' || id, ', ' ORDER BY store_id) FROM global_feed"
        )
        #expect(rows == "north recall RC-1, south recall RC-1")
        let head = try await storage.encodedFeed(store: north, after: 0, limit: 100, requester: nil).next
        let kiosk = try ReplicaStore.create(
            at: directory.file("north-k3.sqlite"),
            identity: .kiosk(store: north, kiosk: KioskID("k3"))
        )
        _ = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-k3"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        _ = try await storage.acceptPush(try kiosk.returnRecords(), from: kiosk.identity.replicaID, store: north)
        let next = try await storage.encodedFeed(store: north, after: head, limit: 100, requester: nil)
        #expect(next.records.count == 1 && next.records[0].contains("O-k3"), "\(next.records)")
        await storage.close()
    }

    /// A search by GTIN alone — `returns-server returns list --gtin`, the console's search, a recall's sweep —
    /// reads an index, not every return: the partial index on GTIN and serial could serve only a serial's search. With
    /// sequential scans priced out, the planner still scans the table when no index can answer, so each plan names
    /// the index only if it can serve the query.
    @Test func aSearchByGTINAloneReadsAnIndex() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        do {
            await (try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)).close()
            let connection = try await PostgresConnection.connect(
                configuration: try url.connectionConfiguration(),
                id: 1,
                logger: PostgresTestServer.logger
            )
            func plan(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) async throws -> String {
                var lines: [String] = []
                for try await line in try await connection.query(
                    PostgresQuery(unsafeSQL: "EXPLAIN " + sql, binds: binds),
                    logger: PostgresTestServer.logger
                ).decode(String.self) { lines.append(line) }
                return lines.joined(separator: "\n")
            }
            do {
                try await connection.query("SET enable_seqscan = off", logger: PostgresTestServer.logger)
                let gtin = try GTIN("4006381333931")
                let (search, arguments) = ReturnSearch(gtin: gtin).statement(recordJoin: nil) { "$\($0)" }
                var binds = PostgresBindings()
                for argument in arguments {
                    switch argument {
                    case .text(let text): binds.append(text)
                    case .integer(let number): binds.append(number)
                    }
                }
                let plans = [
                    try await plan(search, binds),
                    // What a recall's sweep asks (`RecallSweep.candidates`): its GTINs, unflagged, not voided.
                    try await plan(
                        """
                        SELECT id, gtin, lot, serial FROM returns
                        WHERE recall_campaign IS NULL AND status <> 'voided'
                          AND gtin IN ('\(gtin.digits)', '00000000000017')
                        ORDER BY created_at, id
                        """
                    ),
                    // And re-verification's search for a unit, as before.
                    try await plan(
                        """
                        SELECT id FROM returns WHERE gtin = '\(gtin.digits)' AND serial = 'SN-1' AND serial IS NOT NULL
                        """
                    ),
                ]
                for plan in plans { #expect(plan.contains("returns_by_unit"), "\(plan)") }
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            await drop()
            throw error
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
        try await first.noteSync(of: "store-1/a", protocolVersion: 3)
        #expect(try await second.enrolledKiosk("store-1/a")?.lastSyncAt != nil)
        #expect(try await second.enrolledKiosks().map(\.protocolVersion) == [3], "the version it spoke")
        #expect(try await first.storageSize() > 0)
        await first.close()
        await second.close()
        await drop()
    }

    @Test func aCommitIsAnnouncedToEveryListeningProcess() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let listener = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let writer = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let (stores, sink) = AsyncStream.makeStream(of: String?.self)
        let listening = Task { try await listener.watchChanges { sink.yield($0) } }
        let watchdog = Task {
            guard (try? await Task.sleep(for: .seconds(30))) != nil else { return }
            sink.finish()
        }
        var iterator = stores.makeAsyncIterator()
        // The first call says "anything may have changed": the listener is in place from then on.
        #expect(await iterator.next() == .some(nil))
        let record = try SampleData.capturedReturn(by: ReplicaID("store-1/a"), at: Date().addingTimeInterval(-60))
        _ = try await writer.acceptPush([record], from: ReplicaID("store-1/a"), store: StoreID("store-1"))
        #expect(await iterator.next() == .some("store-1"))
        listening.cancel()
        watchdog.cancel()
        await listener.close()
        await writer.close()
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

/// Commands that do not work on PostgreSQL yet refuse a PostgreSQL `--db` in one line, its password hidden.
@Suite struct PostgresURLCommandTests {
    @Test func backupOfAPostgresDatabaseIsRefusedPlainly() async {
        let refused = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "backup", "--db", "postgres://hq:secret@db.example/returns", "--output", "/nonexistent/copy.sqlite",
            ])
        }
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("postgres://hq:***@db.example:5432/returns"), "\(refused.stderr)")
        #expect(refused.stderr.contains("backup is PostgreSQL's own") && !refused.stderr.contains("secret"))
        let mistyped = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "conflicts", "--db", "postgres://hq:secret@db.example/returns?ssl=1",
            ])
        }
        #expect(mistyped.status == 1 && mistyped.stderr.contains("unknown parameter 'ssl'"))
        #expect(!mistyped.stderr.contains("secret"), "\(mistyped.stderr)")
    }
}

/// A fleet through two `serve` processes on one PostgreSQL database: kiosks sync through either, one after another
/// and at once, and converge exactly as through one server; a token works once, whichever process sees it.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresFleetTests {
    /// A `returns-server serve` process on `url`; its address is the first line it prints.
    final class ServeProcess: Sendable {
        let process: ChildProcess
        let address: String

        convenience init(_ url: PostgresURL) throws {
            try self.init(db: Self.text(url))
        }

        /// A `serve` process on `db`, a SQLite file or a PostgreSQL URL.
        init(db: String) throws {
            process = try ChildProcess(
                ToolRun.binaries.appendingPathComponent("returns-server").path,
                ["serve", "--db", db, "--port", "0"]
            )
            var line = Data()
            while line.last != UInt8(ascii: "\n") {
                let byte = process.standardOutput!.readData(ofLength: 1)
                guard !byte.isEmpty else { break }
                line.append(byte)
            }
            address = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                .replacingOccurrences(of: "listening on ", with: "")
        }

        /// A `serve` process on `url`, started and read on a thread of its own (it migrates before it listens).
        static func start(_ url: PostgresURL) async throws -> ServeProcess {
            try await start(db: text(url))
        }

        /// A `serve` process on `db`, started and read on a thread of its own.
        static func start(db: String) async throws -> ServeProcess {
            try await offThePool { try ServeProcess(db: db) }
        }

        /// The URL as given on the command line (the password included: the test cluster has none).
        static func text(_ url: PostgresURL) -> String {
            "postgres://\(url.user)@\(url.host):\(url.port)/\(url.database)?sslmode=\(url.sslMode.rawValue)"
        }

        func stop() {
            process.send(SIGTERM)
            _ = process.waitUntilExit()
        }
    }

    static func enroll(_ url: PostgresURL, store: String, kiosk: String) async throws -> String {
        let run = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "enroll", "--db", ServeProcess.text(url), "--store", store, "--kiosk", kiosk,
            ])
        }
        try #require(run.status == 0, "\(run.stderr)")
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func kiosk(
        store: String,
        kiosk: String,
        token: String,
        server: String,
        in directory: TemporaryDirectory
    ) throws -> (ReplicaStore, SyncClient) {
        let replica = try ReplicaStore.create(
            at: directory.file("\(store)-\(kiosk).sqlite"),
            identity: .kiosk(store: StoreID(store), kiosk: KioskID(kiosk))
        )
        try replica.saveSyncCredentials(SyncClient.makeCredentials(server: server, token: token))
        return (replica, SyncClient(store: replica))
    }

    /// A kiosk enrolled on the database `url` (its token issued as `returns-server enroll` would), first syncing
    /// with `server`.
    static func enrolledKiosk(
        _ url: PostgresURL,
        store: String,
        kiosk: String,
        server: String,
        in directory: TemporaryDirectory
    ) async throws -> (ReplicaStore, SyncClient) {
        let token = try await enroll(url, store: store, kiosk: kiosk)
        return try Self.kiosk(store: store, kiosk: kiosk, token: token, server: server, in: directory)
    }

    static func capture(_ replica: ReplicaStore, _ order: String) throws {
        _ = try replica.recordReturn(
            ReturnCapture(orderID: OrderID(order), gtin: GTIN("4006381333931"), reason: .damaged)
        )
    }

    @Test func aPushThroughOneProcessReachesAKioskWatchingThroughTheOther() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let directory = try TemporaryDirectory()
        let first = try await ServeProcess.start(url)
        let second = try await ServeProcess.start(url)
        let (a, clientA) = try await Self.enrolledKiosk(
            url,
            store: "store-1",
            kiosk: "a",
            server: first.address,
            in: directory
        )
        let (_, clientB) = try await Self.enrolledKiosk(
            url,
            store: "store-1",
            kiosk: "b",
            server: second.address,
            in: directory
        )
        // Neither the agent's schedule nor its local check fires: what b pulls, live push brought.
        let running = RunningAgent(
            client: clientB,
            configuration: SyncAgent.Configuration(interval: .seconds(3600), changeCheckInterval: .seconds(3600))
        )
        var iterator = running.events.makeAsyncIterator()
        while let event = await iterator.next() { if case .watching = event { break } }
        try Self.capture(a, "A-1")
        _ = try await clientA.sync()
        var pulled = 0
        while let event = await iterator.next() {
            if case .synced(let report) = event, report.pulled > 0 {
                pulled = report.pulled
                break
            }
        }
        #expect(pulled == 1, "the watching kiosk got the other process's push")
        try await running.stop()
        first.stop()
        second.stop()
        await drop()
    }

    /// HQ's commands are another process too: an edit from the CLI, and a recall every store receives, reach a kiosk
    /// watching through a `serve` process at once.
    @Test func hqEditsFromTheCommandLineReachAWatchingKiosk() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let directory = try TemporaryDirectory()
        let serve = try await ServeProcess.start(url)
        let (kiosk, client) = try await Self.enrolledKiosk(
            url,
            store: "store-1",
            kiosk: "a",
            server: serve.address,
            in: directory
        )
        try Self.capture(kiosk, "A-1")
        _ = try await client.sync()
        let id = try #require(try kiosk.returnRecords().first?.id)
        let running = RunningAgent(
            client: client,
            configuration: SyncAgent.Configuration(interval: .seconds(3600), changeCheckInterval: .seconds(3600))
        )
        var iterator = running.events.makeAsyncIterator()
        while let event = await iterator.next() { if case .watching = event { break } }
        func nextPull() async -> Int {
            while let event = await iterator.next() {
                if case .synced(let report) = event, report.pulled > 0 { return report.pulled }
            }
            return 0
        }
        let db = ServeProcess.text(url)
        let note = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["returns", "note", id, "call the customer", "--db", db])
        }
        #expect(note.status == 0, "\(note.stderr)")
        #expect(await nextPull() == 1, "the HQ edit")
        let recall = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "recall", "add", "--db", db, "--id", "RC-7", "--gtin", "4006381333931", "--hazard", "Overheats",
                "--instructions", "Quarantine", "--units", "5",
            ])
        }
        #expect(recall.status == 0, "\(recall.stderr)")
        #expect(await nextPull() == 2, "the recall, and the return it found at HQ")
        #expect(try kiosk.recalls().map(\.id) == ["RC-7"])
        let found = try ProductReturn(record: kiosk.returnRecord(ReturnID(id)))
        #expect(
            found.notes.map(\.text) == [
                "call the customer", "Recall RC-7 (certain match) found after capture; quarantined.",
            ]
        )
        #expect(found.recallCampaign == "RC-7" && found.disposition == .quarantine)
        try await running.stop()
        serve.stop()
        await drop()
    }

    /// The server does not poll PostgreSQL for other processes' changes: `NOTIFY` wakes its watchers. The poll is
    /// set to an hour here, so only the notification can bring the change.
    @Test func anotherProcesssCommitIsAnnouncedNotPolledFor() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let directory = try TemporaryDirectory()
        let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let otherProcess = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        let token = try await EnrollmentToken.issue(in: storage, store: StoreID("store-1"), kiosk: KioskID("b"))
        let logger = Logger(label: "test.server", factory: { _ in SwiftLogNoOpLogHandler() })
        let (addresses, announce) = AsyncStream.makeStream(of: SocketAddress.self)
        let server = SyncServer(
            store: storage,
            configuration: SyncServerConfiguration(host: "127.0.0.1", port: 0, changePollInterval: .seconds(3_600)),
            logger: logger,
            onListening: {
                announce.yield($0)
                announce.finish()
            }
        )
        let serverGroup = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
        let serving = Task { try await serverGroup.run() }
        let port = try #require(await addresses.first { _ in true }?.port)
        let (_, clientB) = try Self.kiosk(
            store: "store-1",
            kiosk: "b",
            token: token.description,
            server: "127.0.0.1:\(port)",
            in: directory
        )
        // The longest watch: ended by its deadline, it would bring the change only after the agent's time limit
        // stopped it, so the test fails unless the notification woke the watch.
        let running = RunningAgent(
            client: clientB,
            configuration: SyncAgent.Configuration(
                interval: .seconds(3600),
                changeCheckInterval: .seconds(3600),
                watchSeconds: 50
            ),
            limit: .seconds(45)
        )
        var iterator = running.events.makeAsyncIterator()
        while let event = await iterator.next() { if case .watching = event { break } }
        // Another process stores a return of kiosk a's: only its NOTIFY can wake this server's watcher.
        let record = try SampleData.capturedReturn(
            by: ReplicaID("store-1/a"),
            at: Date().addingTimeInterval(-60)
        )
        _ = try await otherProcess.acceptPush([record], from: ReplicaID("store-1/a"), store: StoreID("store-1"))
        var pulled = 0
        while let event = await iterator.next() {
            if case .synced(let report) = event, report.pulled > 0 {
                pulled = report.pulled
                break
            }
        }
        #expect(pulled == 1, "the watcher was woken by the other process's commit")
        try await running.stop()
        await serverGroup.triggerGracefulShutdown()
        try await serving.value
        await storage.close()
        await otherProcess.close()
        await drop()
    }

    @Test func kiosksSyncingThroughTwoProcessesConverge() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let directory = try TemporaryDirectory()
        let tokenA = try await Self.enroll(url, store: "store-1", kiosk: "a")
        let tokenB = try await Self.enroll(url, store: "store-1", kiosk: "b")
        let tokenZ = try await Self.enroll(url, store: "store-2", kiosk: "z")
        let first = try await ServeProcess.start(url)
        let second = try await ServeProcess.start(url)
        let (a, clientA) = try Self.kiosk(
            store: "store-1",
            kiosk: "a",
            token: tokenA,
            server: first.address,
            in: directory
        )
        let (b, clientB) = try Self.kiosk(
            store: "store-1",
            kiosk: "b",
            token: tokenB,
            server: second.address,
            in: directory
        )
        let (z, clientZ) = try Self.kiosk(
            store: "store-2",
            kiosk: "z",
            token: tokenZ,
            server: second.address,
            in: directory
        )
        for index in 0..<3 {
            try Self.capture(a, "A-\(index)")
            try Self.capture(b, "B-\(index)")
            try Self.capture(z, "Z-\(index)")
        }
        // Enrolled through different processes, then syncing through both, at once.
        try await withThrowingTaskGroup(of: SyncReport.self) { group in
            group.addTask { try await clientA.sync() }
            group.addTask { try await clientB.sync() }
            group.addTask { try await clientZ.sync() }
            for try await _ in group {}
        }
        try Self.capture(a, "A-late")
        _ = try await clientA.sync(server: second.address)
        _ = try await clientB.sync(server: first.address)
        _ = try await clientA.sync(server: first.address)
        let storeOne = try a.returnRecords()
        #expect(storeOne.count == 7)
        #expect(try b.returnRecords() == storeOne, "store-1's kiosks converge")
        #expect(try z.returnRecords().count == 3, "store-2 sees its own returns only")
        // A token works once, whichever process is asked.
        let (again, clientAgain) = try Self.kiosk(
            store: "store-1",
            kiosk: "a",
            token: tokenA,
            server: second.address,
            in: try TemporaryDirectory()
        )
        try Self.capture(again, "IMPOSTOR")
        await #expect {
            _ = try await clientAgain.sync()
        } throws: { error in
            (error as? SyncError)?.serverError?.code == .enrollmentRefused
        }
        // An operator revokes kiosk b on the database: refused through either process from then on.
        let revoke = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "kiosks", "revoke", "--db", ServeProcess.text(url), "store-1", "b",
            ])
        }
        #expect(revoke.status == 0 && revoke.stdout == "revoked store-1/b\n", "\(revoke.stderr)")
        let listed = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["kiosks", "--db", ServeProcess.text(url)])
        }
        #expect(listed.stdout.contains("store-1/a") && listed.stdout.contains("store-2/z"))
        #expect(listed.stdout.split(separator: "\n").first { $0.hasPrefix("store-1/b") }?.contains("revoked") == true)
        for server in [first.address, second.address] {
            await #expect {
                _ = try await clientB.sync(server: server)
            } throws: { error in
                (error as? SyncError)?.serverError?.code == .authenticationFailed
            }
        }
        let unknown = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "kiosks", "revoke", "--db", ServeProcess.text(url), "store-9", "nobody",
            ])
        }
        #expect(unknown.status == 1 && unknown.stderr.contains("no kiosk store-9/nobody is enrolled"))
        first.stop()
        second.stop()
        await drop()
    }
}
