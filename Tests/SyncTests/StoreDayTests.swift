import Foundation
import ReplicaStore
import ReturnsModel
import Testing

/// A day at two stores, offline, with purchase verification against the orders HQ imported, a recall arriving
/// mid-day, repairs and a recycler hand-off; then sync, and HQ's reports checked number by number.
@Suite struct StoreDayTests {
    @Test func aFullDayAtTwoStoresEndsInCorrectReports() async throws {
        let server = try await TestServer()
        let north = try TestKiosk(store: "north", kiosk: "k1", server: server)
        let south = try TestKiosk(store: "south", kiosk: "k1", server: server)
        let drill = "4006381333931"
        let lamp = "96385074"
        let kettle = "5901234123457"  // sold, never returned

        // Last night's orders, and south's policy: a receipt for everything.
        func sold(_ store: String, _ gtin: String, _ quantity: Int, daysAgo: Double) throws -> OrderLine {
            try OrderLine(
                orderID: OrderID("\(store)-\(gtin)"),
                storeID: StoreID(store),
                line: 1,
                gtin: GTIN(gtin),
                quantity: quantity,
                unitPriceCents: 4999,
                soldAt: Date().addingTimeInterval(-daysAgo * 86_400)
            )
        }
        _ = try server.store.importOrders([
            try sold("north", lamp, 2, daysAgo: 2), try sold("north", drill, 3, daysAgo: 5),
            try sold("north", kettle, 5, daysAgo: 1), try sold("south", drill, 2, daysAgo: 10),
        ])
        try server.store.setReturnPolicy(
            .validated(store: StoreID("south"), gtinPrefix: "", windowDays: 30, receiptRequired: true)
        )
        try await north.sync()
        try await south.sync()

        func capture(
            _ kiosk: TestKiosk,
            _ gtin: String,
            lot: String? = nil,
            quantity: Int = 1,
            reason: ReturnReason,
            receipt: Bool = true
        )
            throws -> ProductReturn
        {
            try kiosk.store.recordReturn(
                ReturnCapture(
                    orderID: OrderID("\(kiosk.store.identity.storeID!)-\(gtin)"),
                    gtin: GTIN(gtin),
                    reason: reason,
                    lot: lot.map { try ItemCode($0, kind: "lot") },
                    quantity: quantity,
                    receipt: receipt
                )
            )
        }
        func route(
            _ kiosk: TestKiosk,
            _ item: ProductReturn,
            _ condition: ItemCondition,
            _ disposition: Disposition
        )
            throws
        {
            try kiosk.store.updateReturn(item.id, operation: "inspect") { item, author, date in
                try item.inspect(
                    condition: condition,
                    testResult: condition == .defective ? .fail : .pass,
                    by: author,
                    at: date
                )
            }
            try kiosk.store.updateReturn(item.id, operation: "disposition") { item, author, date in
                try item.assignDisposition(disposition, by: author, at: date)
            }
        }

        // Morning, before the recall: ordinary returns at both stores.
        let northLamp = try capture(north, lamp, quantity: 2, reason: .noLongerNeeded)
        #expect(northLamp.verification == .verified)
        try route(north, northLamp, .unopened, .restock)
        let southDrill = try capture(south, drill, lot: "L7", reason: .defective)
        #expect(southDrill.verification == .verified)
        try route(south, southDrill, .defective, .repair)
        try south.store.updateReturn(southDrill.id, operation: "repair") { item, _, date in
            try item.recordRepair(RepairRecord(vendor: "Acme", status: .sent, sentOn: "2026-11-20"), at: date)
        }
        try await north.sync()
        try await south.sync()

        // Mid-day HQ recalls lot L42 of the drill; both stores pick it up.
        try server.store.createRecall(
            RecallCampaign(
                id: "RC-1",
                gtins: [GTIN(drill)],
                lots: [ItemCode("L42", kind: "lot")],
                hazard: "battery may overheat",
                instructions: "quarantine",
                unitsAffected: 10,
                createdAt: Date(millisecondsSince1970: 1_780_000_000_000)
            )
        )
        try await north.sync()
        try await south.sync()

        // Afternoon, offline: recalled units come back at both stores, one of unknown lot; a damaged lamp is recycled.
        let northRecall = try capture(north, drill, lot: "L42", quantity: 3, reason: .defective)
        #expect(northRecall.recallMatch == .certain && northRecall.disposition == .quarantine)
        #expect(northRecall.verification == .verified)
        let southRecall = try capture(south, drill, lot: "L42", reason: .noLongerNeeded)
        #expect(southRecall.verification == .verified && southRecall.exceptions.isEmpty)
        // A third drill against an order of two: an uncertain recall match does not waive the purchase checks.
        let southUnknown = try capture(south, drill, reason: .noLongerNeeded)
        #expect(southUnknown.recallMatch == .uncertain)
        #expect(southUnknown.verification == .quantityExceeded && southUnknown.exceptions == [.quantityExceeded])
        // A lamp south never sold, brought without a receipt: unverified at the kiosk, not found at HQ.
        let southLamp = try capture(south, lamp, reason: .damaged, receipt: false)
        #expect(southLamp.verification == .unverified && southLamp.exceptions == [.noReceipt])
        try route(south, southLamp, .damaged, .recycle)
        try south.store.updateReturn(southLamp.id, operation: "handoff") { item, _, date in
            try item.recordHandoff(
                CustodyHandoff(party: "GreenCycle", document: "MAN-881", weightGrams: 900, handedOverOn: "2026-11-29"),
                at: date
            )
        }
        try south.store.updateReturn(southLamp.id, operation: "close") { item, _, date in try item.close(at: date) }
        try south.store.updateReturn(southDrill.id, operation: "repair") { item, _, date in
            try item.recordRepair(
                RepairRecord(vendor: "Acme", status: .repaired, sentOn: "2026-11-20", backOn: "2026-11-26"),
                at: date
            )
        }

        // Evening: everything syncs.
        try await north.sync()
        try await south.sync()

        func numbers(_ report: ReplicaStore.Report) -> [[String]] {
            report.rows.map { row in
                row.map {
                    switch $0 {
                    case .text(let text): return text
                    case .number(let number): return String(number)
                    case .decimal(let number): return String(number)
                    case .none: return "-"
                    }
                }
            }
        }
        let byStore = try server.store.report(by: .store)
        #expect(byStore.map(\.key) == ["north", "south"])
        #expect(byStore.map(\.returns) == [2, 4])
        #expect(byStore.map(\.units) == [5, 4])
        let byReason = Dictionary(
            uniqueKeysWithValues: try server.store.report(by: .reason).map { ($0.key, $0.returns) }
        )
        #expect(byReason == ["recall": 2, "no-longer-needed": 2, "defective": 1, "damaged": 1])
        #expect(
            numbers(try server.store.recallCompletionReport()) == [
                ["RC-1", "north", "1", "3", "0", "10", "0.3", "0"],
                ["RC-1", "south", "2", "1", "1", "10", "0.1", "0"],
            ]
        )
        #expect(numbers(try server.store.repairTurnaroundReport()) == [["Acme", "1", "1", "6.0", "6"]])
        let summary = Dictionary(
            uniqueKeysWithValues: numbers(try server.store.summaryReport()).map { ($0[0], $0[1]) }
        )
        #expect(summary["returns"] == "6" && summary["units"] == "9")
        #expect(summary["recallReturns"] == "3" && summary["repairs"] == "1")
        #expect(summary["openConflicts"] == "0" && summary["ruleViolations"] == "0")
        #expect(summary["reviewQueue"] == "2" && summary["soldUnits"] == "12")
        #expect(try server.store.reviewQueue().map(\.id) == [southUnknown.id.rawValue, southLamp.id.rawValue])
        #expect(try south.current(southLamp).exceptions == [.noReceipt, .notFound])

        // Return rates: returned units (not voided) over units sold.
        #expect(
            numbers(try server.store.groupedReport(by: .gtin, withTotal: true)) == [
                ["00000096385074", "2", "3", "0", "0", "3", "2", "1.5"],
                ["04006381333931", "4", "6", "0", "0", "6", "5", "1.2"],
                ["05901234123457", "0", "0", "0", "0", "0", "5", "0.0"],
                ["total", "6", "9", "0", "0", "9", "12", "0.75"],
            ]
        )
        #expect(
            numbers(try server.store.groupedReport(by: .store, withTotal: false)) == [
                ["north", "2", "5", "0", "0", "5", "10", "0.5"],
                ["south", "4", "4", "0", "0", "4", "2", "2.0"],
            ]
        )
        try await server.stop()
    }
}
