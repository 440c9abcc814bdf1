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

/// Which returns a campaign reaching a replica may flag, written once for every backend.
public enum RecallSweep {
    /// The returns `campaign` may cover, oldest first — `id`, `gtin`, `lot`, `serial` — of one of its GTINs, not
    /// flagged by any campaign, not voided. Whether each matches (lot, serial) is
    /// ``ProductReturn/flagRecall(_:by:at:)``'s to decide.
    ///
    /// - Parameter kiosk: only the returns this kiosk captured — what a kiosk sweeps (see ``WriteContext``).
    public static func candidates(of campaign: RecallCampaign, capturedBy kiosk: KioskID? = nil) -> String {
        // GTINs are validated 14-digit strings and kiosk ids validated codes (letters, digits, '.', '_', '-'):
        // nothing that could end a quoted literal goes between the quotes.
        let gtins = campaign.gtins.map { "'\($0.digits)'" }.joined(separator: ", ")
        let byKiosk = kiosk.map { " AND kiosk_id = '\($0.rawValue)'" } ?? ""
        return """
            SELECT id, gtin, lot, serial FROM returns
            WHERE recall_campaign IS NULL AND status <> 'voided' AND gtin IN (\(gtins))\(byKiosk)
            ORDER BY created_at, id
            """
    }
}

extension WriteContext {
    /// Flags the returns held here that the campaigns `ids` cover, once they were merged: a campaign that reaches
    /// a replica finds the units captured before it, in the transaction that brought it. Called after a whole
    /// pulled page is merged, so HQ's own flags of those returns, later in the same feed, arrive first.
    mutating func flagReturns(underMerged ids: [String]) throws {
        for id in ids {
            guard let record = try load(entityType: RecallEntity.entityType, id: id) else { continue }
            try flagReturns(under: RecallCampaign(record: record))
        }
    }

    /// Flags every return held here that `campaign` covers (``ProductReturn/flagRecall(_:by:at:)``), each as one
    /// local edit; at HQ the purchases of the flagged returns are verified again (a certain recall waives the
    /// purchase checks).
    ///
    /// HQ sweeps every return it holds; a kiosk only those it captured itself. HQ already swept every return it held
    /// when the campaign was created, and a kiosk always pulls after pushing, so each capture is found by HQ or by
    /// its own kiosk — while a kiosk sweeping its store's other kiosks' returns would flag, concurrently with them,
    /// the very returns they flag.
    ///
    /// - Returns: the returns flagged.
    /// - Parameter operatorID: who created the campaign (at HQ), recorded with each flag.
    @discardableResult
    mutating func flagReturns(under campaign: RecallCampaign, operatorID: OperatorID? = nil) throws -> [ProductReturn] {
        guard campaign.status == .open else { return [] }
        var flagged: [ProductReturn] = []
        try writeHeldProjections()  // it reads the projection
        let sql = RecallSweep.candidates(of: campaign, capturedBy: store.identity.kioskID)
        for id in try String.fetchAll(db, sql: sql) {  // the first column
            guard var record = try load(entityType: ReturnEntity.entityType, id: id),
                try record.flagRecall(
                    campaign,
                    by: replicaID,
                    operatorID: operatorID,
                    stamp: { try self.stamp() }
                ) != nil  // nil: the return was left as it was
            else { continue }
            let item = try ProductReturn(record: record)
            try save(record, origin: .local, operation: "recall-found", item: item)
            flagged.append(item)
        }
        if store.identity.role == .server, !flagged.isEmpty {
            try reverifySharingPurchase(with: flagged.map(ReturnFacts.init))
        }
        return flagged
    }
}
