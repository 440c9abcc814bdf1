import Foundation
import ReturnsModel
import ReturnsSync
import SyncEngine

/// An HQ edit of a record every store receives — a recall campaign, a return policy — written once for every
/// server backend: each loads the stored version, applies this, and stores the result in one transaction.
public struct GlobalEdit: Sendable {
    /// What the edit did, for the change log.
    public let operation: String
    public let entityType: String
    public let id: String
    /// The new version from the stored one (`nil`: none yet), written by `replica` with a stamp from `stamp`.
    public let apply:
        @Sendable (_ stored: VersionedRecord?, _ replica: ReplicaID, _ stamp: () throws -> HLCTimestamp) throws ->
            VersionedRecord
    /// Who made the edit: recorded on the returns it changes (a campaign's flags); `nil`: not said.
    public private(set) var operatorID: OperatorID?

    init(
        operation: String,
        entityType: String,
        id: String,
        apply: @escaping @Sendable (VersionedRecord?, ReplicaID, () throws -> HLCTimestamp) throws -> VersionedRecord
    ) {
        self.operation = operation
        self.entityType = entityType
        self.id = id
        self.apply = apply
    }

    /// This edit, made by `operatorID`.
    public func operated(by operatorID: OperatorID?) -> GlobalEdit {
        var edit = self
        edit.operatorID = operatorID
        return edit
    }

    /// Creates a recall campaign.
    ///
    /// - Throws (when applied): ``ReplicaStoreError/Code-swift.struct/alreadyInitialized`` when one with this id
    ///   exists.
    public static func createRecall(_ campaign: RecallCampaign) -> GlobalEdit {
        GlobalEdit(operation: "recall", entityType: RecallEntity.entityType, id: campaign.id) {
            stored,
            replica,
            stamp in
            guard stored == nil else {
                throw ReplicaStoreError(code: .alreadyInitialized, message: "recall \(campaign.id) already exists")
            }
            return try RecallEntity.makeRecord(for: campaign, by: replica, stamp: stamp())
        }
    }

    /// Closes a campaign: it no longer flags returns.
    ///
    /// - Throws (when applied): ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id.
    public static func closeRecall(_ id: String) -> GlobalEdit {
        GlobalEdit(operation: "close-recall", entityType: RecallEntity.entityType, id: id) { stored, replica, stamp in
            guard var record = stored else {
                throw ReplicaStoreError(code: .notFound, message: "no recall with id \(id)")
            }
            _ = try record.apply(RecallEntity.closingEdit, by: replica, stamp: stamp())
            return record
        }
    }

    /// Sets a return policy (replacing the one for the same store and GTIN prefix).
    public static func setPolicy(_ policy: ReturnPolicy) -> GlobalEdit {
        GlobalEdit(operation: "policy", entityType: PolicyEntity.entityType, id: policy.recordID) {
            stored,
            replica,
            stamp in
            var record = stored ?? VersionedRecord(entityType: PolicyEntity.entityType, id: policy.recordID)
            _ = try record.apply(PolicyEntity.edit(for: policy), by: replica, stamp: stamp())
            return record
        }
    }

    /// Sets a store's settings: its time zone (where its days begin in reports, searches and return windows), its
    /// GLN, how long its kiosks keep closed and voided returns (checked by ``StoreEntity/validatedRetention(_:)``
    /// before), or several (what is `nil` is left as it is).
    public static func setStore(
        _ store: StoreID,
        timeZone: StoreTimeZone? = nil,
        gln: GLN? = nil,
        retentionDays: Int? = nil
    ) -> GlobalEdit {
        GlobalEdit(operation: "store", entityType: StoreEntity.entityType, id: store.rawValue) {
            stored,
            replica,
            stamp in
            var record = stored ?? VersionedRecord(entityType: StoreEntity.entityType, id: store.rawValue)
            _ = try record.apply(
                StoreEntity.edit(timeZone: timeZone, gln: gln, retentionDays: retentionDays),
                by: replica,
                stamp: stamp()
            )
            return record
        }
    }

    /// Removes the policy for `store` (`nil`: every store) and `gtinPrefix`: the next more general one applies.
    ///
    /// - Throws: ``ReturnsModelError`` for an invalid store or prefix; when applied,
    ///   ``ReplicaStoreError/Code-swift.struct/notFound`` when no such policy is set.
    public static func removePolicy(store: StoreID?, gtinPrefix: String) throws -> GlobalEdit {
        let id = try ReturnPolicy.validated(
            store: store,
            gtinPrefix: gtinPrefix,
            windowDays: 0,
            receiptRequired: false
        ).recordID
        return GlobalEdit(operation: "remove-policy", entityType: PolicyEntity.entityType, id: id) {
            stored,
            replica,
            stamp in
            guard var record = stored, try PolicyEntity.returnPolicy(from: record) != nil else {
                throw ReplicaStoreError(code: .notFound, message: "no return policy '\(id)' is set")
            }
            _ = try record.apply(PolicyEntity.removalEdit, by: replica, stamp: stamp())
            return record
        }
    }
}

extension ReplicaStore {
    /// Applies a global edit as one local edit of this replica.
    @discardableResult
    public func write(_ edit: GlobalEdit) throws -> VersionedRecord {
        try write { context in
            let stored = try context.load(entityType: edit.entityType, id: edit.id)
            let record = try edit.apply(stored, context.replicaID) { try context.stamp() }
            try context.save(record, origin: .local, operation: edit.operation)
            if edit.entityType == RecallEntity.entityType {
                try context.flagReturns(under: RecallCampaign(record: record), operatorID: edit.operatorID)
            }
            return record
        }
    }
}
