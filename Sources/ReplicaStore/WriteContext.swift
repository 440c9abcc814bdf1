import Foundation
import GRDB
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// Where a change came from, as the change log records it.
public enum ChangeOrigin: String, Sendable {
    /// An edit made on this replica.
    case local
    /// A version received from a peer and merged.
    case merge
    /// A record loaded by a bulk import.
    case `import`
}

/// The state of one write transaction: the connection, the replica's hybrid logical clock, and reusable coders.
struct WriteContext {
    let db: Database
    let store: ReplicaStore
    var hlc: HybridLogicalClock
    let wallClock: Date

    init(db: Database, store: ReplicaStore, hlc: HybridLogicalClock, wallClock: Date) {
        self.db = db
        self.store = store
        self.hlc = hlc
        self.wallClock = wallClock
    }

    var replicaID: ReplicaID { store.identity.replicaID }

    /// A new stamp from the replica's hybrid logical clock.
    mutating func stamp() -> HLCTimestamp {
        hlc.tick(wallClock: UInt64(max(0, wallClock.millisecondsSince1970)))
    }

    /// A new return id from a new stamp: ids made by this replica strictly increase.
    mutating func makeReturnID() -> (ReturnID, HLCTimestamp) {
        let stamp = stamp()
        return (ReturnID.make(milliseconds: stamp.physical, sequence: stamp.logical), stamp)
    }

    /// The stored version of a record, if any.
    func load(entityType: String, id: String) throws -> VersionedRecord? {
        let statement = try db.cachedStatement(sql: "SELECT record FROM records WHERE entity_type = ? AND id = ?")
        guard let json = try String.fetchOne(statement, arguments: [entityType, id]) else { return nil }
        return try ReplicaStore.decodeRecord(json)
    }

    /// Stores a new version of a record with its change-log entry and, for returns, its projection.
    ///
    /// - Returns: the change-log sequence number of the change.
    @discardableResult
    mutating func save(
        _ record: VersionedRecord,
        origin: ChangeOrigin,
        operation: String,
        dot: Dot?,
        item: ProductReturn? = nil
    ) throws -> Int64 {
        let clockJSON = record.clock.jsonString
        let recordJSON = record.jsonString
        let now = wallClock.millisecondsSince1970
        try db.cachedStatement(
            sql: """
                INSERT INTO change_log (entity_type, record_id, origin, operation, dot_replica, dot_counter, clock, recorded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            record.entityType, record.id, origin.rawValue, operation, dot?.replica.rawValue,
            dot.map { Int64($0.counter) }, clockJSON, now,
        ])
        let seq = db.lastInsertedRowID
        try db.cachedStatement(
            sql: """
                INSERT INTO records (entity_type, id, clock, record, change_seq) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (entity_type, id) DO UPDATE
                SET clock = excluded.clock, record = excluded.record, change_seq = excluded.change_seq
                """
        ).execute(arguments: [record.entityType, record.id, clockJSON, recordJSON, seq])
        if record.entityType == ReturnEntity.entityType {
            try project(
                item ?? ProductReturn(record: record),
                updatedAt: record.latestStamp.map { Int64($0.physical) },
                inConflict: !record.openConflicts(policy: ReturnEntity.policy).isEmpty
            )
        }
        return seq
    }

    /// Keeps the `returns` table in step with the visible state of a return.
    ///
    /// - Parameter updatedAt: the record's newest stamp, which is what `updatedAt` means for a stored return.
    private func project(_ item: ProductReturn, updatedAt: Int64?, inConflict: Bool) throws {
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO returns (id, store_id, kiosk_id, order_id, gtin, serial, lot, quantity, reason,
                    status, condition, test_result, disposition, needs_review, in_conflict, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            item.id.rawValue, item.storeID.rawValue, item.kioskID.rawValue, item.orderID.rawValue, item.gtin.digits,
            item.serial?.rawValue, item.lot?.rawValue, item.quantity, item.reason.rawValue, item.status.rawValue,
            item.condition.rawValue, item.testResult.rawValue, item.disposition.rawValue, item.needsReview,
            inConflict, item.createdAt.millisecondsSince1970,
            max(updatedAt ?? 0, item.createdAt.millisecondsSince1970),
        ])
    }

    /// Merges a version received from elsewhere, audits the conflicts the merge detected, and stores the result.
    ///
    /// A version already known changes nothing and writes nothing, which makes receiving it again harmless.
    @discardableResult
    mutating func merge(_ remote: VersionedRecord, origin: ChangeOrigin) throws -> MergeOutcome {
        if let stamp = remote.latestStamp { hlc.witness(stamp) }
        guard var local = try load(entityType: remote.entityType, id: remote.id) else {
            try save(remote, origin: origin, operation: "merge", dot: nil)
            let conflicts = remote.openConflicts(policy: ReturnEntity.policy)
            try audit(conflicts, in: remote)
            return MergeOutcome(changed: true, detectedConflicts: conflicts.map(\.field))
        }
        let outcome = try local.merge(remote)
        guard outcome.changed else { return outcome }
        try save(local, origin: origin, operation: "merge", dot: nil)
        let detected = Set(outcome.detectedConflicts)
        try audit(local.openConflicts(policy: ReturnEntity.policy).filter { detected.contains($0.field) }, in: local)
        return outcome
    }

    private func audit(_ conflicts: [FieldConflict], in record: VersionedRecord) throws {
        for conflict in conflicts {
            try db.cachedStatement(
                sql: """
                    INSERT INTO conflicts (entity_type, record_id, field, "values", winner, detected_at, detected_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                record.entityType, record.id, conflict.field,
                JSONValue.array(conflict.values.map(\.jsonValue)).serializedString,
                conflict.winner.jsonValue.serializedString,
                wallClock.millisecondsSince1970, replicaID.rawValue,
            ])
        }
    }
}
