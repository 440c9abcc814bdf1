import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import Testing

@testable import ReturnsServerCLI

/// Returns sent back to their vendor carry the RMA, the shipment and the credit; open claims and repairs age in a
/// report; the credit counts as value recovered.
@Suite struct VendorClaimTests {
    static func hq(_ arguments: String..., db: String) async -> (status: Int32, stdout: String, stderr: String) {
        await runCaptured { await ReturnsServerCLI.run(arguments: arguments + ["--db", db]) }
    }

    @Test func aVendorClaimIsShippedCreditedAndAgesUntilThen() async throws {
        // The wall clock on every replica: the command line writes at it too.
        var day = try ReportNumbersTests.Day(clock: { Date() })
        func daysAgo(_ days: Double) -> String {
            ISO8601Milliseconds.day(of: Date().addingTimeInterval(-days * 86_400))
        }
        _ = try day.server.importOrders([
            try OrderLine(
                orderID: OrderID("ORD-9"),
                storeID: StoreID("store-1"),
                line: 1,
                gtin: GTIN("4006381333931"),
                quantity: 5,
                unitPriceCents: 2500,
                soldAt: Date().addingTimeInterval(-86_400),
                currency: Currency("EUR")
            )
        ])
        let toVendor = try day.capture(at: "store-1")
        let repaired = try day.capture(at: "store-1")
        let kiosk = try day.kiosk("store-1")
        for (id, disposition) in [(toVendor, Disposition.returnToVendor), (repaired, .repair)] {
            try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
                try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
            }
            try kiosk.updateReturn(id, operation: "disposition") { item, author, date in
                try item.assignDisposition(disposition, by: author, at: date)
            }
        }
        let shipment = try VendorShipment(rma: "RMA-7781", carrier: "DHL", tracking: "JD0142", shippedOn: daysAgo(33))
        _ = try await ReturnEdits.vendorShipment(kiosk, id: toVendor.rawValue, shipment: shipment, note: "pallet 4")
        await #expect {
            _ = try await ReturnEdits.vendorShipment(kiosk, id: repaired.rawValue, shipment: shipment, note: nil)
        } throws: {
            ($0 as? ReturnsModelError)?.message.contains("not return-to-vendor: route it to the vendor first") == true
        }
        _ = try await RepairOptions.perform(kiosk, repaired, sent: daysAgo(4))
        for id in [toVendor, repaired] { try day.server.merge(kiosk.returnRecord(id)) }

        let db = day.server.path
        let shown = await Self.hq("returns", "show", toVendor.rawValue, db: db)
        #expect(shown.stdout.contains("vendor RMA   RMA-7781, DHL JD0142, shipped \(daysAgo(33))"), "\(shown.stdout)")
        let ageing = await Self.hq("report", "--by", "ageing", "--format", "csv", db: db)
        #expect(
            ageing.stdout == """
                kind,store,party,open,days0to7,days8to30,days31to90,over90Days,oldestDays
                repair,store-1,Acme,1,1,0,0,0,4
                vendor-claim,store-1,RMA-7781,1,0,0,1,0,33

                """,
            "\(ageing.stdout)\(ageing.stderr)"
        )

        // The credit arrives after the return was closed: still recorded, and the claim is no longer open.
        try day.server.updateReturn(toVendor, operation: "close") { item, author, date in
            try item.close(by: author, at: date)
        }
        let wrongCurrency = await Self.hq(
            "returns",
            "credit",
            toVendor.rawValue,
            "--amount",
            "20",
            "--currency",
            "USD",
            db: db
        )
        #expect(wrongCurrency.stderr == "error: --currency USD differs from the order line's EUR\n")
        let credited = await Self.hq(
            "returns",
            "credit",
            toVendor.rawValue,
            "--amount",
            "20.00",
            "--on",
            daysAgo(1),
            db: db
        )
        #expect(credited.stdout == "\(toVendor) vendor credit 20.00 EUR on \(daysAgo(1))\n", "\(credited.stderr)")
        let after = await Self.hq("report", "--by", "ageing", "--format", "csv", db: db)
        #expect(!after.stdout.contains("vendor-claim") && after.stdout.contains("repair,store-1,Acme,1"))
        let money = await Self.hq("report", "--by", "store", "--money", "--format", "csv", db: db)
        #expect(money.stdout.contains("store-1,EUR,2,50.00,0.00,0.00,20.00,0"), "\(money.stdout)")
        let json = await Self.hq("returns", "show", toVendor.rawValue, "--json", db: db)
        #expect(json.stdout.contains("\"creditMinor\" : 2000") && json.stdout.contains("\"rma\" : \"RMA-7781\""))

        // The kiosk receives HQ's credit.
        try kiosk.merge(day.server.returnRecord(toVendor))
        #expect(try ProductReturn(record: kiosk.returnRecord(toVendor)).vendorCredit?.amountMinor == 2000)
        let voided = try day.capture(at: "store-1")
        try day.server.updateReturn(voided, operation: "void") { item, author, date in
            try item.void(note: "scanned twice", by: author, at: date)
        }
        let refused = await Self.hq("returns", "credit", voided.rawValue, "--amount", "1", "--currency", "EUR", db: db)
        #expect(refused.stderr == "error: return \(voided) is voided: no vendor credit is due\n")
        let badDay = await Self.hq(
            "returns",
            "rma",
            repaired.rawValue,
            "--number",
            "X",
            "--shipped",
            "2026-02-30",
            db: db
        )
        #expect(badDay.stderr.hasPrefix("error: invalid date '2026-02-30'"), "\(badDay.stderr)")
    }
}

extension RepairOptions {
    /// Records a repair sent to Acme on `sent`, as `kiosk repair` does.
    static func perform(_ store: ReplicaStore, _ id: ReturnID, sent: String) async throws -> String {
        try await ReturnEdits.repair(store, id: id.rawValue, vendor: "Acme", status: "sent", sentOn: sent, backOn: nil)
    }
}
