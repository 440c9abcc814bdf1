import CommandLineSupport
import Foundation
import PostgresNIO
import PostgresStorage
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

@testable import ReturnsServerCLI

/// HQ's reports read the same on every backend: the same pushes into SQLite and PostgreSQL give the same report,
/// row for row, for every `--by`, the summary, recall completion, repair turnaround and the HTML page.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct ReportParityTests {
    /// The pushes of a day at two stores, each `(pusher, store, records)` in the order they reach the server.
    static func storeDay(in directory: TemporaryDirectory) throws -> [(ReplicaID, StoreID, [VersionedRecord])] {
        func kiosk(_ store: String, _ kiosk: String) throws -> ReplicaStore {
            try ReplicaStore.create(
                at: directory.file("\(store)-\(kiosk).sqlite"),
                identity: .kiosk(store: StoreID(store), kiosk: KioskID(kiosk))
            )
        }
        let (north1, north2, south) = (try kiosk("north", "k1"), try kiosk("north", "k2"), try kiosk("south", "k1"))
        func capture(
            _ kiosk: ReplicaStore,
            _ gtin: String,
            _ reason: ReturnReason,
            quantity: Int = 1,
            receipt: Bool = true
        ) throws -> ProductReturn {
            try kiosk.recordReturn(
                ReturnCapture(
                    orderID: OrderID("O-\(gtin)-\(quantity)"),
                    gtin: GTIN(gtin),
                    reason: reason,
                    quantity: quantity,
                    receipt: receipt
                )
            )
        }
        func route(
            _ kiosk: ReplicaStore,
            _ id: ReturnID,
            _ condition: ItemCondition,
            _ disposition: Disposition
        )
            throws
        {
            try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
                try item.inspect(condition: condition, testResult: .pass, by: author, at: date)
            }
            try kiosk.updateReturn(id, operation: "disposition") { item, author, date in
                try item.assignDisposition(disposition, by: author, at: date)
            }
        }
        let lamp = "4006381333931"
        let drill = "5901234123457"
        let kettle = "9780201379624"
        let restocked = try capture(north1, lamp, .noLongerNeeded, quantity: 2)
        try route(north1, restocked.id, .unopened, .restock)
        _ = try capture(north1, kettle, .damaged)
        let mistake = try capture(north1, drill, .defective)
        try north1.updateReturn(mistake.id, operation: "void") { item, author, date in
            try item.void(note: "scanned twice", by: author, at: date)
        }
        _ = try capture(north2, lamp, .notAsDescribed, quantity: 3, receipt: false)
        let repaired = try capture(south, drill, .defective)
        try route(south, repaired.id, .defective, .repair)
        try south.updateReturn(repaired.id, operation: "repair") { item, _, date in
            try item.recordRepair(
                RepairRecord(vendor: "Acme", status: .repaired, sentOn: "2026-11-20", backOn: "2026-11-26"),
                at: date
            )
        }
        _ = try capture(south, kettle, .damaged, quantity: 4)
        // One return routed at two kiosks of a store at once: a conflict the server audits.
        let disputed = try capture(north1, drill, .damaged)
        try north1.updateReturn(disputed.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
        }
        let firstPush = try north1.returnRecords()
        try north2.merge(try north1.returnRecord(disputed.id))
        try north1.updateReturn(disputed.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.recycle, by: author, at: date)
        }
        try north2.updateReturn(disputed.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.dispose, by: author, at: date)
        }
        return [
            (north1.identity.replicaID, try StoreID("north"), firstPush),
            (south.identity.replicaID, try StoreID("south"), try south.returnRecords()),
            (north2.identity.replicaID, try StoreID("north"), try north2.returnRecords()),
            (north1.identity.replicaID, try StoreID("north"), try north1.returnRecords()),
        ]
    }

    /// Every report a backend gives, as text to compare; the HTML page made at a fixed time.
    static func reports(_ source: any ReportSource) async throws -> [String: String] {
        // As `report` prints them: a table, JSON and CSV.
        func text(_ report: ReplicaStore.Report) -> String {
            ["table", "json", "csv"].map { ReportNotes.render(report, as: $0) }.joined(separator: "\n")
        }
        var reports: [String: String] = [:]
        for dimension in ReplicaStore.ReportDimension.allCases {
            reports["\(dimension)"] = text(try await source.groupedReport(by: dimension, withTotal: true))
        }
        reports["summary"] = text(try await source.summaryReport())
        reports["recall"] = text(try await source.recallCompletionReport())
        reports["repair"] = text(try await source.repairTurnaroundReport())
        var dashboard = try await source.dashboard(listLimit: 3)
        dashboard.generatedAt = Date(millisecondsSince1970: 1_790_000_000_000)
        reports["html"] = HTMLReport.render(dashboard)
        return reports
    }

    @Test func everyReportReadsTheSameOnSQLiteAndPostgreSQL() async throws {
        let directory = try TemporaryDirectory()
        let day = try Self.storeDay(in: directory)
        var results: [[String: String]] = []
        let soldAt = Date().addingTimeInterval(-3 * 86_400)
        func line(_ order: String, _ store: String, _ gtin: String, _ quantity: Int) throws -> OrderLine {
            try OrderLine(
                orderID: OrderID(order),
                storeID: StoreID(store),
                line: 1,
                gtin: GTIN(gtin),
                quantity: quantity,
                unitPriceCents: 1_999,
                soldAt: soldAt
            )
        }
        // Orders before the day (one of them for fewer units than come back), one more after it.
        let before = [
            try line("O-4006381333931-2", "north", "4006381333931", 2),
            try line("O-9780201379624-4", "south", "9780201379624", 3),
            try line("O-4006381333931-3", "south", "4006381333931", 3),
        ]
        let after = [try line("O-5901234123457-1", "south", "5901234123457", 1)]
        var verifications: [[String]] = []
        for backend in [StorageBackend.sqlite, .postgres] {
            try await backend.with { instance in
                let hq = try #require(instance.storage as? any ReferenceAdministration & ReturnAdministration)
                _ = try await hq.importOrders(before)
                try await hq.write(
                    .setPolicy(
                        .validated(store: StoreID("north"), gtinPrefix: "", windowDays: 30, receiptRequired: true)
                    )
                )
                for (pusher, store, records) in day {
                    _ = try await instance.storage.acceptPush(records, from: pusher, store: store)
                }
                let reverified = try await hq.importOrders(after).reverified
                // An HQ void frees the units of its purchase for the returns after it.
                let lamp = try #require(
                    try await hq.findReturns(ReturnSearch(store: StoreID("north")), records: false).returns.map(\.row)
                        .first { $0.gtin == "04006381333931" || $0.gtin == "4006381333931" }
                )
                _ = try await hq.editReturn(try ReturnID(lamp.id), operation: "void") { item, author, date in
                    try item.void(note: "HQ: duplicate", by: author, at: date)
                }
                verifications.append(
                    try await hq.returnRecords(store: nil).map { record in
                        let item = try ProductReturn(record: record)
                        return "\(item.id) \(item.verification?.rawValue ?? "-") \(item.exceptions.map(\.rawValue))"
                    } + ["reverified after the day: \(reverified)"]
                )
                let source = try #require(instance.storage as? any ReportSource)
                results.append(try await Self.reports(source))
            }
        }
        #expect(verifications[0] == verifications[1], "SQLite:\n\(verifications[0])\nPostgreSQL:\n\(verifications[1])")
        #expect(
            Set(verifications[0].map { $0.split(separator: " ").dropFirst().first ?? "" }).count > 2,
            "\(verifications[0])"
        )
        let (sqlite, postgres) = (results[0], results[1])
        #expect(sqlite.keys.sorted() == postgres.keys.sorted())
        for (name, report) in sqlite {
            #expect(
                postgres[name] == report,
                "\(name) differs:\nSQLite:\n\(report)\nPostgreSQL:\n\(postgres[name] ?? "")"
            )
        }
        // The day's numbers, so equal reports cannot be two empty ones.
        let summary = try #require(sqlite["summary"])
        for measure in ["returns,5", "units,10", "voided,2", "openConflicts,1", "repairs,1", "returnsInConflict,1"] {
            #expect(summary.contains(measure), "\(measure) in\n\(summary)")
        }
    }

    /// The metadata measure (`returns-bench metadata`, issue 18) reads the same records the same way on both
    /// backends: the same pushes give PostgreSQL the clock, dot and settled-history bytes SQLite counts, and its
    /// history (its stores' feeds and the conflict audit) and database are measured too.
    @Test func theMetadataCostCountsTheSameRecordsOnBothBackends() async throws {
        let directory = try TemporaryDirectory()
        let day = try Self.storeDay(in: directory)
        var costs: [SyncMetadataCost] = []
        for backend in [StorageBackend.sqlite, .postgres] {
            try await backend.with { instance in
                for (pusher, store, records) in day {
                    _ = try await instance.storage.acceptPush(records, from: pusher, store: store)
                }
                if let postgres = instance.storage as? PostgresServerStorage {
                    costs.append(try await postgres.syncMetadataCost())
                } else {
                    costs.append(try #require(instance.storage as? SQLiteServerStorage).store.syncMetadataCost())
                }
            }
        }
        let (sqlite, postgres) = (costs[0], costs[1])
        #expect(postgres.records == sqlite.records && sqlite.records >= 6, "\(sqlite.records) records")
        #expect(postgres.clockBytes == sqlite.clockBytes && sqlite.clockBytes > 0)
        #expect(postgres.dotBytes == sqlite.dotBytes && sqlite.dotBytes > 0)
        #expect(postgres.settledHistoryBytes == sqlite.settledHistoryBytes)
        for cost in [sqlite, postgres] {
            #expect(cost.historyBytes > cost.settledHistoryBytes, "a feed or change log, and the conflict audit")
            #expect(cost.metadataBytes < cost.databaseBytes, "\(cost)")
        }
    }

    @Test func theReportCommandReadsPostgreSQL() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
        for (pusher, store, records) in try Self.storeDay(in: directory) {
            _ = try await storage.acceptPush(records, from: pusher, store: store)
        }
        await storage.close()
        // A database from before the projection: its returns are projected once, when it is next opened.
        try await PostgresTestServer.adminQuery(url, "DELETE FROM returns")
        try await PostgresTestServer.adminQuery(url, "INSERT INTO returnsync_pending (task) VALUES ('project-returns')")
        let db = PostgresFleetTests.ServeProcess.text(url)
        let table = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["report", "--db", db, "--by", "reason"])
        }
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("REASON"), "\(table.stdout)")
        #expect(table.stdout.contains("total"), "\(table.stdout)")
        let json = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["report", "--db", db, "--by", "summary", "--format", "json"])
        }
        #expect(json.stdout.contains(#"{"measure":"returns","value":6}"#), "\(json.stdout)")
        let page = directory.file("report.html")
        let html = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["report", "--db", db, "--format", "html", "--output", page])
        }
        #expect(html.status == 0, "\(html.stderr)")
        #expect(try String(contentsOfFile: page, encoding: .utf8).contains("<html"))
    }
}

