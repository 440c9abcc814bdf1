import Foundation
import ReturnsModel
import SyncEngine

/// How a return is stored as a replicated record: its field names, value encodings and merge policies.
///
/// Every field is a register except `notes`, a grow-only set. Field names are the camelCase keys of the JSON form.
/// `updatedAt` is not stored: it is the newest stamp in the record, so concurrent edits never conflict on it.
public enum ReturnEntity {
    /// The entity type of return records.
    public static let entityType = "return"

    /// Field names.
    public enum Field {
        public static let storeID = "storeId"
        public static let kioskID = "kioskId"
        public static let orderID = "orderId"
        public static let gtin = "gtin"
        public static let serial = "serial"
        public static let lot = "lot"
        public static let quantity = "quantity"
        public static let reason = "reason"
        public static let status = "status"
        public static let condition = "condition"
        public static let testResult = "testResult"
        public static let disposition = "disposition"
        /// Milliseconds since the Unix epoch.
        public static let createdAt = "createdAt"
        /// The grow-only set of note texts; each element's dot and stamp say who added it and when.
        public static let notes = "notes"
    }

    /// The domain's conflict policies.
    ///
    /// - status shows the furthest stage of the lifecycle, voided over all;
    /// - disposition resolves safety-first: quarantine > dispose > recycle > return-to-vendor > repair >
    ///   repackage > restock > undecided;
    /// - every other field shows the value with the latest hybrid logical clock stamp.
    public static let policy = EntityPolicy(
        defaultPolicy: .latestStamp,
        fieldPolicies: [
            Field.status: .ranked(ReturnStatus.precedenceOrder.map { .string($0.rawValue) }),
            Field.disposition: .ranked(Disposition.safetyOrder.map { .string($0.rawValue) }),
        ]
    )

    /// The edit that records a newly captured return: every field it has, and its notes.
    public static func creationEdit(for item: ProductReturn) -> RecordEdit {
        var edit = RecordEdit()
        edit.set(Field.storeID, to: .string(item.storeID.rawValue))
        edit.set(Field.kioskID, to: .string(item.kioskID.rawValue))
        edit.set(Field.orderID, to: .string(item.orderID.rawValue))
        edit.set(Field.gtin, to: .string(item.gtin.digits))
        if let serial = item.serial { edit.set(Field.serial, to: .string(serial.rawValue)) }
        if let lot = item.lot { edit.set(Field.lot, to: .string(lot.rawValue)) }
        edit.set(Field.quantity, to: .integer(Int64(item.quantity)))
        edit.set(Field.reason, to: .string(item.reason.rawValue))
        edit.set(Field.createdAt, to: .integer(item.createdAt.millisecondsSince1970))
        edit.merge(
            Self.edit(
                for: ReturnUpdate(
                    status: item.status,
                    condition: item.condition,
                    testResult: item.testResult,
                    disposition: item.disposition,
                    addedNotes: item.notes.map(\.text)
                )
            )
        )
        return edit
    }

    /// The edit that records `update`: every field it wrote, and the notes it added.
    public static func edit(for update: ReturnUpdate) -> RecordEdit {
        var edit = RecordEdit()
        if let status = update.status { edit.set(Field.status, to: .string(status.rawValue)) }
        if let condition = update.condition { edit.set(Field.condition, to: .string(condition.rawValue)) }
        if let testResult = update.testResult { edit.set(Field.testResult, to: .string(testResult.rawValue)) }
        if let disposition = update.disposition { edit.set(Field.disposition, to: .string(disposition.rawValue)) }
        for text in update.addedNotes { edit.add(.string(text), to: Field.notes) }
        return edit
    }

    /// A new record holding `item`, written at `replica`.
    public static func makeRecord(
        for item: ProductReturn,
        by replica: ReplicaID,
        stamp: HLCTimestamp
    ) throws -> VersionedRecord {
        var record = VersionedRecord(entityType: entityType, id: item.id.rawValue)
        try record.apply(creationEdit(for: item), by: replica, stamp: stamp)
        return record
    }

    /// The wall-clock time of a stamp: when the write that carries it happened.
    static func date(of stamp: HLCTimestamp) -> Date {
        Date(millisecondsSince1970: Int64(stamp.physical))
    }
}

extension RecordEdit {
    /// Adds every assignment and addition of `other` to this edit.
    mutating func merge(_ other: RecordEdit) {
        assignments.merge(other.assignments) { _, new in new }
        additions.merge(other.additions) { $0 + $1 }
    }
}
