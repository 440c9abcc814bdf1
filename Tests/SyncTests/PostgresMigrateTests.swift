import Foundation
import HQAccess
import PostgresNIO
import PostgresStorage
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import SyncClient
import SyncEngine
import Testing

/// `returns-server migrate`: a SQLite server with live kiosks moves to PostgreSQL, and the kiosks carry on.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresMigrateTests {
    typealias Fleet = PostgresFleetTests

    static func migrate(_ arguments: [String]) async -> (status: Int32, stdout: String, stderr: String) {
        let run = await runCaptured { await ReturnsServerCLI.run(arguments: ["migrate"] + arguments) }
        return (run.status, run.stdout, run.stderr)
    }

    static func enroll(sqlite path: String, store: String, kiosk: String) async throws -> String {
        let run = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["enroll", "--db", path, "--store", store, "--kiosk", kiosk])
        }
        try #require(run.status == 0, "\(run.stderr)")
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Points a kiosk at another address, as a fleet's DNS name would move to the new servers.
    static func move(_ replica: ReplicaStore, to server: String) throws {
        var credentials = try #require(try replica.syncCredentials())
        credentials.server = server
        try replica.saveSyncCredentials(credentials)
    }

    @Test func kiosksCarryOnWithoutReEnrollingOrAFullResync() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let sqlite = directory.file("hq.sqlite")
        _ = try await Self.enroll(sqlite: sqlite, store: "store-1", kiosk: "k0")  // creates the database
        let old = try await Fleet.ServeProcess.start(db: sqlite)
        var kiosks: [(ReplicaStore, SyncClient)] = []
        for (store, kiosk) in [("store-1", "k1"), ("store-1", "k2"), ("store-2", "k1")] {
            let token = try await Self.enroll(sqlite: sqlite, store: store, kiosk: kiosk)
            kiosks.append(try Fleet.kiosk(store: store, kiosk: kiosk, token: token, server: old.address, in: directory))
        }
        // A recall and a policy every store receives, the first before the move, the second after it. The recall
        // is of another product than the returns captured: flags it found would be pushes of their own.
        let recall = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "recall", "add", "--db", sqlite, "--id", "RC-1", "--gtin", "96385074", "--hazard", "Overheats",
                "--instructions", "Quarantine", "--units", "10",
            ])
        }
        try #require(recall.status == 0, "\(recall.stderr)")
        let zone = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "store", "set", "store-2", "--time-zone", "Europe/Lisbon", "--db", sqlite,
            ])
        }
        try #require(zone.status == 0, "\(zone.stderr)")
        // Issued before the move, redeemed after it.
        let laterToken = try await Self.enroll(sqlite: sqlite, store: "store-1", kiosk: "k3")
        let (a, b, c) = (kiosks[0], kiosks[1], kiosks[2])
        for order in ["O-1", "O-2", "O-3"] { try Fleet.capture(a.0, order) }
        try Fleet.capture(c.0, "O-4")
        _ = try await a.1.sync()
        _ = try await c.1.sync()
        #expect(try await b.1.sync().pulled == 5)  // a's three returns, the recall, the store's zone
        _ = try await a.1.sync()
        old.stop()

        let run = await Self.migrate(["--from", sqlite, "--to", Fleet.ServeProcess.text(url)])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(
            run.stdout.contains("4 returns of 2 stores, 3 kiosks, 5 enrollment tokens, 1 recalls, 0 policies"),
            "\(run.stdout)"
        )

        let new = try await Fleet.ServeProcess.start(url)
        defer { new.stop() }
        for kiosk in kiosks { try Self.move(kiosk.0, to: new.address) }
        // Nothing old is sent again, nothing old pulled again: the server is the same one to the kiosks.
        let quiet = try await c.1.sync()
        #expect(quiet.pushed == 0 && quiet.pulled == 0)
        try Fleet.capture(a.0, "O-5")
        let push = try await a.1.sync()
        #expect(push.pushed == 1)
        #expect(push.pulled == 0)
        let pull = try await b.1.sync()
        #expect(pull.pushed == 0)
        #expect(pull.pulled == 1)
        #expect(try b.0.returnRecords().count == 4)
        #expect(try await c.1.sync().pulled == 0)
        // A policy set on PostgreSQL reaches every store; the recall from SQLite is still there.
        let policy = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "policy", "set", "--db", Fleet.ServeProcess.text(url), "--window-days", "14", "--receipt-required",
            ])
        }
        #expect(policy.status == 0, "\(policy.stderr)")
        #expect(try await c.1.sync().pulled == 1)
        #expect(try c.0.returnPolicies().map(\.windowDays) == [14])
        #expect(try c.0.recalls().map(\.id) == ["RC-1"])
        #expect(try c.0.storeTimeZones()[StoreID("store-2")].identifier == "Europe/Lisbon")
        let zones = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["store", "list", "--db", Fleet.ServeProcess.text(url)])
        }
        #expect(zones.stdout.contains("store-2  Europe/Lisbon"), "the zone moved with the rest: \(zones.stdout)")
        // A token issued by the SQLite server works, once, on PostgreSQL; the kiosk receives its store's returns
        // and the recall and the policy.
        let (late, lateClient) = try Fleet.kiosk(
            store: "store-1",
            kiosk: "k3",
            token: laterToken,
            server: new.address,
            in: directory
        )
        #expect(try await lateClient.sync().pulled == 7)
        #expect(try late.recalls().map(\.id) == ["RC-1"])
        #expect(try late.returnRecords().count == 4)

        let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        #expect(try await storage.recordCount(entityType: "return") == 5)
        #expect(storage.serverReplicaID.rawValue == "hq")
        await storage.close()
    }

    @Test func refusesADatabaseInUseAndWrongArgumentsAndMovesOrders() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let sqlite = directory.file("hq.sqlite")
        _ = try await Self.enroll(sqlite: sqlite, store: "store-1", kiosk: "k1")
        let target = Fleet.ServeProcess.text(url)

        #expect(await Self.migrate(["--from", sqlite, "--to", target]).status == 0)
        let again = await Self.migrate(["--from", sqlite, "--to", target])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already holds a server"), "\(again.stderr)")
        #expect(again.stderr.split(separator: "\n").count == 1, "\(again.stderr)")

        let wrongTo = await Self.migrate(["--from", sqlite, "--to", directory.file("other.sqlite")])
        #expect(wrongTo.status != 0)
        #expect(wrongTo.stderr.contains("--to takes a PostgreSQL URL"), "\(wrongTo.stderr)")
        let wrongFrom = await Self.migrate(["--from", target, "--to", target])
        #expect(wrongFrom.stderr.contains("--from takes the SQLite server database"), "\(wrongFrom.stderr)")
        let missing = await Self.migrate(["--from", directory.file("none.sqlite"), "--to", target])
        #expect(missing.stderr.contains("no server database at"), "\(missing.stderr)")

        // Order lines move too.
        let (fresh, dropFresh) = try await PostgresTestServer.makeDatabase()
        defer { Task { await dropFresh() } }
        let orders = directory.file("orders.csv")
        try Data(
            """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            ORD-1,store-1,1,4006381333931,,3,19.99,2026-11-20

            """.utf8
        ).write(to: URL(fileURLWithPath: orders))
        let imported = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["orders", "import", "--db", sqlite, orders])
        }
        try #require(imported.status == 0, "\(imported.stderr)")
        let moved = await Self.migrate(["--from", sqlite, "--to", Fleet.ServeProcess.text(fresh)])
        #expect(moved.status == 0, "\(moved.stderr)")
        #expect(moved.stdout.contains("1 order lines"), "\(moved.stdout)")
        let lines = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["orders", "list", "--json", "--db", Fleet.ServeProcess.text(fresh)])
        }
        #expect(lines.stdout.contains("ORD-1"), "\(lines.stdout)")
        let storage = try await PostgresServerStorage.open(fresh, logger: PostgresTestServer.logger)
        #expect(try await storage.enrolledKiosks().isEmpty, "no kiosk had enrolled")
        await storage.close()
    }
}

