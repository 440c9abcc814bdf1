import Foundation
import GRDB

/// A server database's state apart from its records, read in one transaction: what another storage needs to take
/// the server over (`returns-server migrate`) with its kiosks carrying on as if nothing happened.
public struct ServerExport: Sendable {
    /// An enrollment token as stored: its hash and the public key it derives, never the secret.
    public struct Enrollment: Sendable, Hashable {
        public var tokenHash: String
        public var storeID: String
        public var kioskID: String
        public var tokenKey: Data
        public var createdAt: Date
        public var expiresAt: Date
        public var usedAt: Date?
        public var revokedAt: Date?
    }

    /// One entry of the conflict audit.
    public struct Conflict: Sendable, Hashable {
        public var entityType: String
        public var recordID: String
        /// The store of the record, when the server holds it.
        public var storeID: String?
        public var field: String
        /// The values, their dots and stamps, as the JSON text the audit stores.
        public var values: String
        public var winner: String
        public var detectedAt: Date
        public var detectedBy: String
    }

    /// The server's replica id now (`hq`, or `hq.r2` after a restore): kiosks know it, and would re-send everything
    /// to a server answering under another.
    public var replicaID: String
    /// The server's Ed25519 identity seed and when it was made, if one was: kiosks pin its public key.
    public var identitySeed: Data?
    public var identityCreatedAt: Date?
    /// The ids the server had before restores, with when each was retired.
    public var formerServerIDs: [(id: String, retiredAt: Date)]
    public var kiosks: [KioskEnrollment]
    /// Tokens that can still be told apart: those from before token keys (the server's first versions) cannot be
    /// redeemed any more and are left out, counted in ``unusableEnrollments``.
    public var enrollments: [Enrollment]
    public var unusableEnrollments: Int
    public var conflicts: [Conflict]
    /// How many records of each entity type the server holds.
    public var recordCounts: [String: Int]
    /// The newest change's sequence number: kiosks' pull cursors are at most this.
    public var lastChangeSeq: Int64
    /// Attachments' bytes received, in all: a copy compares it before and after, since kiosks sending photos write no
    /// change.
    public var attachmentBytesHeld: Int64 = 0
    /// Step writes kept for the EPCIS export ([SupersededStep]).
    public var supersededSteps = 0
}

/// A stored record with its place in the change log, as ``ReplicaStore/exportedRecords(after:limit:)`` reads them.
public struct ExportedRecord: Sendable, Hashable {
    public var entityType: String
    public var id: String
    /// The store the record belongs to; `nil` for recalls and policies, which every store receives.
    public var storeID: String?
    /// The record's JSON form, as stored.
    public var json: String
    /// The change that wrote this version: its position in every store's feed.
    public var changeSeq: Int64
    /// The kiosk whose push stored exactly this version, so its feed leaves it out.
    public var source: String?
}

