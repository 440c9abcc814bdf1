import CommandLineSupport
import Foundation
import PostgresStorage
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

@testable import ReturnsServerCLI

/// HQ finds returns of every store by serial, order, GTIN, store, status, reason and day, and takes short ids
/// wherever it takes a return id.
@Suite struct ReturnSearchServerTests {
    static func hq(_ arguments: String..., db: String) async -> (status: Int32, stdout: String, stderr: String) {
        let run = await runCaptured { await ReturnsServerCLI.run(arguments: arguments + ["--db", db]) }
        return (run.status, run.stdout, run.stderr)
    }

    /// The searches both backends run, and what each finds, as text to compare: ids, short ids, whether the limit
    /// cut the list, and the records' ids when asked for.
    static func searches(_ hq: any ReturnAdministration) async throws -> [String] {
        let hourAgo = Date().addingTimeInterval(-3600)
        let oldest = try #require(try await hq.findReturns(ReturnSearch(limit: 1), records: false).returns.first)
        let first = ReturnSearch.Position(createdAt: oldest.row.createdAt, id: oldest.row.id)
        let searches: [ReturnSearch] = [
            ReturnSearch(),
            ReturnSearch(store: try StoreID("north")),
            ReturnSearch(gtin: try GTIN("5901234123457")),
            ReturnSearch(orderID: try OrderID("O-9780201379624-4")),
            ReturnSearch(status: .voided),
            ReturnSearch(reason: .damaged, limit: 1),
            ReturnSearch(store: try StoreID("south"), reason: .defective),
            ReturnSearch(since: hourAgo, until: Date().addingTimeInterval(3600), limit: 3),
            ReturnSearch(until: hourAgo),
            ReturnSearch(orderID: try OrderID("O-';--")),
            ReturnSearch(awaitingReview: true),
            ReturnSearch(customerRef: try CustomerReference("LOYAL-1")),
            // The page after the first return, of those written in the last hour.
            ReturnSearch(limit: 2, updatedSince: hourAgo, after: first),
            ReturnSearch(updatedSince: Date().addingTimeInterval(3600)),
        ]
        var found: [String] = []
        for (index, search) in searches.enumerated() {
            for records in [false, true] {
                let result = try await hq.findReturns(search, records: records)
                found.append(
                    "\(index) more=\(result.more) "
                        + result.returns.map { "\($0.row.id)/\($0.shortID)/\($0.record?.id ?? "-")" }.joined(
                            separator: " "
                        )
                )
            }
        }
        return found
    }

    @Test func returnsListFindsAndShortIDsWorkOnSQLite() async throws {
        let directory = try TemporaryDirectory()
        let db = directory.file("server.sqlite")
        let storage = SQLiteServerStorage(
            try ReplicaStore.create(at: db, identity: .server(replicaID: ReplicaID("hq")))
        )
        for (pusher, store, records) in try ReportParityTests.storeDay(in: directory) {
            _ = try await storage.acceptPush(records, from: pusher, store: store)
        }
        let all = try await storage.findReturns(ReturnSearch(), records: false).returns
        #expect(all.count == 7)

        let table = await Self.hq("returns", "list", "--store", "south", "--reason", "defective", db: db)
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(table.status == 0 && lines.count == 3 && lines.last == "1 return", "\(table.stdout)")
        let short = String(lines[1].prefix { $0 != " " })
        let repaired = try #require(all.first { $0.row.storeId == "south" && $0.row.reason == "defective" })
        #expect(short == repaired.shortID && repaired.row.id.hasPrefix(short))
        // The short id from the list works in the next command.
        let noted = await Self.hq("returns", "note", short, "vendor called", db: db)
        #expect(noted.status == 0 && noted.stdout.hasPrefix(repaired.row.id), "\(noted.stderr)")
        let shown = await Self.hq("returns", "show", short.uppercased(), "--json", db: db)
        #expect(shown.stdout.contains("vendor called"))

        let json = await Self.hq("returns", "list", "--gtin", "4006381333931", "--limit", "1", "--json", db: db)
        let documents = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(documents.count == 1 && documents[0]["gtin"] as? String == "04006381333931")
        let limited = await Self.hq("returns", "list", "--gtin", "04006381333931", "--limit", "1", db: db)
        #expect(
            limited.stdout.hasSuffix("1 return (the oldest that match; more do: raise --limit or narrow the search)\n")
        )