/// A SQLite server that commits while it is copied: nothing is kept.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresMigrateLiveSourceTests {
    @Test func aSourceThatChangesDuringTheCopyLeavesNothing() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let source = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        _ = try source.merge(try SampleData.capturedReturn(by: ReplicaID("store-1/a"), at: Date(), orderID: "O-1"))
        let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        // A serve process left running: a return arrives while the copy is under way.
        await #expect(throws: PostgresStorageError.self) {
            try await storage.importServer(from: source) { _, _ in
                _ = try? source.merge(
                    try! SampleData.capturedReturn(by: ReplicaID("store-1/a"), at: Date(), orderID: "O-2")
                )
            }
        }
        #expect(try await storage.recordCount(entityType: "return") == 0, "nothing kept")
        #expect(try await storage.enrolledKiosks().isEmpty)
        await storage.close()
    }

    /// Photos' bytes (whole and half-sent) and the steps HQ kept move with the server.
    @Test func attachmentsSupersededStepsAndConsoleUsersMoveToo() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let source = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID("a"))
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("96385074"), reason: .damaged)
        )
        let whole = AttachmentSyncTests.photo(600_000, seed: 11)
        let half = AttachmentSyncTests.photo(300_000, seed: 12)
        try kiosk.attach(whole, to: item.id)
        try kiosk.attach(half, to: item.id)
        _ = try kiosk.updateReturn(item.id, operation: "inspect") {
            try $0.inspect(condition: .unopened, testResult: .pass, by: $1, at: $2)
        }
        _ = try kiosk.updateReturn(item.id, operation: "route") { try $0.assignDisposition(.restock, by: $1, at: $2) }
        _ = try source.acceptPush(try kiosk.returnRecords(), from: ReplicaID("store-1/a"), store: StoreID("store-1"))
        _ = try source.updateReturn(item.id, operation: "disposition") {
            try $0.assignDisposition(.recycle, by: $1, at: $2)
        }
        let store = try StoreID("store-1")
        let (wholeDigest, halfDigest) = (AttachmentSyncTests.digest(whole), AttachmentSyncTests.digest(half))
        _ = try source.appendAttachmentChunk(wholeDigest, store: store, offset: 0, bytes: whole.prefix(400_000))
        _ = try source.appendAttachmentChunk(
            wholeDigest,
            store: store,
            offset: 400_000,
            bytes: whole.dropFirst(400_000)
        )
        _ = try source.appendAttachmentChunk(halfDigest, store: store, offset: 0, bytes: half.prefix(100_000))

        // HQ's console users and their audit.
        let at = Date(millisecondsSince1970: 1_796_000_000_000)
        try source.addHQUser(
            HQUser(
                name: try HQUserName("dana"),
                role: .admin,
                passwordHash: "$2b$04$x",
                createdAt: at,
                passwordChangedAt: at
            ),
            by: "ops (command line)"
        )
        try source.setHQUserPassword(try HQUserName("dana"), hash: "$2b$04$y", by: "dana")

        let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        _ = try await storage.importServer(from: source)
        #expect(try await storage.hqUsers() == (try source.hqUsers()))
        #expect(try await storage.hqAudit(limit: 10) == (try source.hqAudit(limit: 10)))
        let streamed = Streamed()
        #expect(try await storage.streamAttachment(wholeDigest) { streamed.append($0) }?.size == 600_000)
        #expect(streamed.bytes == whole)
        #expect(try await storage.attachmentState(halfDigest, store: store)?.held == 100_000)
        // The half-sent photo goes on where it stopped.
        let rest = try await storage.appendAttachmentChunk(
            halfDigest,
            store: store,
            offset: 100_000,
            bytes: half.dropFirst(100_000)
        )
        #expect(rest.complete)
        #expect(
            try await storage.supersededSteps(of: [item.id.rawValue])[item.id.rawValue]?.map(\.value) == ["restock"]
        )
        await storage.close()
    }
}

