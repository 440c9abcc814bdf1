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
        try store1.record()
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

        // The next syncs push nothing back: kiosks write returns only.
        let again = try await store1.sync()
        #expect(again.pushed == 0)

        try server.store.closeRecall("RC-2026-014")
        try await store2.sync()
        #expect(try store2.store.recalls().map(\.status) == [.closed])
        try await server.stop()
    }
}
