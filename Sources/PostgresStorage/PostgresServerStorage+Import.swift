import Foundation
import HQAccess
import Logging
import PostgresNIO
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What ``PostgresServerStorage/importServer(from:progress:)`` copied.
public struct PostgresImportSummary: Sendable, Hashable {
    public var serverID: String
    public var returns: Int
    public var orderLines: Int
    public var recalls: Int
    public var policies: Int
    public var kiosks: Int
    public var enrollments: Int
    /// Enrollment tokens from the SQLite server's first versions, which no kiosk can redeem any more: not copied.
    public var unusableEnrollments: Int
    public var conflicts: Int
    public var formerServerIDs: Int
    public var stores: Int
    /// The SQLite server's last change: every store's feed continues after it, so no kiosk's cursor points past it.
    public var lastChangeSeq: Int64
}

extension PostgresServerStorage {
    /// Records copied per statement: large enough that a million records are a thousand round trips.
    static let importPage = 1_000

    /// Copies a SQLite server's database into this one — identity, former ids, kiosks, enrollment tokens, returns,
    /// order lines, recalls and policies in change order, the conflict audit — in one transaction: all of it or, on
    /// any error, nothing.
    ///
    /// Kiosks carry on as if the server had not moved: the server keeps its replica id and identity key (no
    /// re-enrollment, no full re-sync), and every store's feed keeps the SQLite change sequence as its positions and
    /// continues after the last one, so a kiosk's pull cursor means the same here.
    ///
    /// - Throws: ``PostgresStorageError`` when this database already holds a server (records, kiosks, tokens or an
    ///   identity key), when the SQLite server holds records of a kind this version does not know, or when the
    ///   SQLite server changed during the copy (it must not be serving).
    public func importServer(
        from source: ReplicaStore,
        progress: @escaping @Sendable (_ copied: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws -> PostgresImportSummary {
        let export = try source.serverExport()
        let global: Set<String> = [RecallEntity.entityType, PolicyEntity.entityType, StoreEntity.entityType]
        let kept = global.union([ReturnEntity.entityType, OrderEntity.entityType])
        let others = export.recordCounts.filter { !kept.contains($0.key) && $0.value > 0 }
        if !others.isEmpty {
            let listed = others.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key) records" }
            throw PostgresStorageError(
                "the SQLite server holds \(listed.joined(separator: ", ")), which this version cannot store on "
                    + "PostgreSQL: nothing was copied rather than leave them behind"
            )
        }
        let total = export.recordCounts.filter { kept.contains($0.key) }.values.reduce(0, +)
        let logger = self.logger
        let url = self.url
        return try await transaction { connection in
            for try await (used) in try await connection.query(
                """
                SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM kiosks)
                    + (SELECT count(*) FROM enrollments) + (SELECT count(*) FROM server_identity WHERE seed IS NOT NULL)
                """,
                logger: logger
            ).decode(Int.self) where used > 0 {
                throw PostgresStorageError(
                    "\(url) already holds a server (records, kiosks, enrollment tokens or an identity key): "
                        + "migrate copies into an empty database only"
                )
            }
            try await connection.query(
                """
                UPDATE server_identity SET replica_id = \(export.replicaID), seed = \(export.identitySeed),
                    created_at = coalesce(\(export.identityCreatedAt), created_at)
                """,
                logger: logger
            )
            if !export.formerServerIDs.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO former_server_ids (replica_id, retired_at)
                    SELECT * FROM unnest(\(export.formerServerIDs.map(\.id))::text[],
                        \(export.formerServerIDs.map(\.retiredAt))::timestamptz[])
                    """,
                    logger: logger
                )
            }
            try await Self.copyKiosks(export, into: connection, logger: logger)
            // Pages in change order, each one statement per table.
            var stores = Set(export.kiosks.map(\.storeID)).union(export.enrollments.map(\.storeID))
            var after: Int64 = 0
            var copied = 0
            var globalRecords: [ExportedRecord] = []
            var orderLines = 0
            while true {
                let all = try source.exportedRecords(
                    after: after,
                    through: export.lastChangeSeq,
                    limit: Self.importPage
                )
                guard let last = all.last else { break }
                after = last.changeSeq
                // Anything else was refused above; a record of another kind arriving means the server is live.
                guard
                    all.allSatisfy({
                        kept.contains($0.entityType) && (($0.storeID == nil) == global.contains($0.entityType))
                    })
                else { throw PostgresStorageError.changedDuringImport }
                // Recalls and policies: stored once, placed in every store's feed below.
                let globals = all.filter { global.contains($0.entityType) }
                globalRecords += globals
                if !globals.isEmpty {
                    try await connection.query(
                        """
                        INSERT INTO records (store_id, entity_type, id, record)
                        SELECT '', r.entity_type, r.id, r.record
                        FROM unnest(\(globals.map(\.entityType))::text[], \(globals.map(\.id))::text[],
                            \(globals.map(\.json))::text[]) AS r(entity_type, id, record)
                        """,
                        logger: logger
                    )
                }
                // Returns and order lines: each in its store's feed.
                let page = all.filter { !global.contains($0.entityType) }
                if page.isEmpty {
                    copied += globals.count
                    progress(copied, total)
                    continue
                }
                let storeIDs = page.map { $0.storeID! }
                stores.formUnion(storeIDs)
                let ids = page.map(\.id)
                // Each with its place in its store's feed: the SQLite server's position of its last change.
                try await connection.query(
                    """
                    INSERT INTO records (store_id, entity_type, id, record, seq, source)
                    SELECT r.store_id, r.entity_type, r.id, r.record, r.seq, nullif(r.source, '')
                    FROM unnest(\(storeIDs)::text[], \(page.map(\.entityType))::text[], \(ids)::text[],
                        \(page.map(\.json))::text[], \(page.map(\.changeSeq))::bigint[],
                        \(page.map { $0.source ?? "" })::text[]) AS r(store_id, entity_type, id, record, seq, source)
                    """,
                    logger: logger
                )
                let records = try page.map { try VersionedRecord(jsonValue: JSONValue.parse($0.json)) }
                try await Self.project(
                    records.filter { $0.entityType == ReturnEntity.entityType }.map {
                        (try ProductReturn(record: $0), $0)
                    },
                    on: connection,
                    logger: logger
                )
                try await Self.projectOrders(
                    records.filter { $0.entityType == OrderEntity.entityType }.map(OrderLine.init(record:)),
                    on: connection,
                    logger: logger
                )
                orderLines += records.filter { $0.entityType == OrderEntity.entityType }.count
                copied += page.count + globals.count
                progress(copied, total)
            }
            // Every store's feed goes on after the SQLite server's last change: a kiosk's cursor there may be as far
            // as that change (a pull ends at the newest change, whichever store it was of).
            try await connection.query(
                """
                INSERT INTO feed_heads (store_id, last_seq)
                SELECT s, \(export.lastChangeSeq) FROM unnest(\(stores.sorted())::text[]) AS s
                """,
                logger: logger
            )
            if !globalRecords.isEmpty {
                // At their SQLite positions, in every store's feed: a kiosk that pulled them has a cursor past them.
                try await connection.query(
                    """
                    INSERT INTO global_feed (store_id, seq, entity_type, id)
                    SELECT s, g.seq, g.entity_type, g.id
                    FROM unnest(\(stores.sorted())::text[]) AS s
                    CROSS JOIN unnest(\(globalRecords.map(\.changeSeq))::bigint[],
                        \(globalRecords.map(\.entityType))::text[], \(globalRecords.map(\.id))::text[]) AS g(seq, entity_type, id)
                    """,
                    logger: logger
                )
            }
            try await Self.copyConflicts(export, into: connection, logger: logger)
            try await Self.copyAttachments(from: source, into: connection, logger: logger)
            try await Self.copySupersededSteps(from: source, into: connection, logger: logger)
            try await Self.copyHQUsers(from: source, into: connection, logger: logger)
            // Read again before committing: a server that changed meanwhile would be copied in part, and its kiosks
            // would believe a server that lost their last pushes. Nothing is kept then.
            let now = try source.serverExport()
            guard now.lastChangeSeq == export.lastChangeSeq, now.kiosks == export.kiosks,
                now.enrollments == export.enrollments, now.attachmentBytesHeld == export.attachmentBytesHeld,
                now.supersededSteps == export.supersededSteps
            else { throw PostgresStorageError.changedDuringImport }
            return PostgresImportSummary(
                serverID: export.replicaID,
                returns: copied - globalRecords.count - orderLines,
                orderLines: orderLines,
                recalls: globalRecords.filter { $0.entityType == RecallEntity.entityType }.count,
                policies: globalRecords.filter { $0.entityType == PolicyEntity.entityType }.count,
                kiosks: export.kiosks.count,
                enrollments: export.enrollments.count,
                unusableEnrollments: export.unusableEnrollments,
                conflicts: export.conflicts.count,
                formerServerIDs: export.formerServerIDs.count,
                stores: stores.count,
                lastChangeSeq: export.lastChangeSeq
            )
        }
    }

    private static func copyKiosks(
        _ export: ServerExport,
        into connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let kiosks = export.kiosks
        if !kiosks.isEmpty {
            try await connection.query(
                """
                INSERT INTO kiosks (
                    store_id, kiosk_id, public_key, enrolled_at, last_sync_at, revoked_at, protocol_version
                )
                SELECT k.store_id, k.kiosk_id, decode(k.public_key, 'hex'), k.enrolled_at, \(unescaped: at("k.synced")),
                    \(unescaped: at("k.revoked")), nullif(k.protocol_version, -1)
                FROM unnest(\(kiosks.map(\.storeID))::text[], \(kiosks.map(\.kioskID))::text[],
                    \(kiosks.map { hex($0.publicKey) })::text[], \(kiosks.map(\.enrolledAt))::timestamptz[],
                    \(kiosks.map { milliseconds($0.lastSyncAt) })::bigint[],
                    \(kiosks.map { milliseconds($0.revokedAt) })::bigint[],
                    \(kiosks.map { Int32($0.protocolVersion ?? -1) })::integer[])
                    AS k(store_id, kiosk_id, public_key, enrolled_at, synced, revoked, protocol_version)
                """,
                logger: logger
            )
        }
        let tokens = export.enrollments
        if !tokens.isEmpty {
            try await connection.query(
                """
                INSERT INTO enrollments
                    (store_id, kiosk_id, token_hash, token_key, created_at, expires_at, used_at, revoked_at)
                SELECT t.store_id, t.kiosk_id, t.token_hash, decode(t.token_key, 'hex'), t.created_at, t.expires_at,
                    \(unescaped: at("t.used")), \(unescaped: at("t.revoked"))
                FROM unnest(\(tokens.map(\.storeID))::text[], \(tokens.map(\.kioskID))::text[],
                    \(tokens.map(\.tokenHash))::text[], \(tokens.map { hex($0.tokenKey) })::text[],
                    \(tokens.map(\.createdAt))::timestamptz[], \(tokens.map(\.expiresAt))::timestamptz[],
                    \(tokens.map { milliseconds($0.usedAt) })::bigint[],
                    \(tokens.map { milliseconds($0.revokedAt) })::bigint[])
                    AS t(store_id, kiosk_id, token_hash, token_key, created_at, expires_at, used, revoked)
                """,
                logger: logger
            )
        }
    }

    // PostgresNIO encodes neither arrays of bytes nor arrays with NULLs: keys go as hex text, optional instants as
    // milliseconds since the epoch with -1 for none.

    private static func hex(_ data: Data) -> String {
        data.map { String(format: "%02x", $0) }.joined()
    }

    private static func milliseconds(_ date: Date?) -> Int64 {
        date.map { max(0, $0.millisecondsSince1970) } ?? -1
    }

    /// SQL for the instant of the milliseconds column `column`, NULL for -1.
    private static func at(_ column: String) -> String {
        "('epoch'::timestamptz + nullif(\(column), -1) * interval '1 millisecond')"
    }

    /// Attachments' bytes, a few chunks at a time, and what is held of each.
    private static func copyAttachments(
        from source: ReplicaStore,
        into connection: PostgresConnection,
        logger: Logger
    ) async throws {
        for upload in try source.exportedAttachmentUploads() {
            let completed = upload.completeAt.map { Date(millisecondsSince1970: $0) }
            try await connection.query(
                """
                INSERT INTO attachment_uploads (digest, size, held, complete_at)
                VALUES (\(upload.digest), \(upload.size), \(upload.held), \(completed))
                """,
                logger: logger
            )
        }
        var after: (digest: String, offset: Int64)?
        while true {
            let chunks = try source.exportedAttachmentChunks(after: after, limit: 8)
            guard let last = chunks.last else { return }
            after = (last.digest, last.offset)
            for chunk in chunks {
                try await connection.query(
                    """
                    INSERT INTO attachment_chunks (digest, byte_offset, data)
                    VALUES (\(chunk.digest), \(chunk.offset), \(chunk.data))
                    """,
                    logger: logger
                )
            }
        }
    }

    /// The step writes kept for the EPCIS export, a page of returns at a time.
    private static func copySupersededSteps(
        from source: ReplicaStore,
        into connection: PostgresConnection,
        logger: Logger
    ) async throws {
        var after = ""
        while true {
            let ids = try source.returnsWithSupersededSteps(after: after, limit: importPage)
            guard let last = ids.last else { return }
            after = last
            try await keep(try source.supersededSteps(of: ids).values.flatMap { $0 }, on: connection, logger: logger)
        }
    }

    /// HQ's console users and their audit, the audit in its order.
    private static func copyHQUsers(
        from source: ReplicaStore,
        into connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let users = try source.hqUsers()
        if !users.isEmpty {
            try await connection.query(
                """
                INSERT INTO hq_users (name, role, password_hash, created_at, password_changed_at)
                SELECT * FROM unnest(\(users.map(\.name.rawValue))::text[], \(users.map(\.role.rawValue))::text[],
                    \(users.map(\.passwordHash))::text[], \(users.map(\.createdAt.millisecondsSince1970))::bigint[],
                    \(users.map(\.passwordChangedAt.millisecondsSince1970))::bigint[])
                """,
                logger: logger
            )
        }
        let audit = try source.hqAudit(limit: Int.max)
        for start in stride(from: 0, to: audit.count, by: importPage) {
            let page = audit[start..<min(audit.count, start + importPage)]
            try await connection.query(
                """
                INSERT INTO hq_audit (at, actor, action, subject, detail)
                SELECT at, actor, action, subject, detail
                FROM unnest(\(page.map(\.at.millisecondsSince1970))::bigint[], \(page.map(\.actor))::text[],
                    \(page.map(\.action))::text[], \(page.map(\.subject))::text[], \(page.map(\.detail))::text[])
                    WITH ORDINALITY AS a(at, actor, action, subject, detail, position)
                ORDER BY position
                """,
                logger: logger
            )
        }
    }

    private static func copyConflicts(
        _ export: ServerExport,
        into connection: PostgresConnection,
        logger: Logger
    ) async throws {
        for start in stride(from: 0, to: export.conflicts.count, by: importPage) {
            let page = export.conflicts[start..<min(export.conflicts.count, start + importPage)]
            try await connection.query(
                """
                INSERT INTO conflicts
                    (store_id, entity_type, record_id, field, "values", winner, detected_at, detected_by)
                SELECT * FROM unnest(\(page.map { $0.storeID ?? "" })::text[], \(page.map(\.entityType))::text[],
                    \(page.map(\.recordID))::text[], \(page.map(\.field))::text[], \(page.map(\.values))::text[],
                    \(page.map(\.winner))::text[], \(page.map(\.detectedAt))::timestamptz[],
                    \(page.map(\.detectedBy))::text[])
                """,
                logger: logger
            )
        }
    }
}

extension PostgresStorageError {
    /// The SQLite server committed changes while it was being copied.
    static let changedDuringImport = PostgresStorageError(
        "the SQLite server changed while it was copied (is `returns-server serve` still running on it?): nothing "
            + "was copied; stop it and run migrate again"
    )
}