/// A PostgreSQL database restored from a backup: `returns-server restore --db URL` gives the server a new id, and
/// kiosks re-send what the restore lost.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresRestoreTests {
    typealias Fleet = PostgresFleetTests

    static func restore(_ url: PostgresURL) async -> (status: Int32, stdout: String, stderr: String) {
        let run = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["restore", "--db", Fleet.ServeProcess.text(url)])
        }
        return (run.status, run.stdout, run.stderr)
    }

    @Test func kiosksSendAgainWhatTheRestoreLost() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let first = try await Fleet.ServeProcess.start(url)
        let (k1, sync1) = try await Fleet.enrolledKiosk(
            url,
            store: "s1",
            kiosk: "k1",
            server: first.address,
            in: directory
        )
        let (k2, sync2) = try await Fleet.enrolledKiosk(
            url,
            store: "s1",
            kiosk: "k2",
            server: first.address,
            in: directory
        )
        try Fleet.capture(k1, "O-1")
        _ = try await sync1.sync()
        _ = try await sync2.sync()
        first.stop()

        // The backup: a copy of the database as it is now (PostgreSQL copies a database with no one connected).
        var copy = url
        copy.database = url.database + "_backup"
        let backup = copy
        let admin = try PostgresURL(try #require(PostgresTestServer.url))
        try await PostgresTestServer.adminQuery(
            admin,
            PostgresQuery(unsafeSQL: "CREATE DATABASE \(backup.database) TEMPLATE \(url.database)")
        )
        defer {
            Task {
                try? await PostgresTestServer.adminQuery(
                    admin,
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(backup.database) WITH (FORCE)")
                )
            }
        }
        let second = try await Fleet.ServeProcess.start(url)
        try PostgresMigrateTests.move(k1, to: second.address)
        try Fleet.capture(k1, "O-2")
        #expect(try await sync1.sync().pushed == 1)
        second.stop()

        // The database is lost; the backup comes back. A serve process still running on it is refused.
        let early = try await Fleet.ServeProcess.start(backup)
        let refused = await Self.restore(backup)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("stop every serve process"), "\(refused.stderr)")
        early.stop()
        let restored = await Self.restore(backup)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stdout.contains("is now server hq.r2 (was hq)"), "\(restored.stdout)")

        let third = try await Fleet.ServeProcess.start(backup)
        defer { third.stop() }
        try PostgresMigrateTests.move(k1, to: third.address)
        try PostgresMigrateTests.move(k2, to: third.address)
        // k1 sees the new id and sends everything it holds: the return the restore lost comes back.
        let resend = try await sync1.sync()
        #expect(resend.pushed == 2)
        let pull = try await sync2.sync()
        #expect(try k2.returnRecords().count == 2, "pulled \(pull.pulled)")
        let storage = try await PostgresServerStorage.open(backup, logger: PostgresTestServer.logger)
        #expect(try await storage.recordCount(entityType: "return") == 2)
        #expect(storage.serverReplicaID.rawValue == "hq.r2")
        await storage.close()
    }
}
