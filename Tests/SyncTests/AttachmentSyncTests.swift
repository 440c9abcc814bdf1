import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

/// An attachment's metadata travels with its return at once, on every backend; the bytes stay on the kiosk (their
/// transfer is the next part of the evidence issue).
@Suite struct AttachmentSyncTests {
    @Test(arguments: StorageBackend.all)
    func theMetadataReachesHQWithTheReturn(backend: StorageBackend) async throws {
        let directory = try TemporaryDirectory()
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID("k1"))
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("96385074"), reason: .damaged)
        )
        let photo = Data([0xFF, 0xD8, 0xFF, 0xDB]) + Data(repeating: 0x42, count: 64)
        let attachment = try kiosk.attach(photo, to: item.id, caption: "crushed corner", operatorID: OperatorID("bo"))
        #expect(try kiosk.attachmentBytes(attachment.digest)?.data == photo)
        try await backend.with { instance in
            let hq = try #require(instance.storage as? any ReturnAdministration)
            _ = try await instance.storage.acceptPush(
                try kiosk.returnRecords(),
                from: ReplicaID("store-1/k1"),
                store: StoreID("store-1")
            )
            let atHQ = try ProductReturn(record: await hq.returnRecord(item.id))
            #expect(atHQ.attachments == [attachment], "\(backend)")
            let document = try ReturnDocument(record: await hq.returnRecord(item.id))
            #expect(document.attachments?.first?.replica == "store-1/k1")
            #expect(document.edits?.map(\.operatorId) == ["bo"])
        }
    }
}
