import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsSync
import SyncEngine

/// HQ work to do, for the console's tests: one return in conflict and one waiting for review, pushed from two desks
/// of store `north`.
public enum DeskWork {
    /// Pushes into `hq`: a chair routed at two desks at once (disposed of at `k1`, recycled at `k2`: a conflict on
    /// `disposition`) against order ORD-1, which HQ knows; and a return against ORD-404, which HQ does not know
    /// (waiting for review). The kiosks' databases go into `directory`.
    public static func push(
        into hq: ReplicaStore,
        in directory: TemporaryDirectory
    ) async throws -> (
        inConflict: ReturnID, awaitingReview: ReturnID
    ) {
        try await push(
            importOrders: { _ = try hq.importOrders($0) },
            accept: { _ = try hq.acceptPush($0, from: $1, store: $2) },
            in: directory
        )
    }

    /// The same work through any HQ storage: `importOrders` imports order lines, `accept` accepts a kiosk's push.
    public static func push(
        importOrders: ([OrderLine]) async throws -> Void,
        accept: ([VersionedRecord], ReplicaID, StoreID) async throws -> Void,
        in directory: TemporaryDirectory
    ) async throws -> (inConflict: ReturnID, awaitingReview: ReturnID) {
        try await importOrders([
            try OrderLine(
                orderID: OrderID("ORD-1"),
                storeID: StoreID("north"),
                line: 1,
                gtin: GTIN("4006381333931"),
                quantity: 1,
                unitPriceCents: 1999,
                soldAt: Date().addingTimeInterval(-86_400)
            )
        ])
        func kiosk(_ name: String) throws -> ReplicaStore {
            try ReplicaStore.create(
                at: directory.file("desk-\(name).sqlite"),
                identity: .kiosk(store: StoreID("north"), kiosk: KioskID(name))
            )
        }
        let (desk1, desk2) = (try kiosk("k1"), try kiosk("k2"))
        let chair = try desk1.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .defective)
        ).id
        _ = try desk1.updateReturn(chair, operation: "inspect") {
            try $0.inspect(condition: .defective, testResult: .fail, by: $1, at: $2)
        }
        try desk2.merge(try desk1.returnRecord(chair))
        _ = try desk1.updateReturn(chair, operation: "disposition") {
            try $0.assignDisposition(.dispose, by: $1, at: $2)
        }
        _ = try desk2.updateReturn(chair, operation: "disposition") {
            try $0.assignDisposition(.recycle, by: $1, at: $2)
        }
        let unknownOrder = try desk1.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-404"), gtin: GTIN("4006381333931"), reason: .damaged)
        ).id
        for desk in [desk1, desk2] {
            try await accept(try desk.returnRecords(), desk.identity.replicaID, StoreID("north"))
        }
        return (chair, unknownOrder)
    }
}
