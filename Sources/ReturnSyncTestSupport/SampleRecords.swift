import Foundation
import ReturnsModel
import ReturnsSync
import SyncEngine

extension SampleData {
    /// The record of a return captured by `kiosk` (of the store its id names) at `created`, stamped then: a
    /// defective item of order `orderID`, GTIN 04006381333931.
    public static func capturedReturn(
        by kiosk: ReplicaID,
        at created: Date,
        orderID: String = "ORD-1"
    ) throws -> VersionedRecord {
        let parts = kiosk.rawValue.split(separator: "/").map(String.init)
        let item = try ProductReturn(
            id: ReturnID.make(at: created),
            storeID: StoreID(parts[0]),
            kioskID: KioskID(parts[1]),
            orderID: OrderID(orderID),
            gtin: GTIN("4006381333931"),
            reason: .defective,
            createdAt: created
        )
        return try ReturnEntity.makeRecord(
            for: item,
            by: kiosk,
            stamp: HLCTimestamp(physical: UInt64(created.millisecondsSince1970))
        )
    }
}
