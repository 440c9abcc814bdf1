import Foundation
import ReplicaStore
import ReturnsModel
import SyncClient
import Testing

@Suite struct RecallSyncTests {
    @Test func campaignsReachEveryStoresKiosksAndKiosksNeverPushThemBack() async throws {
        let server = try await TestServer()
        let store1 = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let store2 = try TestKiosk(store: "store-2", kiosk: "x", server: server)
        let captured = try store1.record()
        let campaign = try RecallCampaign(
            id: "RC-2026-014",
            gtins: [GTIN("4006381333931")],
            lots: [ItemCode("L42", kind: "lot")],
            hazard: "battery may overheat",
            instructions: "quarantine; do not charge",
            unitsAffected: 1200,
            createdAt: Date(millisecondsSince1970: 1_780_000_000_000)
        )
        try server.store.createRecall(campaign)

        try await store1.sync()
        try await store2.sync()
        #expect(try store1.store.recalls() == [campaign])
        #expect(try store2.store.recalls() == [campaign])
        // The other store's return did not travel with the campaign.
        #expect(try store2.records.isEmpty)

        // The next sync pushes the return the campaign found there (its lot unknown: held), never the campaign;
        // then nothing: kiosks write returns only.
        let again = try await store1.sync()
        #expect(again.pushed == 1)
        #expect(try ProductReturn(record: server.store.returnRecord(captured.id)).recallMatch == .uncertain)
        #expect(try await store1.sync().pushed == 0)

        try server.store.closeRecall("RC-2026-014")
        try await store2.sync()
        #expect(try store2.store.recalls().map(\.status) == [.closed])
        try await server.stop()
    }
}

@Suite struct RecallFlaggingTests {
    @Test func unitsUnderARecallAreFlaggedAtCaptureOfflineAndHQSeesIt() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try server.store.createRecall(
            RecallCampaign(
                id: "RC-7",
                gtins: [GTIN("4006381333931")],
                lots: [ItemCode("L42", kind: "lot")],
                hazard: "battery may overheat",
                instructions: "quarantine; do not charge",
                unitsAffected: 100,
                createdAt: Date(millisecondsSince1970: 1_780_000_000_000)
            )
        )
        try await kiosk.sync()  // the campaign arrives mid-day; the kiosk then works offline

        func capture(lot: String?, gtin: String = "4006381333931") throws -> ProductReturn {
            try kiosk.store.recordReturn(
                ReturnCapture(
                    orderID: OrderID("O-1"),
                    gtin: GTIN(gtin),
                    reason: .noLongerNeeded,
                    lot: lot.map { try ItemCode($0, kind: "lot") }
                )
            )
        }
        let certain = try capture(lot: "L42")
        #expect(certain.recallCampaign == "RC-7" && certain.recallMatch == .certain)
        #expect(certain.reason == .recall && certain.disposition == .quarantine)

        let uncertain = try capture(lot: nil)
        #expect(uncertain.recallMatch == .uncertain)
        #expect(uncertain.reason == .noLongerNeeded && uncertain.disposition == .undecided)

        let otherLot = try capture(lot: "L43")
        #expect(otherLot.recallCampaign == nil)
        let otherProduct = try capture(lot: "L42", gtin: "96385074")
        #expect(otherProduct.recallCampaign == nil)

        // Neither a certain nor an uncertain match is ever restocked, repackaged or repaired.
        for item in [certain, uncertain] {
            try kiosk.store.updateReturn(item.id, operation: "inspect") { item, author, date in
                try item.inspect(condition: .unopened, testResult: .pass, by: author, at: date)
            }
            for disposition in [Disposition.restock, .repackage, .repair] {
                #expect(throws: ReturnsModelError.self) {
                    try kiosk.store.updateReturn(item.id, operation: "disposition") { item, author, date in
                        try item.assignDisposition(disposition, by: author, at: date)
                    }
                }
            }
        }
        try kiosk.store.updateReturn(uncertain.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.quarantine, by: author, at: date)
        }
        // The unit not under the recall is free to go back to stock.
        try kiosk.store.updateReturn(otherLot.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .unopened, testResult: .pass, by: author, at: date)
        }
        try kiosk.store.updateReturn(otherLot.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.restock, by: author, at: date)
        }

        try await kiosk.sync()
        let atHQ = try ProductReturn(record: server.store.returnRecord(certain.id))
        #expect(atHQ.recallCampaign == "RC-7" && atHQ.disposition == .quarantine && atHQ.reason == .recall)
        #expect(try server.store.report(by: .reason).first { $0.key == "recall" }?.returns == 1)

        // A closed campaign flags nothing more.
        try server.store.closeRecall("RC-7")
        try await kiosk.sync()
        #expect(try capture(lot: "L42").recallCampaign == nil)
        try await server.stop()
    }
}

@Suite struct RepairSyncTests {
    @Test func aRepairUpdatedAtHQReachesTheKioskAndSurvivesExport() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let item = try kiosk.record()
        try kiosk.store.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
        }
        try kiosk.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.repair, by: author, at: date)
        }
        try kiosk.store.updateReturn(item.id, operation: "repair") { item, _, date in
            try item.recordRepair(RepairRecord(vendor: "Acme", status: .sent, sentOn: "2026-11-20"), at: date)
        }
        try await kiosk.sync()
        // The repairer reports to HQ; HQ records it.
        try server.store.updateReturn(item.id, operation: "repair") { item, _, date in
            try item.recordRepair(
                RepairRecord(vendor: "Acme", status: .beyondRepair, sentOn: "2026-11-20", backOn: "2026-11-25"),
                at: date
            )
        }
        try await kiosk.sync()
        let atKiosk = try ProductReturn(record: kiosk.store.returnRecord(item.id))
        #expect(atKiosk.repair?.status == .beyondRepair && atKiosk.repair?.turnaroundDays == 5)

        var export = Data()
        try kiosk.store.exportReturns { export.append($0) }
        let copy = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        try copy.store.importReturns(ndjson: export)
        #expect(try ProductReturn(record: copy.store.returnRecord(item.id)).repair == atKiosk.repair)
        try await server.stop()
    }
}
