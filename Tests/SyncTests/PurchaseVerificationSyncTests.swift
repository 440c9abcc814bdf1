import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import ReturnsSync
import Synchronization
import Testing

/// Order lines sold `daysAgo` days before now (the server sends kiosks only lines within the return window).
private func orderLine(
    _ order: String,
    line: Int = 1,
    store: String = "store-1",
    gtin: String = "4006381333931",
    serial: String? = nil,
    quantity: Int = 1,
    daysAgo: Double
) throws -> OrderLine {
    try OrderLine(
        orderID: OrderID(order),
        storeID: StoreID(store),
        line: line,
        gtin: GTIN(gtin),
        serial: serial.map { try ItemCode($0, kind: "serial") },
        quantity: quantity,
        unitPriceCents: 1999,
        soldAt: Date().addingTimeInterval(-daysAgo * 86_400)
    )
}

extension TestKiosk {
    func capture(
        _ order: String,
        gtin: String = "4006381333931",
        serial: String? = nil,
        quantity: Int = 1,
        receipt: Bool = true
    ) throws -> ProductReturn {
        try store.recordReturn(
            ReturnCapture(
                orderID: OrderID(order),
                gtin: GTIN(gtin),
                reason: .noLongerNeeded,
                serial: serial.map { try ItemCode($0, kind: "serial") },
                quantity: quantity,
                receipt: receipt
            )
        )
    }

    func current(_ item: ProductReturn) throws -> ProductReturn {
        try ProductReturn(record: store.returnRecord(item.id))
    }
}

@Suite struct PurchaseVerificationSyncTests {
    @Test func kiosksVerifyOfflineWithTheirStoresRecentOrdersAndPolicies() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let gtinB = "96385074"
        _ = try server.store.importOrders([
            try orderLine("ORD-1", quantity: 1, daysAgo: 3),
            try orderLine("ORD-1", line: 2, gtin: gtinB, serial: "SN-1", daysAgo: 3),
            try orderLine("ORD-2", daysAgo: 20),
            try orderLine("ORD-OLD", daysAgo: 60),
            try orderLine("ORD-9", store: "store-2", daysAgo: 1),
        ])
        // Store 1: 14 days for the 0400638… products, and a receipt for everything.
        try server.store.setReturnPolicy(
            .validated(store: StoreID("store-1"), gtinPrefix: "0400638", windowDays: 14, receiptRequired: true)
        )
        try server.store.setReturnPolicy(
            .validated(store: StoreID("store-1"), gtinPrefix: "", windowDays: 30, receiptRequired: true)
        )
        try await kiosk.sync()
        // Its own store's lines within the window; not the 60-day-old order, not another store's.
        #expect(try kiosk.store.orderLines().map(\.recordID) == ["ORD-1/1", "ORD-1/2", "ORD-2/1"])
        #expect(try kiosk.store.returnPolicies().count == 2)

        // Offline from here on.
        let verified = try kiosk.capture("ORD-1")
        #expect(verified.verification == .verified && verified.exceptions.isEmpty && !verified.awaitsReview)
        let twice = try kiosk.capture("ORD-1")
        #expect(twice.verification == .quantityExceeded && twice.exceptions == [.quantityExceeded])
        let wrongUnit = try kiosk.capture("ORD-1", gtin: gtinB, serial: "SN-2")
        #expect(wrongUnit.verification == .notFound && wrongUnit.exceptions == [.notFound])
        let late = try kiosk.capture("ORD-2")
        #expect(late.verification == .outsideWindow && late.exceptions == [.outsideWindow])
        let unknown = try kiosk.capture("ORD-5")
        #expect(unknown.verification == .unverified && unknown.exceptions.isEmpty)
        let noReceipt = try kiosk.capture("ORD-1", gtin: gtinB, serial: "SN-1", receipt: false)
        #expect(noReceipt.verification == .verified && noReceipt.exceptions == [.noReceipt])

