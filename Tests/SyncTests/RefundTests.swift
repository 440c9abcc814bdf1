import CommandLineSupport
import Foundation
import KioskCLI
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncClient
import SyncEngine
import Testing

@testable import ReturnsServerCLI

/// Refunds as staff and HQ make them: from the order line's price less the policy's fee, decided once, two
/// concurrent refunds a conflict HQ sees, and the money report to the cent.
@Suite struct RefundTests {
    static let lamp = "4006381333931"

    /// HQ with two order lines (EUR) and a 15 % restocking fee at store-1; two kiosks of store-1 that synced them.
    static func setUp() async throws -> (TestServer, TestKiosk, TestKiosk) {
        let server = try await TestServer()
        let soldAt = Date().addingTimeInterval(-86_400)
        _ = try server.store.importOrders([
            try OrderLine(
                orderID: OrderID("O-1"),
                storeID: StoreID("store-1"),
                line: 1,
                gtin: GTIN(lamp),
                quantity: 3,
                unitPriceCents: 1999,
                soldAt: soldAt,
                currency: Currency("EUR")
            ),
            try OrderLine(
                orderID: OrderID("O-2"),
                storeID: StoreID("store-1"),
                line: 1,
                gtin: GTIN(lamp),
                quantity: 1,
                unitPriceCents: 4550,
                soldAt: soldAt,
                currency: Currency("EUR")
            ),
        ])
        try server.store.write(
            .setPolicy(
                .validated(
                    store: StoreID("store-1"),
                    gtinPrefix: "",
                    windowDays: 30,
                    receiptRequired: false,
                    restockingFee: .percent(basisPoints: 1500)
                )
            )
        )
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        try await a.sync()
        try await b.sync()
        return (server, a, b)
    }

    static func kiosk(
        _ kiosk: TestKiosk,
        _ arguments: String...
    ) async -> (status: Int32, stdout: String, stderr: String) {
        await runCaptured { await KioskCLI.run(arguments: arguments + ["--db", kiosk.store.path]) }
    }

    static func capture(
        _ kiosk: TestKiosk,
        order: String,
        quantity: Int = 1,
        reason: ReturnReason = .noLongerNeeded
    )
        throws -> ReturnID
    {
        try kiosk.store.recordReturn(
            ReturnCapture(orderID: OrderID(order), gtin: GTIN(lamp), reason: reason, quantity: quantity)
        ).id
    }

    @Test func staffRefundAsTypedOnceFromTheOrderLinesPriceLessTheFee() async throws {
        let (server, a, _) = try await Self.setUp()
        let two = try Self.capture(a, order: "O-1", quantity: 2)
        let short = String(two.rawValue.prefix(13))
        let refunded = await Self.kiosk(a, "refund", short)
        #expect(
            refunded.stdout == "\(two) refund: 33.98 EUR by original-payment, restocking fee 6.00 kept\n",
            "\(refunded.stderr)"
        )
        let json = await Self.kiosk(a, "show", short, "--json")
        #expect(json.stdout.contains("\"amountMinor\" : 3398") && json.stdout.contains("\"feeMinor\" : 600"))
        #expect(json.stdout.contains("\"decidedBy\" : \"store-1/a\""), "\(json.stdout)")

