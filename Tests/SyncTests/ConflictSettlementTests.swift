import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import ReturnsSync
import SyncEngine
import Testing

/// HQ can settle any open conflict on any return — closed and voided ones included — and nothing else changes.
@Suite struct ConflictSettlementTests {
    /// A repaired unit whose repair HQ and the kiosk updated concurrently; the kiosk then closed the return.
    static func closedReturnWithARepairConflict() throws -> (day: ReportNumbersTests.Day, id: ReturnID) {
        var day = try ReportNumbersTests.Day(clock: { Date() })
        let kiosk = try day.kiosk("store-1")
        let id = try day.capture(at: "store-1")
        try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
        }
        try kiosk.updateReturn(id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.repair, by: author, at: date)
        }
        try kiosk.updateReturn(id, operation: "repair") { item, _, date in
            try item.recordRepair(RepairRecord(vendor: "Acme", status: .sent, sentOn: "2026-11-01"), at: date)
        }
        try day.server.merge(kiosk.returnRecord(id))
        try day.server.updateReturn(id, operation: "repair") { item, _, date in
            try item.recordRepair(
                RepairRecord(vendor: "Acme", status: .beyondRepair, sentOn: "2026-11-01", backOn: "2026-11-02"),
                at: date
            )
        }
        try kiosk.updateReturn(id, operation: "repair") { item, _, date in
            try item.recordRepair(
                RepairRecord(vendor: "Acme", status: .repaired, sentOn: "2026-11-01", backOn: "2026-11-03"),
                at: date
            )
        }
        try kiosk.updateReturn(id, operation: "close") { item, _, date in try item.close(at: date) }
        try day.server.merge(kiosk.returnRecord(id))
        return (day, id)
    }

    static func server(_ arguments: [String], db: String) async -> (status: Int32, stdout: String, stderr: String) {
        await runCaptured { await ReturnsServerCLI.run(arguments: arguments + ["--db", db]) }
    }

    @Test func aRepairConflictOnAClosedReturnIsSettledAsAGroupAndReachesTheKiosk() async throws {
        var (day, id) = try Self.closedReturnWithARepairConflict()
        let db = day.server.path
        let record = try day.server.returnRecord(id)
        #expect(try ProductReturn(record: record).status == .closed)
        #expect(
            Set(record.openConflicts(policy: ReturnEntity.policy).map(\.field)) == [
                ReturnEntity.Field.repairStatus, ReturnEntity.Field.repairBackOn,
            ]
        )
        // The lifecycle edit is refused on a closed return; settling is not.
        let refused = await Self.server(
            [
                "returns", "repair", id.rawValue, "--vendor", "Acme", "--status", "repaired", "--sent", "2026-11-01",
                "--back", "2026-11-03",
            ],
            db: db
        )
        #expect(refused.status == 1 && refused.stderr.contains("closed"), "\(refused.stderr)")

        let settled = await Self.server(
            ["conflicts", "resolve", id.rawValue, "repairStatus", "repaired", "--operator", "erin"],
            db: db
        )
        #expect(settled.status == 0, "\(settled.stderr)")
        #expect(ReturnEdit.history(of: try day.server.returnRecord(id)).last?.operatorID == "erin")
        #expect(settled.stdout == "\(id) repairStatus settled: repaired (replaced beyond-repair, repaired)\n")
        let after = try day.server.returnRecord(id)
        #expect(after.openConflicts(policy: ReturnEntity.policy).isEmpty, "the group is settled, backOn included")
        let item = try ProductReturn(record: after)
        #expect(item.repair?.status == .repaired && item.repair?.backOn == "2026-11-03")
        #expect(item.status == .closed)
        #expect(try day.server.summaryReport().rows.contains { $0 == [.text("openConflicts"), .number(0)] })

        // The kiosk receives the settlement: no conflict there either.
        let kiosk = try day.kiosk("store-1")
        try kiosk.merge(after)
        #expect(try kiosk.returnRecord(id).openConflicts(policy: ReturnEntity.policy).isEmpty)
        #expect(try ProductReturn(record: kiosk.returnRecord(id)).repair?.status == .repaired)

        let shown = await Self.server(["returns", "show", id.rawValue], db: db)
        #expect(shown.stdout.contains("\nrepair       Acme, repaired, sent 2026-11-01, back 2026-11-03 (2 days)\n"))
        #expect(!shown.stdout.contains("CONFLICT"))

        // Settled means settled: a second resolve says there is nothing open.
        let again = await Self.server(["conflicts", "resolve", id.rawValue, "repairStatus", "repaired"], db: db)
        #expect(again.status == 1)
        #expect(again.stderr == "error: return \(id) has no open conflict on 'repairStatus'\n")
    }

    @Test func aConflictOnAVoidedReturnCanBeSettledWithANewValueAndJSON() async throws {
        var day = try ReportNumbersTests.Day(clock: { Date() })
        let kiosk = try day.kiosk("store-1")
        let id = try day.capture(at: "store-1")
        try day.routeConcurrently(id, at: "store-1", merge: false)
        try kiosk.updateReturn(id, operation: "void") { item, author, date in
            try item.void(note: "wrong item scanned", by: author, at: date)
        }
        try day.server.merge(kiosk.returnRecord(id))
        let db = day.server.path

        let result = await Self.server(
            ["conflicts", "resolve", id.rawValue, "disposition", "return-to-vendor", "--json"],
            db: db
        )
        #expect(result.status == 0, "\(result.stderr)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        )
        #expect(document["disposition"] as? String == "return-to-vendor")
        #expect(document["status"] as? String == "voided")
        // Voiding concurrently with HQ's routing left the status in conflict too; it settles the same way.
        #expect(document["conflicts"] as? [String] == ["status"])
        let status = await Self.server(["conflicts", "resolve", id.rawValue, "status", "voided"], db: db)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(try day.server.returnRecord(id).openConflicts(policy: ReturnEntity.policy).isEmpty)

        // The list form still answers with no subcommand.
        let audit = await Self.server(["conflicts", "--json"], db: db)
        #expect(audit.status == 0 && audit.stdout.contains("\"disposition\""))
    }

    @Test func badSettlementsAreRefusedNamingTheValueAndChangeNothing() async throws {
        var day = try ReportNumbersTests.Day()
        let kiosk = try day.kiosk("store-1")
        let id = try day.capture(at: "store-1")
        try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .likeNew, testResult: .pass, by: author, at: date)
        }
        try day.server.merge(kiosk.returnRecord(id))
        // HQ re-inspects as hazardous while the kiosk, offline, re-inspects as used: a condition conflict.
        try day.server.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .hazardous, testResult: .pass, by: author, at: date)
        }
        try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
        }
        try day.server.merge(kiosk.returnRecord(id))
        let db = day.server.path
        let changes = try day.server.changeLogCount()

        let cases: [([String], String)] = [
            (
                ["disposition", "recycle"],
                "error: return \(id) has no open conflict on 'disposition'; its open conflicts are on condition\n"
            ),
            (["condition", "bogus"], "error: cannot settle 'condition' of return \(id) to 'bogus': "),
            (["condition", "none"], "error: cannot settle 'condition' of return \(id) to 'none': "),
        ]
        for (arguments, message) in cases {
            let result = await Self.server(["conflicts", "resolve", id.rawValue] + arguments, db: db)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
            #expect(arguments[0] == "disposition" || result.stderr.contains("'\(arguments[1])'"), "names the value")
        }
        let unknown = await Self.server(
            ["conflicts", "resolve", "0192f5e0-7a3c-7def-8123-456789abcdef", "condition", "used"],
            db: db
        )
        #expect(unknown.status == 1 && unknown.stderr.contains("no return with id"))
        #expect(try day.server.changeLogCount() == changes, "nothing was written")
        #expect(!(try day.server.returnRecord(id).openConflicts(policy: ReturnEntity.policy).isEmpty))
    }

    @Test func aSettlementThatWouldBreakARuleIsRefused() throws {
        var day = try ReportNumbersTests.Day()
        let id = try day.capture(at: "store-1")
        try day.routeConcurrently(id, at: "store-1", condition: .hazardous, kiosk: .quarantine)
        #expect(throws: ReturnsModelError.self) {
            try day.server.resolveConflict(id, field: "disposition", value: "restock")
        }
        let settled = try day.server.resolveConflict(id, field: "disposition", value: "quarantine")
        #expect(settled.item.disposition == .quarantine)
        #expect(Set(settled.replaced) == [.string("quarantine"), .string("recycle")])
    }

    @Test func reviewOnAVoidedReturnSaysItIsVoided() async throws {
        var day = try ReportNumbersTests.Day()
        try day.capture(at: "store-1", serial: "SN-1")
        let duplicate = try day.capture(at: "store-1", serial: "SN-1")
        #expect(try day.server.reviewQueue().map(\.id) == [duplicate.rawValue])
        try day.server.updateReturn(duplicate, operation: "void") { item, author, date in
            try item.void(note: "scanned twice", by: author, at: date)
        }
        let result = await Self.server(["review", "approve", duplicate.rawValue], db: day.server.path)
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "error: return \(duplicate) is voided: a voided return is not a returned unit and needs no review\n"
        )
    }

    @Test func showPrintsEverySectionTheJSONHas() async throws {
        var day = try ReportNumbersTests.Day()
        try day.server.createRecall(ReportNumbersTests.recall("RC-9", units: 5))
        let kiosk = try day.kiosk("store-1")
        let id = try day.capture(at: "store-1", reason: .recall)
        try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .hazardous, testResult: .fail, by: author, at: date)
        }
        try kiosk.updateReturn(id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.recycle, by: author, at: date)
        }
        try kiosk.updateReturn(id, operation: "handoff") { item, _, date in
            try item.recordHandoff(
                CustodyHandoff(party: "GreenCycle", document: "WTN-77", weightGrams: 1200, handedOverOn: "2026-11-03"),
                at: date
            )
        }
        try day.server.merge(kiosk.returnRecord(id))
        let shown = await Self.server(["returns", "show", id.rawValue], db: day.server.path)
        #expect(shown.status == 0, "\(shown.stderr)")
        let lines = shown.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("recall       RC-9 (certain match)"))
        #expect(lines.contains("  hazard     battery may overheat"))
        #expect(lines.contains("  do         quarantine"))
        #expect(lines.contains("hand-off     GreenCycle on 2026-11-03, document WTN-77, 1200 g"))
        #expect(lines.contains("repair       -"))
    }
}