        try await kiosk.sync()
        // HQ holds every order: the order the kiosk did not know does not exist. That verdict syncs back.
        #expect(try kiosk.current(unknown).verification == .notFound)
        #expect(try kiosk.current(unknown).exceptions == [.notFound])
        for item in [verified, twice, wrongUnit, late, noReceipt] {
            #expect(try kiosk.current(item) == item, "HQ agrees with the kiosk: no edit for \(item.orderID)")
        }
        let queue = try server.store.reviewQueue().map(\.id)
        #expect(queue == [twice, wrongUnit, late, unknown, noReceipt].map(\.id.rawValue))
        try await server.stop()
    }

    @Test func hqFlagsTheSameUnitReturnedAtTwoStoresAndTheFlagReachesTheStore() async throws {
        let server = try await TestServer()
        let store1 = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        // Store 2's clock runs 30 s ahead (under the minute a kiosk corrects by the server's): its capture is the
        // later one, whatever the scheduling.
        let store2 = try TestKiosk(store: "store-2", kiosk: "x", server: server, clockOffset: 30)
        _ = try server.store.importOrders([try orderLine("ORD-1", gtin: "96385074", serial: "SN-1", daysAgo: 2)])
        try await store1.sync()
        try await store2.sync()
        #expect(try store2.store.orderLines().isEmpty)

        let first = try store1.capture("ORD-1", gtin: "96385074", serial: "SN-1")
        let second = try store2.capture("ORD-1", gtin: "96385074", serial: "SN-1")
        #expect(first.verification == .verified)
        #expect(second.verification == .unverified, "store 2 does not hold store 1's orders")

        // The later capture reaches HQ first: alone, it verifies.
        try await store2.sync()
        #expect(try ProductReturn(record: server.store.returnRecord(second.id)).verification == .verified)
        // Then the earlier one arrives: the second return of the line and serial is flagged, the first is not.
        try await store1.sync()
        let flagged = try ProductReturn(record: server.store.returnRecord(second.id))
        #expect(flagged.verification == .quantityExceeded)
        #expect(flagged.exceptions == [.duplicateSerial, .quantityExceeded])
        #expect(try ProductReturn(record: server.store.returnRecord(first.id)).exceptions.isEmpty)
        #expect(try store1.current(first).verification == .verified)

        try await store2.sync()
        #expect(try store2.current(second).exceptions == [.duplicateSerial, .quantityExceeded])
        #expect(try store2.current(second).awaitsReview)

        // HQ rejects it; the decision is an edit that reaches the store.
        #expect(try server.store.reviewQueue().map(\.id) == [second.id.rawValue])
        #expect(throws: ReturnsModelError.self) {
            try server.store.decideReview(first.id, outcome: .approved, note: nil)
        }
        try server.store.decideReview(second.id, outcome: .rejected, note: "refunded at store-1 already")
        #expect(try server.store.reviewQueue().isEmpty)
        try await store2.sync()
        let decided = try store2.current(second)
        #expect(decided.review?.outcome == .rejected && decided.review?.note == "refunded at store-1 already")
        #expect(!decided.awaitsReview)

        // Voiding the first return at HQ frees the line: the second verifies after all.
        _ = try server.store.updateReturn(first.id, operation: "void") { item, author, date in
            try item.void(note: "captured twice by mistake", by: author, at: date)
        }
        let cleared = try ProductReturn(record: server.store.returnRecord(second.id))
        #expect(cleared.verification == .verified && cleared.exceptions.isEmpty)
        try await server.stop()
    }

    @Test func importingOrdersLaterDecidesWaitingReturnsAndReimportingChangesNothing() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let item = try kiosk.capture("ORD-7", quantity: 2)
        #expect(item.verification == .unverified)
        try await kiosk.sync()
        // No order was imported yet: HQ leaves the kiosk's verdict alone and writes nothing.
        let pushed = try server.store.returnRecord(item.id)
        #expect(pushed.clock.counters.count == 1)

        let lines = [try orderLine("ORD-7", quantity: 2, daysAgo: 1), try orderLine("ORD-8", daysAgo: 1)]
        let first = try server.store.importOrders(lines)
        #expect(first == OrderImportOutcome(created: 2, updated: 0, unchanged: 0, reverified: 1))
        #expect(try ProductReturn(record: server.store.returnRecord(item.id)).verification == .verified)

        let changes = try server.store.changeLogCount()
        let again = try server.store.importOrders(lines)
        #expect(again == OrderImportOutcome(created: 0, updated: 0, unchanged: 2, reverified: 0))
        #expect(try server.store.changeLogCount() == changes)

        // A corrected line is an update, and the return it decides is checked again.
        let corrected = try orderLine("ORD-7", quantity: 1, daysAgo: 1)
        let fix = try server.store.importOrders([corrected])
        #expect(fix.updated == 1 && fix.reverified == 1)
        #expect(try ProductReturn(record: server.store.returnRecord(item.id)).verification == .quantityExceeded)

        try await kiosk.sync()
        #expect(try kiosk.current(item).verification == .quantityExceeded)
        #expect(try kiosk.store.orderLines().first { $0.recordID == "ORD-7/1" }?.quantity == 1)
        try await server.stop()
    }

    @Test func recalledUnitsComeBackWhateverThePolicy() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try server.store.setReturnPolicy(
            .validated(store: nil, gtinPrefix: "", windowDays: 0, receiptRequired: true)
        )
        try server.store.createRecall(
            RecallCampaign(
                id: "RC-1",
                gtins: [GTIN("4006381333931")],
                hazard: "overheats",
                instructions: "quarantine",
                unitsAffected: 10,
                createdAt: Date()
            )
        )
        _ = try server.store.importOrders([try orderLine("ORD-1", daysAgo: 400)])
        try await kiosk.sync()
        let recalled = try kiosk.capture("ORD-1", receipt: false)
        #expect(recalled.reason == .recall && recalled.exceptions.isEmpty)
        let ordinary = try kiosk.capture("ORD-1", gtin: "96385074", receipt: false)
        #expect(ordinary.exceptions == [.noReceipt])
        try await kiosk.sync()
        // HQ knows the order is 400 days old; the recalled unit is still no exception.
        #expect(try kiosk.current(recalled).verification == .outsideWindow)
        #expect(try kiosk.current(recalled).exceptions.isEmpty)
        #expect(try kiosk.current(ordinary).exceptions == [.noReceipt, .notFound])
        try await server.stop()
    }
}

