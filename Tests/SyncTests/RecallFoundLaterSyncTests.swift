import Foundation
import KioskCLI
import ReplicaStore
import ReturnsModel
import ReturnsServerCLI
import SyncClient
import Testing

/// A campaign created after units were captured — or already restocked — finds them: at HQ at once, at each kiosk
/// when the campaign arrives, and every replica ends with the same records.
@Suite struct RecallFoundLaterSyncTests {
    static func capture(_ kiosk: TestKiosk, lot: String?) throws -> ProductReturn {
        try kiosk.store.recordReturn(
            ReturnCapture(
                orderID: OrderID("O-1"),
                gtin: GTIN("4006381333931"),
                reason: .noLongerNeeded,
                lot: lot.map { try ItemCode($0, kind: "lot") }
            )
        )
    }

    @Test func unitsCapturedBeforeACampaignAreFoundAtHQAndAtEveryKiosk() async throws {
        let server = try await TestServer()
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-2", kiosk: "b", server: server)
        // Before any campaign: store-1 takes back three units and syncs; store-2 takes one back and stays offline.
        let open = try Self.capture(a, lot: "L42")
        let restocked = try Self.capture(a, lot: "L42")
        try a.store.updateReturn(restocked.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .unopened, testResult: .pass, by: author, at: date)
        }
        try a.store.updateReturn(restocked.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.restock, by: author, at: date)
        }
        try a.store.updateReturn(restocked.id, operation: "close") { item, author, date in
            try item.close(by: author, at: date)
        }
        let otherLot = try Self.capture(a, lot: "L43")
        try await a.sync()
        let offline = try Self.capture(b, lot: "L42")

        let created = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "recall", "add", "--id", "RC-8", "--gtin", "4006381333931", "--lot", "L42", "--hazard",
                "battery may overheat", "--instructions", "quarantine; do not charge", "--units", "40", "--db",
                server.store.path,
            ])
        }
        #expect(
            created.stdout
                == "recall RC-8 created; 2 returns already held at HQ flagged, 1 of them recall alerts "
                + "(see 'returns-server recall alerts')\n",
            "\(created.stderr)"
        )
        // HQ found store-1's units at once: the open one quarantined, the restocked one an alert.
        let hqOpen = try ProductReturn(record: server.store.returnRecord(open.id))
        #expect(hqOpen.recallCampaign == "RC-8" && hqOpen.disposition == .quarantine && hqOpen.status == .received)
        let hqRestocked = try ProductReturn(record: server.store.returnRecord(restocked.id))
        #expect(hqRestocked.isRecallAlert && hqRestocked.status == .closed)
        #expect(try ProductReturn(record: server.store.returnRecord(otherLot.id)).recallCampaign == nil)
        let alerts = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["recall", "alerts", "--db", server.store.path])
        }
        let alertLines = alerts.stdout.split(separator: "\n")
        #expect(alertLines.count == 3 && alertLines[1].contains("store-1") && alertLines[1].contains("restock"))
        #expect(restocked.id.rawValue.hasPrefix(String(alertLines[1].prefix { $0 != " " })))

        // store-2's kiosk finds its unit when the campaign arrives, and HQ learns of it with the next sync.
        try await b.sync()
        let atB = try ProductReturn(record: b.store.returnRecord(offline.id))
        #expect(atB.recallCampaign == "RC-8" && atB.disposition == .quarantine)
        #expect(try await b.sync().pushed == 1)
        #expect(try ProductReturn(record: server.store.returnRecord(offline.id)).recallCampaign == "RC-8")

        // store-1's kiosk receives HQ's findings with the campaign: nothing left for it to flag or push.
        try await a.sync()
        #expect(try await a.sync().pushed == 0)
        for id in [open.id, restocked.id, otherLot.id] {
            #expect(try a.store.returnRecord(id) == server.store.returnRecord(id))
        }
        #expect(try b.store.returnRecord(offline.id) == server.store.returnRecord(offline.id))

        // The recall report counts the units found after capture.
        let report = try server.store.recallCompletionReport()
        let foundLater = try #require(report.columns.firstIndex(of: "unitsFoundLater"))
        let returned = try #require(report.columns.firstIndex(of: "unitsReturned"))
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { ($0[1], $0) })
        #expect(rows[.text("store-1")]?[returned] == .number(2) && rows[.text("store-1")]?[foundLater] == .number(2))
        #expect(rows[.text("store-2")]?[foundLater] == .number(1))

        // Staff read what to do, and which of their returns are under the recall.
        let shown = await runCaptured { await KioskCLI.run(arguments: ["recalls", "--db", a.store.path]) }
        #expect(shown.stdout.contains("RC-8 (open): battery may overheat\n  what to do: quarantine; do not charge"))
        #expect(shown.stdout.contains("returns here under it: 2"), "\(shown.stdout)")
        #expect(shown.stdout.contains("restock  ALERT: restocked: the unit may be back on sale"), "\(shown.stdout)")
        try await server.stop()
    }

    /// Each capture is flagged once: by HQ when it holds the return as the campaign is created, else by the kiosk
    /// that captured it — never also by the store's other kiosks, which would flag it concurrently.
    @Test func aCaptureIsFlaggedByItsOwnKioskNotByItsStoresOthers() async throws {
        let server = try await TestServer()
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        try server.store.createRecall(
            RecallCampaign(
                id: "RC-5",
                gtins: [GTIN("4006381333931")],
                hazard: "sharp edge",
                instructions: "quarantine",
                unitsAffected: 5,
                createdAt: Date()
            )
        )
        let unit = try Self.capture(a, lot: nil)  // captured before kiosk a heard of the campaign
        try await a.sync()  // pushes it as captured, pulls the campaign, finds it
        #expect(try ProductReturn(record: a.store.returnRecord(unit.id)).recallCampaign == "RC-5")
        try await b.sync()  // the campaign and a's return as pushed: not b's capture to flag
        #expect(try ProductReturn(record: b.store.returnRecord(unit.id)).recallCampaign == nil)
        #expect(try await b.sync().pushed == 0)
        try await a.sync()
        try await b.sync()
        let atB = try ProductReturn(record: b.store.returnRecord(unit.id))
        #expect(atB.recallCampaign == "RC-5" && atB.notes.count == 1, "\(atB.notes)")
        #expect(try b.store.returnRecord(unit.id) == server.store.returnRecord(unit.id))
        #expect(try a.store.returnRecord(unit.id) == server.store.returnRecord(unit.id))
        try await server.stop()
    }
}
