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

extension SampleData {
    /// `record` with its `defective` values changed to `damaged` under the same dots: a forged export of it, which
    /// a replica holding the real one must set aside (`conflicting-write`), never merge.
    public static func forgedTwin(of record: VersionedRecord) throws -> VersionedRecord {
        let registers = record.registers.mapValues { values in
            values.map { value in
                value.value == .string("defective")
                    ? DottedValue(value: .string("damaged"), dot: value.dot, stamp: value.stamp) : value
            }
        }
        return try VersionedRecord(
            entityType: record.entityType,
            id: record.id,
            clock: record.clock,
            registers: registers,
            sets: record.sets
        )
    }
}
