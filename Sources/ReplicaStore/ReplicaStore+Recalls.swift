import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

extension ReplicaStore {
    /// Records a new recall campaign at this replica (the server: HQ creates campaigns).
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/alreadyInitialized`` when a campaign with this id exists.
    public func createRecall(_ campaign: RecallCampaign) throws {
        try write { context in
            guard try context.load(entityType: RecallEntity.entityType, id: campaign.id) == nil else {
                throw ReplicaStoreError(code: .alreadyInitialized, message: "recall \(campaign.id) already exists")
            }
            let stamp = try context.stamp()
            let record = try RecallEntity.makeRecord(for: campaign, by: context.replicaID, stamp: stamp)
            let dot = try Dot(replica: context.replicaID, counter: record.clock[context.replicaID])
            try context.save(record, origin: .local, operation: "recall", dot: dot)
        }
    }

    /// Closes a campaign: it no longer flags returns.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id.
    @discardableResult
    public func closeRecall(_ id: String) throws -> RecallCampaign {
        try write { context in
            guard var record = try context.load(entityType: RecallEntity.entityType, id: id) else {
                throw ReplicaStoreError(code: .notFound, message: "no recall with id \(id)")
            }
            let dot = try record.apply(RecallEntity.closingEdit, by: context.replicaID, stamp: try context.stamp())
            try context.save(record, origin: .local, operation: "close-recall", dot: dot)
            return try RecallCampaign(record: record)
        }
    }

    /// Every recall campaign this replica knows, by id.
    public func recalls() throws -> [RecallCampaign] {
        let rows = try read { db in
            try String.fetchAll(
                db,
                sql: "SELECT record FROM records WHERE entity_type = ? ORDER BY id",
                arguments: [RecallEntity.entityType]
            )
        }
        return try rows.map { try RecallCampaign(record: Self.decodeRecord($0)) }
    }
}