        let before = try await storage.returnRecords(store: nil)
        let ambiguous = await Self.hq("returns", "void", String(all[0].row.id.prefix(4)), "--note", "x", db: db)
        #expect(ambiguous.status == 1 && ambiguous.stderr.contains("is ambiguous"), "\(ambiguous.stderr)")
        let unknown = await Self.hq("conflicts", "resolve", "ffff", "disposition", "recycle", db: db)
        #expect(unknown.stderr == "error: no return with id 'ffff'\n")
        let badStore = await Self.hq("returns", "list", "--store", "no such", db: db)
        #expect(badStore.status == 1 && badStore.stderr.hasPrefix("error: invalid store id 'no such'"))
        #expect(try await storage.returnRecords(store: nil) == before)
    }

    @Test(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
    func searchesFindTheSameOnSQLiteAndPostgreSQL() async throws {
        let directory = try TemporaryDirectory()
        let day = try ReportParityTests.storeDay(in: directory)
        var results: [[String]] = []
        var resolved: [[String]] = []
        for backend in [StorageBackend.sqlite, .postgres] {
            try await backend.with { instance in
                let hq = try #require(instance.storage as? any ReturnAdministration)
                for (pusher, store, records) in day {
                    _ = try await instance.storage.acceptPush(records, from: pusher, store: store)
                }
                results.append(try await Self.searches(hq))
                var names: [String] = []
                for found in try await hq.findReturns(ReturnSearch(), records: false).returns {
                    names.append(try await hq.resolveReturnID(found.shortID).rawValue)
                }
                do {
                    _ = try await hq.resolveReturnID(String(names[0].prefix(6)))
                    names.append("resolved")
                } catch {
                    names.append("\(error)")
                }
                resolved.append(names)
            }
        }
        #expect(results[0] == results[1], "SQLite:\n\(results[0])\nPostgreSQL:\n\(results[1])")
        #expect(resolved[0] == resolved[1])
        #expect(resolved[0].last?.contains("is ambiguous") == true)
        // Not two empty answers: the store filter, the voided one and the limit found what the day holds.
        #expect(results[0][2].split(separator: " ").count == 2 + 5, "\(results[0][2])")
        #expect(results[0][8].split(separator: " ").count == 3, "\(results[0][8])")
        // The page after the oldest return: two more, more after them, the oldest not among them.
        #expect(results[0][24].hasPrefix("12 more=true") && results[0][24].split(separator: " ").count == 4)
        #expect(!results[0][24].contains(results[0][0].split(separator: " ")[2].prefix(36)), "\(results[0][24])")
        #expect(results[0][26] == "13 more=false ", "nothing written in the future: \(results[0][26])")
        #expect(results[0][10].hasPrefix("5 more=true"), "\(results[0][10])")
    }
}

/// A campaign created at HQ finds the returns HQ holds the same way on both backends.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct RecallFoundLaterParityTests {
    @Test func aNewCampaignFlagsTheSameReturnsOnSQLiteAndPostgreSQL() async throws {
        let directory = try TemporaryDirectory()
        let day = try ReportParityTests.storeDay(in: directory)
        let campaign = try RecallCampaign(
            id: "RC-LAMP",
            gtins: [GTIN("4006381333931"), GTIN("9780201379624")],
            hazard: "cable insulation may crack",
            instructions: "quarantine; vendor collects",
            unitsAffected: 12,
            createdAt: Date()
        )
        var results: [[String]] = []
        for backend in [StorageBackend.sqlite, .postgres] {
            try await backend.with { instance in
                let hq = try #require(instance.storage as? any ReturnAdministration & ReferenceAdministration)
                for (pusher, store, records) in day {
                    _ = try await instance.storage.acceptPush(records, from: pusher, store: store)
                }
                // The restocked lamp was closed before the campaign: it becomes an alert.
                let restocked = try #require(
                    try await hq.findReturns(
                        ReturnSearch(gtin: GTIN("4006381333931"), status: .dispositioned),
                        records: false
                    )
                    .returns.first
                )
                _ = try await hq.editReturn(try ReturnID(restocked.row.id), operation: "close") { item, author, date in
                    try item.close(by: author, at: date)
                }
                try await hq.write(.createRecall(campaign))
                var lines: [String] = []
                for record in try await hq.returnRecords(store: nil) {
                    let item = try ProductReturn(record: record)
                    lines.append(
                        "\(item.id) \(item.recallCampaign ?? "-") \(item.recallMatch?.rawValue ?? "-") \(item.status) "
                            + "\(item.disposition) alert=\(item.isRecallAlert) \(item.notes.map(\.text))"
                    )
                }
                let alerts = try await hq.findReturns(ReturnSearch(recallAlerts: true), records: false)
                lines.append("alerts \(alerts.returns.map(\.row.id))")
                let source = try #require(instance.storage as? any ReportSource)
                lines.append(ReportNotes.render(try await source.recallCompletionReport(), as: "csv"))
                results.append(lines)
            }
        }
        #expect(results[0] == results[1], "SQLite:\n\(results[0])\nPostgreSQL:\n\(results[1])")
        // Not two empty answers: lamps and kettles were flagged, one of them an alert, all found after capture.
        #expect(results[0].filter { $0.contains(" RC-LAMP certain ") }.count == 4, "\(results[0])")
        #expect(results[0].first { $0.hasPrefix("alerts ") }?.split(separator: ",").count == 1)
        #expect(results[0].last?.contains("RC-LAMP,north,") == true)
    }
}