/// `returns-server` commands run in-process against one database, output captured.
private struct ServerHarness {
    let directory: TemporaryDirectory
    let db: String

    init(function: String = #function) throws {
        directory = try TemporaryDirectory(function: function)
        db = directory.file("hq.sqlite")
    }

    func run(_ arguments: String...) async -> (status: Int32, stdout: String, stderr: String) {
        let out = Mutex(Data())
        let err = Mutex(Data())
        let console = Console(
            writeOut: { data in out.withLock { $0.append(data) } },
            writeErr: { data in err.withLock { $0.append(data) } }
        )
        let status = await Console.$current.withValue(console) {
            await ReturnsServerCLI.run(arguments: arguments + ["--db", db])
        }
        return (
            status,
            out.withLock { String(decoding: $0, as: UTF8.self) },
            err.withLock { String(decoding: $0, as: UTF8.self) }
        )
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = directory.file(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite struct PurchaseCommandTests {
    @Test func ordersImportIsAllOrNothingAndNamesBadLines() async throws {
        let hq = try ServerHarness()
        let bad = try hq.write(
            "bad.csv",
            """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            ORD-1,store-1,1,4006381333931,,1,19.99,2026-11-20
            ORD-2,store-1,1,4006381333932,,1,19.99,2026-11-20
            ORD-3,store-1,1,4006381333931,,-2,19.99,2026-11-20

            """
        )
        let refused = await hq.run("orders", "import", bad)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("line 3: invalid GTIN '4006381333932'"))
        #expect(refused.stderr.contains("line 4: invalid quantity -2"))
        // Refused before anything was opened: not even the database was created.
        #expect(!FileManager.default.fileExists(atPath: hq.db))

        let good = try hq.write(
            "orders.csv",
            """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            ORD-1,store-1,1,4006381333931,,3,19.99,2026-11-20T10:15:00Z
            ORD-2,store-2,1,4006381333931,SN-1,1,5,2026-11-21

            """
        )
        let imported = await hq.run("orders", "import", good)
        #expect(imported.status == 0, "\(imported.stderr)")
        // A bad file against an existing database leaves it as it was.
        let refusedAgain = await hq.run("orders", "import", bad)
        #expect(refusedAgain.status == 1)
        #expect((await hq.run("orders", "list", "--json")).stdout.components(separatedBy: "\"orderId\"").count == 3)
        #expect(imported.stdout.hasPrefix("imported 2 order lines from \(good): 2 new, 0 updated, 0 unchanged"))
        let listed = await hq.run("orders", "list", "--store", "store-2", "--json")
        #expect(listed.stdout.contains("\"unitPrice\" : \"5.00\"") && listed.stdout.contains("\"serial\" : \"SN-1\""))
        #expect(!listed.stdout.contains("ORD-1"))
    }

    @Test func policiesReviewQueueAndReturnRatesThroughTheCommands() async throws {
        let hq = try ServerHarness()
        let set = await hq.run(
            "policy",
            "set",
            "--store",
            "store-1",
            "--gtin-prefix",
            "0400638",
            "--window-days",
            "14",
            "--receipt-required"
        )
        #expect(set.stdout == "policy store-1/0400638 set: 14-day window, receipt required\n", "\(set.stderr)")
        let limits = await hq.run(
            "policy",
            "set",
            "--store",
            "store-2",
            "--window-days",
            "30",
            "--receiptless-limit",
            "3/30",
            "--customer-velocity",
            "5/7"
        )
        #expect(
            limits.stdout
                == "policy store-2/* set: 30-day window, receipt not required, at most 3 receipt-less returns per "
                + "customer in 30 days, review over 5 units per customer in 7 days\n",
            "\(limits.stderr)"
        )
        for (option, value) in [("--receiptless-limit", "3-30"), ("--customer-velocity", "5/0")] {
            let refused = await hq.run("policy", "set", "--store", "store-2", "--window-days", "9", option, value)
            #expect(refused.status == 1 && refused.stderr.contains(value), "\(refused.stderr)")
        }
        let limitsListed = await hq.run("policy", "list")
        #expect(
            limitsListed.stdout.contains("30 days  not required  none            3 in 30 days  > 5 units in 7 days"),
            "\(limitsListed.stdout)"
        )
        #expect((await hq.run("policy", "list", "--json")).stdout.contains("\"receiptlessLimit\" : \"3/30\""))
        #expect((await hq.run("policy", "remove", "--store", "store-2")).status == 0)
        let badPrefix = await hq.run("policy", "set", "--gtin-prefix", "04x", "--window-days", "14")
        #expect(badPrefix.status == 1 && badPrefix.stderr.contains("invalid GTIN prefix '04x'"))
        let listed = await hq.run("policy", "list", "--json")
        #expect(listed.stdout.contains("\"windowDays\" : 14") && listed.stdout.contains("\"receiptRequired\" : true"))
        #expect((await hq.run("policy", "remove", "--store", "store-1", "--gtin-prefix", "0400638")).status == 0)
        let gone = await hq.run("policy", "remove", "--store", "store-1", "--gtin-prefix", "0400638")
        #expect(gone.status == 1 && gone.stderr.contains("no return policy 'store-1/0400638' is set"))

        // `review` alone lists the queue.
        let queue = await hq.run("review", "--json")
        #expect(queue.status == 0 && queue.stdout == "[\n\n]\n", "\(queue.stderr)")
        let notWaiting = await hq.run("review", "approve", "0192f5e0-7a3c-7def-8123-456789abcdef")
        #expect(notWaiting.status == 1 && notWaiting.stderr.contains("no return with id"))
        let noNote = await hq.run("review", "reject", "0192f5e0-7a3c-7def-8123-456789abcdef")
        #expect(noNote.status == 2 && noNote.stderr.contains("--note"))

        let orders = try hq.write(
            "orders.csv",
            """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            ORD-1,store-1,1,4006381333931,,4,19.99,2026-11-20
            ORD-2,store-2,1,96385074,,2,5.00,2026-11-20

            """
        )
        #expect((await hq.run("orders", "import", orders)).status == 0)
        let rates = await hq.run("report", "--by", "gtin", "--format", "csv")
        #expect(
            rates.stdout
                == """
                gtin,returns,units,voided,rejected,returnedUnits,soldUnits,returnRate
                00000096385074,0,0,0,0,0,2,0.0
                04006381333931,0,0,0,0,0,4,0.0

                """
        )
    }
}
