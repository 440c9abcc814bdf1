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
        try write(.createRecall(campaign))
    }

    /// Closes a campaign: it no longer flags returns.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id.
    @discardableResult
    public func closeRecall(_ id: String) throws -> RecallCampaign {
        try RecallCampaign(record: write(.closeRecall(id)))
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
