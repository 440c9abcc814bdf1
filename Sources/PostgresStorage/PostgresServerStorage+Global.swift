import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine

extension PostgresServerStorage: ReferenceAdministration {
    /// Applies an HQ edit of a record every store receives: stored once (store `''`), and placed in every store's
    /// feed at once — no store's push runs meanwhile (the global feed lock), so each feed gets it at its next
    /// position, and a store's first write later starts its feed with it.
    @discardableResult
    public func write(_ edit: GlobalEdit) async throws -> VersionedRecord {
        let logger = self.logger
        let serverID = serverReplicaID
        return try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.globalFeedLock))", logger: logger)
            var stored: VersionedRecord?
            for try await (json) in try await connection.query(
                """
                SELECT record FROM records WHERE store_id = '' AND entity_type = \(edit.entityType) AND id = \(edit.id)
                FOR UPDATE
                """,
                logger: logger
            ).decode(String.self) { stored = try VersionedRecord(jsonValue: JSONValue.parse(json)) }
            var clock = try await Self.hqClock(on: connection, logger: logger)
            if let newest = stored?.latestStamp { clock.witness(newest) }
            let record = try edit.apply(stored, serverID) {
                try clock.tick(wallClock: UInt64(max(0, Date().millisecondsSince1970)))
            }
            try await Self.saveClock(clock, on: connection, logger: logger)
            try await Self.store(record, of: "", on: connection, logger: logger)
            if edit.entityType == RecallEntity.entityType {
                try await Self.flagReturns(
                    under: RecallCampaign(record: record),
                    operatorID: edit.operatorID,
                    on: connection,
                    serverID: serverID,
                    logger: logger
                )
            }
            return record
        }
    }

    /// Flags every return HQ holds that a new campaign covers, as the SQLite store does: each an HQ edit in its
    /// store's feed, in the campaign's transaction; then the purchases of the flagged returns are verified again.
    static func flagReturns(
        under campaign: RecallCampaign,
        operatorID: OperatorID?,
        on connection: PostgresConnection,
        serverID: ReplicaID,
        logger: Logger
    ) async throws {
        guard campaign.status == .open else { return }
        var candidates: [ReturnID] = []
        for try await (id, gtin, lot, serial) in try await connection.query(
            PostgresQuery(unsafeSQL: RecallSweep.candidates(of: campaign)),
            logger: logger
        ).decode((String, String, String?, String?).self) {
            // Only units that match get an edit: hqEdit stores what it loads.
            guard
                campaign.match(
                    gtin: try GTIN(stored: gtin),
                    lot: try lot.map { try ItemCode($0, kind: "lot") },
                    serial: try serial.map { try ItemCode($0, kind: "serial") }
                ) != nil
            else { continue }
            candidates.append(try ReturnID(id))
        }
        var flagged: [ReturnFacts] = []
        for id in candidates {
            let (dot, item) = try await hqEdit(id, on: connection, serverID: serverID, logger: logger) {
                record,
                replica,
                stamp in
                try record.flagRecall(campaign, by: replica, operatorID: operatorID, stamp: stamp)
            }
            if dot != nil { flagged.append(ReturnFacts(item)) }
        }
        guard !flagged.isEmpty else { return }
        try await reverify(sharingPurchaseWith: flagged, on: connection, serverID: serverID, logger: logger)
    }

    public func returnPolicies() async throws -> [ReturnPolicy] {
        let rows = try await readReport([
            "policies": "SELECT record FROM records WHERE store_id = '' AND entity_type = 'policy' ORDER BY id"
        ])
        return try (rows["policies"] ?? []).compactMap {
            try PolicyEntity.returnPolicy(from: VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? "")))
        }
    }

    public func storeRecords() async throws -> [VersionedRecord] {
        let rows = try await readReport([
            "stores": "SELECT record FROM records WHERE store_id = '' AND entity_type = 'store' ORDER BY id"
        ])
        return try (rows["stores"] ?? []).map {
            try VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? ""))
        }
    }

    /// Stores HQ's clock after an edit took its stamps.
    static func saveClock(_ clock: HybridLogicalClock, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            UPDATE server_identity SET hlc_physical = \(Int64(clock.latest.physical)),
                hlc_logical = \(Int64(clock.latest.logical))
            """,
            logger: logger
        )
    }
}