/// HQ's `returns` commands on PostgreSQL: edits under the server's id that reach the store's kiosks.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresReturnCommandTests {
    typealias Fleet = PostgresFleetTests

    static func hq(_ arguments: [String], _ db: String) async -> (status: Int32, stdout: String, stderr: String) {
        let run = await runCaptured { await ReturnsServerCLI.run(arguments: arguments + ["--db", db]) }
        return (run.status, run.stdout, run.stderr)
    }

    @Test func hqEditsAReturnAndTheKioskReceivesIt() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let serve = try await Fleet.ServeProcess.start(url)
        defer { serve.stop() }
        let (kiosk, client) = try await Fleet.enrolledKiosk(
            url,
            store: "north",
            kiosk: "k1",
            server: serve.address,
            in: directory
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        _ = try kiosk.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
        }
        _ = try await client.sync()
        let db = Fleet.ServeProcess.text(url)
        let id = item.id.rawValue

        let routed = await Self.hq(["returns", "disposition", id, "recycle"], db)
        #expect(routed.status == 0, "\(routed.stderr)")
        #expect(routed.stdout == "\(id) dispositioned: recycle\n")
        let noted = await Self.hq(["returns", "note", id, "checked at HQ"], db)
        #expect(noted.stdout == "\(id) note added (1 in all)\n", "\(noted.stderr)")
        let list = await Self.hq(["returns", "list", "--store", "north"], db)
        #expect(list.stdout.contains(id.prefix(8)) && list.stdout.contains("dispositioned"), "\(list.stdout)")
        #expect(list.stdout.hasSuffix("1 return\n"), "\(list.stdout)")
        let show = await Self.hq(["returns", "show", id], db)
        #expect(show.stdout.contains("disposition  recycle"), "\(show.stdout)")
        #expect(show.stdout.contains("checked at HQ"), "\(show.stdout)")

        // What HQ may not do is refused in one line, and nothing is stored.
        let unknown = await Self.hq(["returns", "disposition", "0192f5e0-7a3c-7def-8123-456789abcdef", "recycle"], db)
        #expect(unknown.status != 0 && unknown.stderr.contains("no return with id"), "\(unknown.stderr)")
        let bad = await Self.hq(["returns", "disposition", id, "fly"], db)
        #expect(bad.status != 0 && bad.stderr.contains("'fly'"), "\(bad.stderr)")
        let report = await Self.hq(["report", "--by", "disposition", "--format", "csv"], db)
        #expect(report.stdout.contains("recycle,1,1,0,0"), "\(report.stdout)")

        // The kiosk receives HQ's edits at its next sync.
        let sync = try await client.sync()
        #expect(sync.pulled == 1)
        let received = try ProductReturn(record: kiosk.returnRecord(item.id))
        #expect(received.disposition == .recycle)
        #expect(received.notes.map(\.text) == ["checked at HQ"])
    }

    @Test func hqSettlesAConflictAndAuditsIt() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let serve = try await Fleet.ServeProcess.start(url)
        defer { serve.stop() }
        let (k1, sync1) = try await Fleet.enrolledKiosk(
            url,
            store: "north",
            kiosk: "k1",
            server: serve.address,
            in: directory
        )
        let (k2, sync2) = try await Fleet.enrolledKiosk(
            url,
            store: "north",
            kiosk: "k2",
            server: serve.address,
            in: directory
        )
        let item = try k1.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        _ = try k1.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
        }
        _ = try await sync1.sync()
        _ = try await sync2.sync()
        // Both kiosks route it at once, offline.
        _ = try k1.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.recycle, by: author, at: date)
        }
        _ = try k2.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.dispose, by: author, at: date)
        }
        _ = try await sync1.sync()
        _ = try await sync2.sync()
        let db = Fleet.ServeProcess.text(url)
        let id = item.id.rawValue

        let audit = await Self.hq(["conflicts", "list", "--json"], db)
        #expect(audit.status == 0, "\(audit.stderr)")
        #expect(audit.stdout.contains(id) && audit.stdout.contains("disposition"), "\(audit.stdout)")
        let unknownField = await Self.hq(["conflicts", "resolve", id, "quantity", "2"], db)
        #expect(unknownField.stderr.contains("no open conflict on 'quantity'"), "\(unknownField.stderr)")
        let settled = await Self.hq(["conflicts", "resolve", id, "disposition", "recycle", "--operator", "erin"], db)
        #expect(settled.status == 0, "\(settled.stderr)")
        let history = await Self.hq(["returns", "show", id], db)
        #expect(history.stdout.contains("erin at hq"), "the settlement records who made it: \(history.stdout)")
        #expect(settled.stdout.hasPrefix("\(id) disposition settled: recycle (replaced "), "\(settled.stdout)")
        let summary = await Self.hq(["report", "--by", "summary", "--format", "csv"], db)
        #expect(summary.stdout.contains("openConflicts,0"), "\(summary.stdout)")
        #expect(summary.stdout.contains("returnsInConflict,0"), "\(summary.stdout)")

        // Both kiosks receive the settlement.
        _ = try await sync1.sync()
        _ = try await sync2.sync()
        for kiosk in [k1, k2] {
            let record = try kiosk.returnRecord(item.id)
            #expect(!record.hasOpenConflicts)
            #expect(try ProductReturn(record: record).disposition == .recycle)
        }

        // Nothing waits for review on a server without policies; a decision on a return not waiting is refused.
        let queue = await Self.hq(["review", "list", "--json"], db)
        #expect(queue.status == 0 && queue.stdout.filter { !$0.isWhitespace } == "[]", "\(queue.stdout)")
        let approve = await Self.hq(["review", "approve", id], db)
        #expect(approve.status != 0, "\(approve.stdout)")
        #expect(approve.stderr.split(separator: "\n").count == 1, "\(approve.stderr)")
    }

    @Test func recallsAndPoliciesOnPostgreSQL() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let db = Fleet.ServeProcess.text(url)
        let recall = [
            "recall", "add", "--id", "RC-9", "--gtin", "4006381333931", "--lot", "L1", "--hazard", "Overheats",
            "--instructions", "Quarantine", "--units", "40",
        ]
        let added = await Self.hq(recall, db)
        #expect(added.stdout == "recall RC-9 created; 0 returns already held at HQ flagged\n", "\(added.stderr)")
        let again = await Self.hq(recall, db)
        #expect(again.status != 0 && again.stderr.contains("recall RC-9 already exists"), "\(again.stderr)")
        let list = await Self.hq(["recall", "list"], db)
        #expect(list.stdout.contains("RC-9"), "\(list.stdout)")
        let completion = await Self.hq(["report", "--by", "recall", "--format", "csv"], db)
        #expect(completion.stdout.contains("RC-9,,0,0,0,40,0.0,0\n"), "\(completion.stdout)")
        let closed = await Self.hq(["recall", "close", "RC-9"], db)
        #expect(closed.stdout == "recall RC-9 closed\n", "\(closed.stderr)")
        let unknown = await Self.hq(["recall", "close", "RC-404"], db)
        #expect(unknown.status != 0 && unknown.stderr.contains("no recall with id RC-404"), "\(unknown.stderr)")

        let set = await Self.hq(["policy", "set", "--store", "north", "--window-days", "14", "--receipt-required"], db)
        #expect(set.status == 0, "\(set.stderr)")
        let policies = await Self.hq(["policy", "list", "--json"], db)
        #expect(
            policies.stdout.contains("\"windowDays\" : 14") || policies.stdout.contains("\"windowDays\":14"),
            "\(policies.stdout)"
        )
        let removed = await Self.hq(["policy", "remove", "--store", "north"], db)
        #expect(removed.status == 0, "\(removed.stderr)")
        let gone = await Self.hq(["policy", "remove", "--store", "north"], db)
        #expect(gone.status != 0 && gone.stderr.contains("no return policy"), "\(gone.stderr)")

        // The first kiosk of a store that has written nothing yet receives the recalls at its first sync.
        let directory = try TemporaryDirectory()
        let serve = try await Fleet.ServeProcess.start(url)
        defer { serve.stop() }
        let (kiosk, client) = try await Fleet.enrolledKiosk(
            url,
            store: "brand-new",
            kiosk: "k1",
            server: serve.address,
            in: directory
        )
        _ = try await client.sync()
        #expect(try kiosk.recalls().map(\.id) == ["RC-9"])
    }

    @Test func orderLinesReachTheirStoreWithinTheWindow() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let serve = try await Fleet.ServeProcess.start(url)
        defer { serve.stop() }
        let (kiosk, client) = try await Fleet.enrolledKiosk(
            url,
            store: "north",
            kiosk: "k1",
            server: serve.address,
            in: directory
        )
        let recent = ISO8601Milliseconds.day(of: Date().addingTimeInterval(-3 * 86_400))
        let file = directory.file("orders.csv")
        try Data(
            """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            ORD-1,north,1,4006381333931,,2,19.99,\(recent)
            ORD-2,south,1,4006381333931,,1,19.99,\(recent)
            ORD-3,north,1,4006381333931,,1,19.99,2025-01-02

            """.utf8
        ).write(to: URL(fileURLWithPath: file))
        let db = Fleet.ServeProcess.text(url)
        let imported = await Self.hq(["orders", "import", file], db)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("3 new, 0 updated, 0 unchanged"), "\(imported.stdout)")
        let again = await Self.hq(["orders", "import", file], db)
        #expect(again.stdout.contains("0 new, 0 updated, 3 unchanged"), "\(again.stdout)")
        // A line corrected to another store moves there, as on SQLite.
        let moved = directory.file("moved.csv")
        try Data(
            """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            ORD-3,south,1,4006381333931,,1,19.99,2025-01-02

            """.utf8
        ).write(to: URL(fileURLWithPath: moved))
        let corrected = await Self.hq(["orders", "import", moved], db)
        #expect(corrected.stdout.contains("0 new, 1 updated, 0 unchanged"), "\(corrected.stdout) \(corrected.stderr)")
        let south = await Self.hq(["orders", "list", "--store", "south", "--json"], db)
        #expect(south.stdout.contains("ORD-3"), "\(south.stdout)")
        let list = await Self.hq(["orders", "list", "--json"], db)
        #expect(list.stdout.components(separatedBy: "\"orderId\"").count == 4, "\(list.stdout)")

        // The kiosk of north receives its store's line sold within the window, and no other.
        #expect(try await client.sync().pulled == 1)
        #expect(try kiosk.orderLines().map(\.orderID.rawValue) == ["ORD-1"])
        // A return of that purchase verifies against it offline.
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        #expect(item.verification == .verified)
        let report = await Self.hq(["report", "--by", "store", "--format", "csv"], db)
        #expect(report.stdout.contains("north,0,0,0,0,0,2,0"), "\(report.stdout)")
        #expect(report.stdout.contains("south,0,0,0,0,0,2,0"), "\(report.stdout)")
    }

    /// A record from the future can only reach PostgreSQL from an old SQLite server (pushes bound every stamp):
    /// `clock show` lists it, `clock repair` writes it again, and the store's kiosks then accept it.
    @Test func clockShowAndRepairOnPostgreSQL() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        defer { Task { await drop() } }
        let directory = try TemporaryDirectory()
        let serve = try await Fleet.ServeProcess.start(url)
        defer { serve.stop() }
        let (kiosk, client) = try await Fleet.enrolledKiosk(
            url,
            store: "store-1",
            kiosk: "a",
            server: serve.address,
            in: directory
        )
        _ = try await client.sync()
        let future = try SampleData.capturedReturn(
            by: ReplicaID("store-1/b"),
            at: Date().addingTimeInterval(2 * 86_400),
            orderID: "ORD-FUTURE"
        )
        try await PostgresTestServer.adminQuery(
            url,
            "INSERT INTO records (store_id, entity_type, id, record) VALUES ('store-1', 'return', \(future.id), \(future.jsonString))"
        )
        let db = Fleet.ServeProcess.text(url)
        let show = await Self.hq(["clock", "show"], db)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains(future.id), "\(show.stdout)")
        let repair = await Self.hq(["clock", "repair"], db)
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(repair.stdout.contains(future.id), "\(repair.stdout)")
        let after = await Self.hq(["clock", "show"], db)
        #expect(!after.stdout.contains(future.id), "\(after.stdout)")
        // The repaired return reaches its store's kiosk, which refuses stamps from the future.
        #expect(try await client.sync().pulled == 1)
        let received = try kiosk.returnRecord(ReturnID(future.id))
        #expect(received.latestStamp.map { $0.physical <= UInt64(Date().millisecondsSince1970) + 300_000 } == true)
    }
}
