import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

/// Issue 22, mixed versions: a field a newer kiosk writes, which this release does not know, is kept by HQ and
/// forwarded to the store's other kiosks, shown as "unknown (newer)", and comes back untouched with their edits.
@Suite struct UnknownFieldSyncTests {
    @Test func aNewerKiosksFieldIsKeptForwardedShownAndComesBackUntouched() async throws {
        let fleet = try await AdversaryTests.Fleet()
        // What a kiosk of a later release pushes: a return with a field this release has never heard of.
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "a",
            stamp: .now,
            extra: ["warrantyId": .string("W-2027-0042"), "loyaltyPoints": .integer(500)]
        )
        let answer = try await fleet.wire.push(record, to: fleet.server)
        #expect(answer?["type"] == .string("push-ack"), "\(answer?.serializedString ?? "closed")")
        let id = try ReturnID(record.id)
        let held = try fleet.server.store.returnRecord(id)
        #expect(held.values(of: "warrantyId").map(\.value) == [.string("W-2027-0042")])

        // The store's other kiosk receives it whole and shows what it cannot read for what it is.
        try await fleet.honest.sync()
        let received = try fleet.honest.store.returnRecord(id)
        #expect(received == held)
        let shown = try Format.returnDetails(received)
        #expect(shown.contains("unknown      loyaltyPoints = 500 (newer)"), "\(shown)")
        #expect(shown.contains("unknown      warrantyId = \"W-2027-0042\" (newer)") || shown.contains("W-2027-0042"))

        // It edits the return; the field travels back untouched, with the write that made it.
        _ = try fleet.honest.store.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
        }
        #expect(try await fleet.honest.sync().pushed == 1)
        let after = try fleet.server.store.returnRecord(id)
        #expect(after.values(of: "warrantyId") == held.values(of: "warrantyId"))
        #expect(after.values(of: "loyaltyPoints") == held.values(of: "loyaltyPoints"))
        #expect(try ProductReturn(record: after).condition == .damaged)
        // Another store's kiosk never sees it.
        try await fleet.otherStore.sync()
        #expect(try fleet.otherStore.store.record(entityType: "return", id: record.id) == nil)
        try await fleet.server.stop()
    }

    @Test(arguments: StorageBackend.all)
    func everyBackendKeepsAnUnknownFieldWithTheWriteThatMadeIt(backend: StorageBackend) async throws {
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "k1",
            stamp: .now,
            extra: ["warrantyId": .string("W-1"), "loyaltyPoints": .integer(5)]
        )
        try await backend.with { instance in
            let hq = try #require(instance.storage as? any ReturnAdministration)
            _ = try await instance.storage.acceptPush(
                [record],
                from: ReplicaID("store-1/k1"),
                store: StoreID("store-1")
            )
            let held = try await hq.returnRecord(ReturnID(record.id))
            for field in ["warrantyId", "loyaltyPoints"] {
                #expect(held.values(of: field) == record.values(of: field), "\(backend) \(field)")
            }
        }
    }

    @Test func anUnknownFieldOutsideTheBoundsIsRefusedAndNothingStored() async throws {
        let fleet = try await AdversaryTests.Fleet()
        let changes = try fleet.server.store.changeLogCount()
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "a",
            stamp: .now,
            extra: ["warrantyNote": .string("clear\u{1B}[2Jscreen")]
        )
        let answer = try await fleet.wire.push(record, to: fleet.server)
        #expect(answer?["message"]?.stringValue?.contains("warrantyNote") == true)
        try await fleet.expectRefused(answer, .invalidRecord, changesBefore: changes)
        try await fleet.server.stop()
    }
}
