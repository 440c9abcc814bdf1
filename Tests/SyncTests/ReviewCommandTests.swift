import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsServerCLI
import ReturnsSync
import SyncEngine
import Testing

/// HQ decides reviews one by one or in bulk, closes returns, and adds a note to any edit — as typed.
@Suite struct ReviewCommandTests {
    static func hq(_ arguments: String..., db: String) async -> (status: Int32, stdout: String, stderr: String) {
        await runCaptured { await ReturnsServerCLI.run(arguments: arguments + ["--db", db]) }
    }

    @Test func reviewsAreDecidedInBulkAndOneBadIDDecidesNothing() async throws {
        var day = try ReportNumbersTests.Day(clock: { Date() })
        _ = try day.server.importOrders([
            try OrderLine(
                orderID: OrderID("ORD-9"),
                storeID: StoreID("store-1"),
                line: 1,
                gtin: GTIN("4006381333931"),
                quantity: 5,
                unitPriceCents: 1999,
                soldAt: Date().addingTimeInterval(-86_400)
            )
        ])
        // Captured offline, then pushed: HQ verifies each purchase against its orders as the push lands.
        let kiosk = try day.kiosk("store-1")
        func capture(_ order: String, serial: String?) throws -> ReturnID {
            try kiosk.recordReturn(
                ReturnCapture(
                    orderID: OrderID(order),
                    gtin: GTIN("4006381333931"),
                    reason: .defective,
                    serial: try serial.map { try ItemCode($0, kind: "serial") }
                )
            ).id
        }
        for _ in 0..<3 { _ = try capture("ORD-9", serial: "SN-1") }
        let unknownOrder = try capture("ORD-404", serial: nil)
        let fine = try capture("ORD-9", serial: "SN-2")
        _ = try await SQLiteServerStorage(day.server).acceptPush(
            kiosk.returnRecords(),
            from: kiosk.identity.replicaID,
            store: StoreID("store-1")
        )
        let db = day.server.path
        let queue = try day.server.reviewQueue().map { try ProductReturn(record: $0) }
        let verified = queue.filter { $0.verification == .verified }.map(\.id)
        try #require(verified.count == 2 && queue.count == 3 && queue.map(\.id).contains(unknownOrder))
        #expect(!queue.map(\.id).contains(fine))
        #expect(try ProductReturn(record: day.server.returnRecord(unknownOrder)).verification == .notFound)

        // The queue lists short ids, each naming its return.
        let listed = await Self.hq("review", db: db)
        let shortIDs = listed.stdout.split(separator: "\n").dropFirst().map { String($0.prefix { $0 != " " }) }
        #expect(shortIDs.count == queue.count)
        #expect(zip(shortIDs, queue).allSatisfy { $1.id.rawValue.hasPrefix($0) && $0.count < 36 }, "\(listed.stdout)")

        // Anything wrong refuses the whole command, before any decision.
        let unknown = await Self.hq("review", "approve", verified[0].rawValue, "ffff", db: db)
        #expect(unknown.status == 1 && unknown.stderr == "error: no return with id 'ffff'\n")
        let notQueued = await Self.hq("review", "approve", verified[0].rawValue, fine.rawValue, db: db)
        #expect(notQueued.status == 1, "\(notQueued.stderr)")
        #expect(notQueued.stderr == "error: return \(fine) is not waiting for a review: it has no exceptions\n")
        let noneGiven = await Self.hq("review", "approve", db: db)
        #expect(noneGiven.stderr == "error: give return ids, --ids-from FILE (or -) or, to approve, --all-verified\n")
        let noNote = await Self.hq("review", "reject", unknownOrder.rawValue, "--note", " ", db: db)
        #expect(noNote.status == 1, "\(noNote.stderr)")
        #expect(try day.server.reviewQueue().count == queue.count)

        // Every verified return in the queue, with one note; the unverified one stays.
        let approved = await Self.hq("review", "approve", "--all-verified", "--note", "receipts checked", db: db)
        #expect(approved.status == 0, "\(approved.stderr)")
        let lines = approved.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && lines.last == "2 returns approved", "\(approved.stdout)")
        #expect(zip(lines, verified).allSatisfy { $0.hasPrefix("\($1) approved (") })
        #expect(try day.server.reviewQueue().map(\.id) == [unknownOrder.rawValue])
        for id in verified {
            #expect(try ProductReturn(record: day.server.returnRecord(id)).review?.note == "receipts checked")
        }
        let again = await Self.hq("review", "approve", "--all-verified", db: db)
        #expect(again.stderr == "error: no returns to decide: none selected\n")

        // Ids from a file, short and commented.
        let file = day.directory.file("reject.txt")
        try Data("# not sold here\n  \(shortIDs[queue.firstIndex { $0.id == unknownOrder }!])  # the one\n\n".utf8)
            .write(to: URL(fileURLWithPath: file))
        let rejected = await Self.hq("review", "reject", "--ids-from", file, "--note", "no purchase found", db: db)
        #expect(rejected.stdout == "\(unknownOrder) rejected (not-found)\n", "\(rejected.stderr)")
        #expect(try day.server.reviewQueue().isEmpty)
        let missing = await Self.hq("review", "reject", "--ids-from", day.directory.file("none"), "--note", "x", db: db)
        #expect(missing.stderr.hasPrefix("error: cannot read --ids-from '"))
    }

    @Test func hqClosesAReturnAndEveryEditTakesANote() async throws {
        var day = try ReportNumbersTests.Day(clock: { Date() })
        let id = try day.capture(at: "store-1")
        try day.server.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
        }
        let db = day.server.path
        let short = String(id.rawValue.prefix(13))
        let routed = await Self.hq("returns", "disposition", short, "repair", "--note", "motor", db: db)
        #expect(routed.stdout == "\(id) dispositioned: repair\n", "\(routed.stderr)")
        let repair = await Self.hq(
            "returns",
            "repair",
            short,
            "--vendor",
            "Acme",
            "--status",
            "repaired",
            "--sent",
            "2026-11-01",
            "--back",
            "2026-11-05",
            "--note",
            "new motor fitted",
            db: db
        )
        #expect(repair.status == 0, "\(repair.stderr)")
        let badNote = await Self.hq("returns", "close", short, "--note", "", db: db)
        #expect(badNote.status == 1 && badNote.stderr.hasPrefix("error: "), "\(badNote.stderr)")
        #expect(try ProductReturn(record: day.server.returnRecord(id)).status == .dispositioned)
        let closed = await Self.hq("returns", "close", short, "--note", "back with the customer", db: db)
        #expect(closed.stdout == "\(id) closed\n", "\(closed.stderr)")
        let item = try ProductReturn(record: day.server.returnRecord(id))
        #expect(item.status == .closed)
        #expect(item.notes.map(\.text) == ["motor", "new motor fitted", "back with the customer"])
        #expect(item.notes.allSatisfy { $0.author == "hq" }, "\(item.notes)")
        // The kiosk receives the closing with its note.
        let kiosk = try day.kiosk("store-1")
        try kiosk.merge(day.server.returnRecord(id))
        #expect(try ProductReturn(record: kiosk.returnRecord(id)).notes.last?.text == "back with the customer")
    }
}