        var before = Data()
        try a.store.exportReturns { before.append($0) }
        let again = await Self.kiosk(a, "refund", short, "--method", "store-credit")
        #expect(again.status == 1 && again.stderr.hasSuffix("a refund is decided once\n"), "\(again.stderr)")
        let noReason = await Self.kiosk(a, "refund", short, "--amount", "10")
        #expect(
            noReason.stderr
                == "error: --amount needs --reason: say why the refund differs from the order line's price\n"
        )
        let unknown = try Self.capture(a, order: "O-404")
        let unpriced = await Self.kiosk(a, "refund", unknown.rawValue)
        #expect(unpriced.stderr.contains("has no order line with its product: give --amount, --reason and --currency"))
        let badCurrency = await Self.kiosk(a, "refund", two.rawValue, "--currency", "USD")
        #expect(badCurrency.stderr == "error: --currency USD differs from the order line's EUR\n")
        let badAmount = await Self.kiosk(
            a,
            "refund",
            unknown.rawValue,
            "--amount",
            "12.345",
            "--reason",
            "shelf price",
            "--currency",
            "EUR"
        )
        #expect(badAmount.stderr.hasPrefix("error: invalid amount '12.345'"), "\(badAmount.stderr)")
        var after = Data()
        try a.store.exportReturns { after.append($0) }
        #expect(after.count > before.count, "the unpriced return was captured meanwhile")
        #expect(try ProductReturn(record: a.store.returnRecord(unknown)).refund == nil)

        let typed = await Self.kiosk(
            a,
            "refund",
            unknown.rawValue,
            "--amount",
            "12.50",
            "--reason",
            "no receipt: shelf price",
            "--currency",
            "eur",
            "--method",
            "store-credit",
            "--note",
            "customer took credit"
        )
        #expect(typed.stdout == "\(unknown) refund: 12.50 EUR by store-credit\n", "\(typed.stderr)")
        let defective = try Self.capture(a, order: "O-2", reason: .defective)
        #expect(await Self.kiosk(a, "refund", defective.rawValue).stdout.contains("45.50 EUR by original-payment\n"))
        try await a.sync()
        let atHQ = try ProductReturn(record: server.store.returnRecord(two))
        #expect(atHQ.refund?.amountMinor == 3398 && atHQ.refund?.currency.code == "EUR")
        try await server.stop()
    }

    /// Two kiosks refund one return offline — the very same amount — and HQ sees a conflict at once: never two
    /// refunds counted, one alert, settled as a group.
    @Test func twoConcurrentRefundsAreAConflictHQSeesAndCountOnce() async throws {
        let (server, a, b) = try await Self.setUp()
        let id = try Self.capture(a, order: "O-1")
        try await a.sync()
        try await b.sync()
        #expect(await Self.kiosk(a, "refund", id.rawValue).status == 0)
        #expect(await Self.kiosk(b, "refund", id.rawValue).status == 0)
        try await a.sync()
        let report = try await b.sync()
        #expect(report.conflicts.map(\.field).contains(ReturnEntity.Field.refundBy), "\(report.conflicts)")
        let audit = try server.store.conflictAudit().filter { $0.recordID == id.rawValue }
        #expect(audit.map(\.field) == [ReturnEntity.Field.refundBy], "\(audit.map(\.field))")
        let hq = server.store.path
        let shown = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["returns", "show", id.rawValue, "--db", hq])
        }
        #expect(shown.stdout.contains("ALERT        refunded twice"), "\(shown.stdout)")
        let money = try await SQLiteServerStorage(server.store).moneyReport(by: .store, withTotal: false)
        #expect(money.rows.first?[4] == .text("16.99"), "one refund of 19.99 less 3.00, counted once: \(money.rows)")

        let settled = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "conflicts", "resolve", id.rawValue, "refundBy", "store-1/a", "--db", hq,
            ])
        }
        #expect(settled.status == 0, "\(settled.stderr)")
        let after = try server.store.returnRecord(id)
        #expect(after.openConflicts(policy: ReturnEntity.policy).isEmpty)
        #expect(try ProductReturn(record: after).refund?.decidedBy == "store-1/a")
        try await server.stop()
    }
}