extension ReplicaStore {
    /// Everything but the records, in one read transaction.
    ///
    /// - Throws: ``ReplicaStoreError`` when this is not a server's database.
    public func serverExport() throws -> ServerExport {
        guard identity.role == .server else {
            throw ReplicaStoreError(
                code: .wrongStore,
                message: "\(path) is a kiosk database (\(identity.replicaID)), not a server's"
            )
        }
        return try read { db in
            let identityRow = try Row.fetchOne(db, sql: "SELECT seed, created_at FROM server_identity")
            let former = try Row.fetchAll(
                db,
                sql: "SELECT replica_id, retired_at FROM former_server_ids ORDER BY retired_at, replica_id"
            ).map { (id: $0["replica_id"] as String, retiredAt: Date(millisecondsSince1970: $0["retired_at"])) }
            let kiosks = try Row.fetchAll(db, sql: "SELECT * FROM kiosks ORDER BY replica_id").map(
                Self.enrollment(from:)
            )
            var unusable = 0
            var enrollments: [ServerExport.Enrollment] = []
            for row in try Row.fetchAll(db, sql: "SELECT * FROM enrollments ORDER BY created_at, token_hash") {
                guard let key = row["token_key"] as Data?, let expires = row["expires_at"] as Int64? else {
                    unusable += 1
                    continue
                }
                enrollments.append(
                    ServerExport.Enrollment(
                        tokenHash: row["token_hash"],
                        storeID: row["store_id"],
                        kioskID: row["kiosk_id"],
                        tokenKey: key,
                        createdAt: Date(millisecondsSince1970: row["created_at"]),
                        expiresAt: Date(millisecondsSince1970: expires),
                        usedAt: (row["used_at"] as Int64?).map(Date.init(millisecondsSince1970:)),
                        revokedAt: (row["revoked_at"] as Int64?).map(Date.init(millisecondsSince1970:))
                    )
                )
            }
            let conflicts = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.*, r.store_id FROM conflicts c
                    LEFT JOIN records r ON r.entity_type = c.entity_type AND r.id = c.record_id
                    ORDER BY c.id
                    """
            ).map { row in
                ServerExport.Conflict(
                    entityType: row["entity_type"],
                    recordID: row["record_id"],
                    storeID: row["store_id"],
                    field: row["field"],
                    values: row["values"],
                    winner: row["winner"],
                    detectedAt: Date(millisecondsSince1970: row["detected_at"]),
                    detectedBy: row["detected_by"]
                )
            }
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT entity_type, count(*) AS n FROM records GROUP BY entity_type")
            {
                counts[row["entity_type"]] = row["n"]
            }
            var export = ServerExport(
                replicaID: identity.replicaID.rawValue,
                identitySeed: identityRow?["seed"],
                identityCreatedAt: (identityRow?["created_at"] as Int64?).map(Date.init(millisecondsSince1970:)),
                formerServerIDs: former,
                kiosks: kiosks,
                enrollments: enrollments,
                unusableEnrollments: unusable,
                conflicts: conflicts,
                recordCounts: counts,
                lastChangeSeq: try Int64.fetchOne(db, sql: "SELECT max(seq) FROM change_log") ?? 0
            )
            export.attachmentBytesHeld =
                try Int64.fetchOne(db, sql: "SELECT coalesce(sum(held), 0) FROM attachment_uploads") ?? 0
            export.supersededSteps = try Int.fetchOne(db, sql: "SELECT count(*) FROM superseded_steps") ?? 0
            return export
        }
    }

    /// What the server holds of each attachment's bytes, by digest: size, bytes held, when complete (milliseconds).
    public func exportedAttachmentUploads() throws -> [(digest: String, size: Int64, held: Int64, completeAt: Int64?)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT digest, size, held, complete_at FROM attachment_uploads ORDER BY digest")
                .map { ($0["digest"], $0["size"], $0["held"], $0["complete_at"]) }
        }
    }

    /// Up to `limit` chunks of attachments' bytes after the chunk at (`digest`, `offset`), in that order: read page
    /// by page so a copy holds a few chunks at a time, never every photo.
    public func exportedAttachmentChunks(
        after position: (digest: String, offset: Int64)?,
        limit: Int
    ) throws -> [(digest: String, offset: Int64, data: Data)] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT digest, byte_offset, data FROM attachment_chunks
                    WHERE (digest, byte_offset) > (?, ?) ORDER BY digest, byte_offset LIMIT ?
                    """,
                arguments: [position?.digest ?? "", position?.offset ?? -1, limit]
            ).map { ($0["digest"], $0["byte_offset"], $0["data"]) }
        }
    }

    /// Up to `limit` return ids after `id` that have superseded steps, in id order.
    public func returnsWithSupersededSteps(after id: String, limit: Int) throws -> [String] {
        try read { db in
            try String.fetchAll(
                db,
                sql: "SELECT DISTINCT return_id FROM superseded_steps WHERE return_id > ? ORDER BY return_id LIMIT ?",
                arguments: [id, limit]
            )
        }
    }

    /// Up to `limit` stored records whose current version was written after change `seq` and at or before change
    /// `last`, in change order: read page by page (`after` the last one's ``ExportedRecord/changeSeq``) so a large
    /// server is never held in memory, and a copy ends at the change it started from however busy the server is.
    public func exportedRecords(after seq: Int64, through last: Int64, limit: Int) throws -> [ExportedRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT rec.entity_type, rec.id, rec.store_id, rec.record, rec.change_seq, c.source
                    FROM records rec JOIN change_log c ON c.seq = rec.change_seq
                    WHERE rec.change_seq > ? AND rec.change_seq <= ? ORDER BY rec.change_seq LIMIT ?
                    """,
                arguments: [seq, last, limit]
            ).map { row in
                ExportedRecord(
                    entityType: row["entity_type"],
                    id: row["id"],
                    storeID: row["store_id"],
                    json: row["record"],
                    changeSeq: row["change_seq"],
                    source: row["source"]
                )
            }
        }
    }
}
