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
            return record
        }
    }

    public func returnPolicies() async throws -> [ReturnPolicy] {
        let rows = try await readReport([
            "policies": "SELECT record FROM records WHERE store_id = '' AND entity_type = 'policy' ORDER BY id"
        ])
        return try (rows["policies"] ?? []).compactMap {
            try PolicyEntity.returnPolicy(from: VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? "")))
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
