import Foundation
import GRDB
import ReturnsModel
import ReturnsSync

/// A record the server refused for what it is, set aside on the kiosk.
public struct QuarantinedRecord: Hashable, Sendable {
    public var entityType: String
    public var recordID: String
    /// The protocol error code of the refusal, such as `forged-clock`.
    public var code: String
    /// The server's message.
    public var message: String
    public var quarantinedAt: Date

    /// Creates an entry.
    public init(entityType: String, recordID: String, code: String, message: String, quarantinedAt: Date) {
        self.entityType = entityType
        self.recordID = recordID
        self.code = code
        self.message = message
        self.quarantinedAt = quarantinedAt
    }
}

extension ReplicaStore {
    /// SQL true for a `change_log c` row whose record this replica still holds and has not set aside: a change a
    /// push can send. A record dropped from quarantine (deleted, its `quarantine` row kept as `dropped`) or pruned
    /// has no change left to send, whatever its entries say.
    static let pushableChange = """
        EXISTS (SELECT 1 FROM records held WHERE held.row = c.record_row
                AND NOT EXISTS (SELECT 1 FROM quarantine q
                                WHERE q.entity_type = held.entity_type AND q.record_id = held.id))
        """

    /// Sets record `recordID` aside: it is no longer pushed nor merged from pulls, and does not count as unsynced,
    /// so everything else keeps syncing. Setting aside a record set aside already updates the reason.
    ///
    /// A kiosk does this when the server refuses a pushed record with an error that resending cannot cure
    /// (`forged-clock`, `forbidden-store`, `forbidden-field`, `conflicting-write`, `invalid-record`,
    /// `limit-exceeded`).
    ///
    /// - Returns: whether the record was not set aside before.
    @discardableResult
    public func quarantine(
        entityType: String = ReturnEntity.entityType,
        recordID: String,
        code: String,
        message: String
    ) throws -> Bool {
        try write { context in
            let known =
                try Bool.fetchOne(
                    context.db,
                    sql: "SELECT EXISTS (SELECT 1 FROM quarantine WHERE entity_type = ? AND record_id = ?)",
                    arguments: [entityType, recordID]
                ) ?? false
            try Self.setAside(context.db, entityType, recordID, code: code, message: message, at: context.wallClock)
            return !known
        }
    }

    /// The records set aside, oldest first.
    public func quarantined() throws -> [QuarantinedRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM quarantine WHERE code != 'dropped' ORDER BY quarantined_at, record_id"
            ).map { row in
                QuarantinedRecord(
                    entityType: row["entity_type"],
                    recordID: row["record_id"],
                    code: row["code"],
                    message: row["message"],
                    quarantinedAt: Date(millisecondsSince1970: row["quarantined_at"])
                )
            }
        }
    }

    /// Deletes a record set aside from this replica, with its returns row and conflict audit: what an operator
    /// does once they know the record cannot be synced. If the server holds a version of it, a later change there
    /// brings that version back.
    ///
    /// - Throws: ``ReplicaStoreError`` with code `notFound` when `recordID` is not set aside.
    public func dropQuarantined(_ recordID: String, entityType: String = ReturnEntity.entityType) throws {
        try write { context in
            let db = context.db
            // The entry stays, marked dropped: the record's earlier changes in the log must still not count as
            // unsynced. A version pulled later lifts it (``mergePulled``).
            try db.execute(
                sql: """
                    UPDATE quarantine SET code = 'dropped', quarantined_at = ?
                    WHERE entity_type = ? AND record_id = ? AND code != 'dropped'
                    """,
                arguments: [context.wallClock.millisecondsSince1970, entityType, recordID]
            )
            guard db.changesCount > 0 else {
                throw ReplicaStoreError(code: .notFound, message: "record '\(recordID)' is not set aside")
            }
            try db.execute(
                sql: "DELETE FROM records WHERE entity_type = ? AND id = ?",
                arguments: [entityType, recordID]
            )
            try db.execute(
                sql: "DELETE FROM conflicts WHERE entity_type = ? AND record_id = ?",
                arguments: [entityType, recordID]
            )
            if entityType == ReturnEntity.entityType {
                try db.execute(sql: "DELETE FROM returns WHERE id = ?", arguments: [recordID])
                // Its photos are no longer named by it: not offered at every sync for a return the server never
                // took. Bytes another return names stay, and are still sent.
                try db.execute(sql: "DELETE FROM return_attachments WHERE return_id = ?", arguments: [recordID])
            }
        }
    }

    /// Records that a record is set aside (or updates why), within the caller's transaction.
    static func setAside(
        _ db: Database,
        _ entityType: String,
        _ recordID: String,
        code: String,
        message: String,
        at date: Date
    ) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO quarantine (entity_type, record_id, code, message, quarantined_at)
                VALUES (?, ?, ?, ?, ?)
                """,
            arguments: [entityType, recordID, code, message, date.millisecondsSince1970]
        )
    }

    /// Every record set aside, `ENTITY-TYPE/ID` → the code it was set aside with (`dropped` once an operator dropped
    /// it): read once per pulled batch, since the table is small and the batch large.
    static func quarantineCodes(_ db: Database) throws -> [String: String] {
        var codes: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT entity_type, record_id, code FROM quarantine") {
            codes["\(row["entity_type"] as String)/\(row["record_id"] as String)"] = row["code"]
        }
        return codes
    }
}