/// The money report against a hand-kept tally, to the cent, on SQLite and (when available) PostgreSQL alike: HQ
/// refunds from each backend's own orders and policies.
@Suite struct MoneyReportTests {
    @Test func theMoneyReportMatchesAHandKeptTallyOnEveryBackend() async throws {
        let expected = """
            store,currency,returns,valueReturned,refunded,feesKept,valueRecovered,unpriced
            north,EUR,3,59.97,63.97,6.00,39.98,1
            south,EUR,1,120.00,115.00,5.00,30.00,0
            tokyo,JPY,1,3000,3000,0,0,0
            total,EUR,4,179.97,178.97,11.00,69.98,1
            total,JPY,1,3000,3000,0,0,0
            """
        let backends = [StorageBackend.sqlite] + (PostgresTestServer.isAvailable ? [StorageBackend.postgres] : [])
        var byReason: [String] = []
        var ageing: [String] = []
        for backend in backends {
            let directory = try TemporaryDirectory()
            let text = try await backend.with { instance in
                let hq = try #require(instance.storage as? any ReturnAdministration & ReferenceAdministration)
                let soldAt = Date().addingTimeInterval(-86_400)
                func line(
                    _ order: String,
                    _ store: String,
                    _ gtin: String,
                    _ quantity: Int,
                    _ price: Int64,
                    _ code: String
                )
                    throws -> OrderLine
                {
                    try OrderLine(
                        orderID: OrderID(order),
                        storeID: StoreID(store),
                        line: 1,
                        gtin: GTIN(gtin),
                        quantity: quantity,
                        unitPriceCents: price,
                        soldAt: soldAt,
                        currency: Currency(code)
                    )
                }
                _ = try await hq.importOrders([
                    try line("O-1", "north", "4006381333931", 4, 1999, "EUR"),
                    try line("O-2", "south", "5901234123457", 1, 12_000, "EUR"),
                    try line("O-3", "tokyo", "9780201379624", 2, 1500, "JPY"),
                ])
                try await hq.write(
                    .setPolicy(
                        .validated(
                            store: StoreID("north"),
                            gtinPrefix: "",
                            windowDays: 30,
                            receiptRequired: false,
                            restockingFee: .percent(basisPoints: 1500)
                        )
                    )
                )
                try await hq.write(
                    .setPolicy(
                        .validated(
                            store: StoreID("south"),
                            gtinPrefix: "",
                            windowDays: 30,
                            receiptRequired: false,
                            restockingFee: .fixed(minorUnits: 500)
                        )
                    )
                )
                var ids: [String: ReturnID] = [:]
                for (store, captures) in [
                    (
                        "north",
                        [
                            ("r1", "O-1", "4006381333931", 2, ReturnReason.noLongerNeeded),
                            ("r2", "O-1", "4006381333931", 1, .defective),
                            ("r5", "O-1", "4006381333931", 1, .damaged),
                            ("r6", "O-404", "4006381333931", 1, .damaged),
                        ]
                    ),
                    ("south", [("r3", "O-2", "5901234123457", 1, .damaged)]),
                    ("tokyo", [("r4", "O-3", "9780201379624", 2, .noLongerNeeded)]),
                ] {
                    let kiosk = try ReplicaStore.create(
                        at: directory.file("\(store).sqlite"),
                        identity: .kiosk(store: StoreID(store), kiosk: KioskID("k1"))
                    )
                    for (name, order, gtin, quantity, reason) in captures {
                        let id = try kiosk.recordReturn(
                            ReturnCapture(orderID: OrderID(order), gtin: GTIN(gtin), reason: reason, quantity: quantity)
                        ).id
                        ids[name] = id
                    }
                    if store == "south" {
                        try kiosk.updateReturn(ids["r3"]!, operation: "inspect") { item, author, date in
                            try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
                        }
                        try kiosk.updateReturn(ids["r3"]!, operation: "disposition") { item, author, date in
                            try item.assignDisposition(.returnToVendor, by: author, at: date)
                        }
                    }
                    if store == "north" {
                        try kiosk.updateReturn(ids["r1"]!, operation: "inspect") { item, author, date in
                            try item.inspect(condition: .unopened, testResult: .pass, by: author, at: date)
                        }
                        try kiosk.updateReturn(ids["r1"]!, operation: "disposition") { item, author, date in
                            try item.assignDisposition(.restock, by: author, at: date)
                        }
                        try kiosk.updateReturn(ids["r5"]!, operation: "void") { item, author, date in
                            try item.void(note: "scanned twice", by: author, at: date)
                        }
                    }
                    _ = try await instance.storage.acceptPush(
                        kiosk.returnRecords(),
                        from: kiosk.identity.replicaID,
                        store: StoreID(store)
                    )
                }
                for name in ["r1", "r2", "r3", "r4"] {
                    _ = try await ReturnEdits.refund(
                        hq,
                        id: ids[name]!.rawValue,
                        method: "original-payment",
                        amount: nil,
                        currency: nil,
                        reason: nil,
                        exchange: nil,
                        note: nil
                    )
                }
                _ = try await ReturnEdits.refund(
                    hq,
                    id: ids["r6"]!.rawValue,
                    method: "store-credit",
                    amount: "10.00",
                    currency: "EUR",
                    reason: "no order: shelf price",
                    exchange: nil,
                    note: nil
                )
                _ = try await ReturnEdits.vendorShipment(
                    hq,
                    id: ids["r3"]!.rawValue,
                    shipment: VendorShipment(rma: "RMA-1", carrier: "DHL"),
                    note: nil
                )
                let source = try #require(instance.storage as? any ReportSource)
                ageing.append(ReportNotes.render(try await source.ageingReport(withTotal: true), as: "csv"))
                _ = try await ReturnEdits.vendorCredit(
                    hq,
                    id: ids["r3"]!.rawValue,
                    amount: "30.00",
                    currency: nil,
                    on: nil,
                    note: nil
                )
                byReason.append(
                    ReportNotes.render(try await source.moneyReport(by: .reason, withTotal: true), as: "csv")
                )
                return ReportNotes.render(try await source.moneyReport(by: .store, withTotal: true), as: "csv")
            }
            #expect(text == expected, "\(backend):\n\(text)")
        }
        #expect(Set(byReason).count == 1, "\(byReason)")
        #expect(Set(ageing).count == 1, "\(ageing)")
        #expect(ageing.first?.contains("vendor-claim,south,RMA-1,1,1,0,0,0,0") == true, "\(ageing)")
    }
}
