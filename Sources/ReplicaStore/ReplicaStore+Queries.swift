import Foundation
import GRDB
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// A row of the `returns` table: a return as every replica shows it, without its notes and dots.
public struct ReturnRow: Hashable, Sendable, Decodable, FetchableRecord {
    public var id: String
    public var storeId: String
    public var kioskId: String
    public var orderId: String
    public var gtin: String
    public var serial: String?
    public var lot: String?
    public var quantity: Int
    public var reason: String
    public var status: String
    public var condition: String
    public var testResult: String
    public var disposition: String
    public var needsReview: Bool
    public var inConflict: Bool
    public var createdAt: Int64
    public var updatedAt: Int64
    /// The purchase verification, if any.
    public var verification: String?
    /// Whether the return waits for HQ's decision on its exceptions.
    public var awaitsReview: Bool
    /// The recall campaign the unit matched, if any, and how surely (`certain`, `uncertain`).
    public var recallCampaign: String?
    public var recallMatch: String?

    /// The row of the projection as a report statement read it (``ReportSource``), from any backend.
    public init(_ row: ReportRow) {
        id = row.text("id") ?? ""
        storeId = row.text("store_id") ?? ""
        kioskId = row.text("kiosk_id") ?? ""
        orderId = row.text("order_id") ?? ""
        gtin = row.text("gtin") ?? ""
        serial = row.text("serial")
        lot = row.text("lot")
        quantity = Int(row.count("quantity"))
        reason = row.text("reason") ?? ""
        status = row.text("status") ?? ""
        condition = row.text("condition") ?? ""
        testResult = row.text("test_result") ?? ""
        disposition = row.text("disposition") ?? ""
        needsReview = row.count("needs_review") != 0
        inConflict = row.count("in_conflict") != 0
        createdAt = row.count("created_at")
        updatedAt = row.count("updated_at")
        verification = row.text("verification")
        awaitsReview = row.count("awaits_review") != 0
        recallCampaign = row.text("recall_campaign")
        recallMatch = row.text("recall_match")
    }

    enum CodingKeys: String, CodingKey {
        case id, serial, lot, quantity, reason, status, condition, disposition, gtin
        case storeId = "store_id"
        case kioskId = "kiosk_id"
        case orderId = "order_id"
        case testResult = "test_result"
        case needsReview = "needs_review"
        case inConflict = "in_conflict"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case verification
        case awaitsReview = "awaits_review"
        case recallCampaign = "recall_campaign"
        case recallMatch = "recall_match"
    }
}

extension ConflictAuditEntry {
    /// An audit entry as a backend stores it: the values and the winner as JSON, and the record as it is now (to
    /// tell whether the conflict is still open: it is while the record holds every one of its values).
    public init(
        id: Int64,
        entityType: String,
        recordID: String,
        field: String,
        valuesJSON: String,
        winnerJSON: String,
        detectedAt: Date,
        detectedBy: String,
        currentRecordJSON: String?
    ) throws {
        let decoder = JSONDecoder()
        let values = try decoder.decode([DottedValue].self, from: Data(valuesJSON.utf8))
        let current = try currentRecordJSON.map(ReplicaStore.decodeRecord)
        let held = Set(current?.values(of: field) ?? [])
        self.init(
            id: id,
            entityType: entityType,
            recordID: recordID,
            field: field,
            values: values,
            winner: try decoder.decode(DottedValue.self, from: Data(winnerJSON.utf8)),
            detectedAt: detectedAt,
            detectedBy: detectedBy,
            isOpen: values.allSatisfy { held.contains($0) }
        )
        // Who made each conflicting write, where an operator was named for it.
        if let current, current.entityType == ReturnEntity.entityType {
            let byDot = Dictionary(
                ReturnEdit.history(of: current).map { ($0.dot.description, $0.operatorID) },
                uniquingKeysWith: { first, _ in first }
            )
            operators = Dictionary(
                values.compactMap { value in byDot[value.dot.description].map { (value.dot.description, $0) } },
                uniquingKeysWith: { first, _ in first }
            )
        }
    }
}

/// An entry of the conflict audit: a conflict some merge on this replica detected.
public struct ConflictAuditEntry: Hashable, Sendable {
    public var id: Int64
    public var entityType: String
    public var recordID: String
    public var field: String
    /// Every value the field held when the conflict was detected, with their dots.
    public var values: [DottedValue]
    /// The value every replica showed.
    public var winner: DottedValue
    public var detectedAt: Date
    /// The replica whose merge detected it.
    public var detectedBy: String
    /// Whether the conflict is still open: no edit has replaced any of its values yet.
    public var isOpen: Bool
    /// The operator who made each value's write, by dot (`store-1/kiosk-a:3`), where one was named.
    public var operators: [String: String] = [:]
}

/// A sync checkpoint: how far sync with a peer got.
public struct SyncCheckpoint: Hashable, Sendable {
    public var peer: String
    /// The last change-log sequence number the peer acknowledged.
    public var pushedSeq: Int64
    /// The peer's change-feed cursor this replica has pulled up to.
    public var pullCursor: String?
    public var lastSyncAt: Date?

    /// Creates a checkpoint.
    public init(peer: String, pushedSeq: Int64 = 0, pullCursor: String? = nil, lastSyncAt: Date? = nil) {
        self.peer = peer
        self.pushedSeq = pushedSeq
        self.pullCursor = pullCursor
        self.lastSyncAt = lastSyncAt
    }
}

/// A summary of a replica for `status`.
public struct ReplicaStatus: Hashable, Sendable {
    public var identity: ReplicaIdentity
    /// Returns by status; every status is present.
    public var returnsByStatus: [ReturnStatus: Int]
    public var totalReturns: Int
    /// Records changed here (edits and imports) that the server has not acknowledged yet.
    public var unsyncedChanges: Int
    public var lastSyncAt: Date?
    /// Returns whose merged state breaks a lifecycle rule.
    public var needsReview: Int
    /// Returns with a field in conflict.
    public var inConflict: Int
    /// Records the server refused, set aside (`kiosk quarantine list`).
    public var quarantined: Int
    /// The latest change-log sequence number.
    public var lastChangeSeq: Int64
    /// A kiosk's store's time zone, as HQ set it (UTC until then); `nil` on a server.
    public var timeZone: StoreTimeZone?
    /// Attachments whose bytes are held here and not yet confirmed whole by the server, and their bytes.
    public var attachmentsUnsent = 0
    public var attachmentBytesUnsent: Int64 = 0
    /// Returns whose status a newer release wrote (``ProductReturn/newerValues``), by its spelling; counted in
    /// ``totalReturns``.
    public var newerStatuses: [String: Int] = [:]
    /// On a kiosk: the retention in force, what is prunable, the database's size; `nil` on a server.
    public var retention: RetentionState?
}

extension ReplicaStore {
    /// The peer name of the central server in sync checkpoints.
    public static let serverPeer = "server"

    /// The rows of returns matching the filters, oldest first.
    public func returnRows(
        status: ReturnStatus? = nil,
        reason: ReturnReason? = nil,
        store: StoreID? = nil
    ) throws -> [ReturnRow] {
        try read { db in
            try ReturnRow.fetchAll(
                db,
                sql: """
                    SELECT * FROM returns
                    WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR reason = ?2) AND (?3 IS NULL OR store_id = ?3)
                    ORDER BY created_at, id
                    """,
                arguments: [status?.rawValue, reason?.rawValue, store?.rawValue]
            )
        }
    }

    /// The conflict audit, oldest first.
    public func conflictAudit() throws -> [ConflictAuditEntry] {
        try conflictEntries(
            """
            SELECT c.*, r.record FROM conflicts c
            LEFT JOIN records r ON r.entity_type = c.entity_type AND r.id = c.record_id
            ORDER BY c.id
            """
        )
    }

    /// The conflict audit's entries after entry `id` (``ConflictAuditEntry/id``), oldest first, at most `limit`:
    /// what a download reads page by page, since the audit keeps every settled conflict for as long as HQ runs.
    public func conflictAudit(after id: Int64, limit: Int) throws -> [ConflictAuditEntry] {
        try conflictEntries(
            """
            SELECT c.*, r.record FROM conflicts c
            LEFT JOIN records r ON r.entity_type = c.entity_type AND r.id = c.record_id
            WHERE c.id > ? ORDER BY c.id LIMIT ?
            """,
            arguments: [id, limit]
        )
    }

    /// The open conflicts of returns, oldest first: the audit's entries of the returns the projection shows in
    /// conflict, of which those still open. A settled conflict's record is not read, nor decoded: the console's
    /// conflicts page asks at every view.
    public func openReturnConflicts() throws -> [ConflictAuditEntry] {
        // From the audit to the projection by the return's id: the audit is read row by row (cheap, nothing
        // decoded), each row's return found by its key; only a return in conflict has its record read.
        try conflictEntries(
            """
            SELECT c.*, r.record FROM conflicts c
            JOIN returns p ON p.id = c.record_id AND p.in_conflict
            JOIN records r ON r.entity_type = c.entity_type AND r.id = c.record_id
            WHERE c.entity_type = 'return'
            ORDER BY c.id
            """
        ).filter(\.isOpen)
    }

    private func conflictEntries(_ sql: String, arguments: StatementArguments = []) throws -> [ConflictAuditEntry] {
        let rows = try read { db in try Row.fetchAll(db, sql: sql, arguments: arguments) }
        return try rows.map { row in
            try ConflictAuditEntry(
                id: row["id"],
                entityType: row["entity_type"],
                recordID: row["record_id"],
                field: row["field"],
                valuesJSON: row["values"],
                winnerJSON: row["winner"],
                detectedAt: Date(millisecondsSince1970: row["detected_at"]),
                detectedBy: row["detected_by"],
                currentRecordJSON: row["record"]
            )
        }
    }

    /// What `kiosk status` shows.
    public func status() throws -> ReplicaStatus {
        try read { db in
            var byStatus = Dictionary(uniqueKeysWithValues: ReturnStatus.allCases.map { ($0, 0) })
            var newerStatuses: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, count(*) AS n FROM returns GROUP BY status") {
                if let status = ReturnStatus(rawValue: row["status"]) {
                    byStatus[status] = row["n"]
                } else {
                    newerStatuses[row["status"]] = row["n"]
                }
            }
            let pushed = try Self.pushedSeq(db)
            let unsynced =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT count(DISTINCT record_row) FROM change_log c
                        WHERE seq > ? AND origin != 'merge' AND \(Self.pushableChange)
                        """,
                    arguments: [pushed]
                ) ?? 0
            let lastSync = try Int64.fetchOne(db, sql: "SELECT max(last_sync_at) FROM sync_checkpoints")
            let unsent = try Row.fetchOne(db, sql: Self.unsentAttachments)
            var status = ReplicaStatus(
                identity: identity,
                returnsByStatus: byStatus,
                totalReturns: byStatus.values.reduce(0, +) + newerStatuses.values.reduce(0, +),
                unsyncedChanges: unsynced,
                lastSyncAt: lastSync.map(Date.init(millisecondsSince1970:)),
                needsReview: try Int.fetchOne(db, sql: "SELECT count(*) FROM returns WHERE needs_review") ?? 0,
                inConflict: try Int.fetchOne(db, sql: "SELECT count(*) FROM returns WHERE in_conflict") ?? 0,
                quarantined: try Int.fetchOne(db, sql: "SELECT count(*) FROM quarantine WHERE code != 'dropped'") ?? 0,
                lastChangeSeq: try Int64.fetchOne(db, sql: "SELECT max(seq) FROM change_log") ?? 0,
                timeZone: try identity.storeID.map { try Self.storeTimeZones(db)[$0] }
            )
            (status.attachmentsUnsent, status.attachmentBytesUnsent) = (unsent?[0] ?? 0, unsent?[1] ?? 0)
            status.newerStatuses = newerStatuses
            if identity.role == .kiosk { status.retention = try Self.retentionState(db, store: self) }
            return status
        }
    }

    /// Records changed after change-log sequence number `seq`, in change order, at most `limit` of them, each with
    /// the sequence number of its latest change: an index range scan, whatever the size of the store.
    public func changes(since seq: Int64, limit: Int = 500) throws -> [(seq: Int64, record: VersionedRecord)] {
        let rows = try read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT change_seq, record FROM records WHERE change_seq > ? ORDER BY change_seq LIMIT ?",
                arguments: [seq, limit]
            )
        }
        return try rows.map { row in (seq: row["change_seq"], record: try Self.decodeRecord(row["record"])) }
    }

    /// SQLite's `PRAGMA integrity_check`: `"ok"`, or what is damaged.
    public func integrityCheck() throws -> String {
        try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "\n") }
    }

    /// Like ``changes(since:limit:)``, but each record in its stored JSON form, with its entity type: what a push
    /// sends as it is, without decoding and re-encoding every record.
    public func encodedChanges(
        since seq: Int64,
        limit: Int = 500
    ) throws -> [(seq: Int64, entityType: String, json: String)] {
        try read { db in try Self.encodedChanges(since: seq, limit: limit, in: db) }
    }

    static func encodedChanges(
        since seq: Int64,
        limit: Int,
        in db: Database
    ) throws -> [(seq: Int64, entityType: String, json: String)] {
        // Cached: every sync asks, most often for nothing.
        let statement = try db.cachedStatement(
            sql: """
                SELECT change_seq, entity_type, record FROM records WHERE change_seq > ?
                  AND NOT EXISTS (SELECT 1 FROM quarantine q
                                  WHERE q.entity_type = records.entity_type AND q.record_id = records.id)
                ORDER BY change_seq LIMIT ?
                """
        )
        return try Row.fetchAll(statement, arguments: [seq, limit]).map {
            (seq: $0[0], entityType: $0[1], json: $0[2])
        }
    }

    /// The latest change-log sequence number (0 for an empty log).
    public func lastChangeSeq() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM change_log") ?? 0 }
    }

    /// The database's size on disk in bytes: its pages and its write-ahead log.
    public func storageSize() throws -> Int64 {
        let pages = try read { db in
            try Int64.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
                ?? 0
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int64) ?? nil
        return pages + (wal ?? 0)
    }

    /// The number of entries in the change log; every operation adds exactly one per record it changes.
    public func changeLogCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM change_log") ?? 0 }
    }

    /// The checkpoint of sync with `peer`; a fresh one when they never synced.
    public func checkpoint(for peer: String) throws -> SyncCheckpoint {
        try read { db in try Self.checkpoint(for: peer, in: db) }
    }

    static func checkpoint(for peer: String, in db: Database) throws -> SyncCheckpoint {
        let statement = try db.cachedStatement(sql: "SELECT * FROM sync_checkpoints WHERE peer = ?")
        guard let row = try Row.fetchOne(statement, arguments: [peer]) else { return SyncCheckpoint(peer: peer) }
        return SyncCheckpoint(
            peer: peer,
            pushedSeq: row["pushed_seq"],
            pullCursor: row["pull_cursor"],
            lastSyncAt: (row["last_sync_at"] as Int64?).map(Date.init(millisecondsSince1970:))
        )
    }

    /// Stores the checkpoint of sync with a peer.
    public func saveCheckpoint(_ checkpoint: SyncCheckpoint) throws {
        try write { context in
            try context.movingCheckpoints { db in
                try db.execute(
                    // The push checkpoint never moves back: two syncs of one kiosk at once each save what they
                    // pushed.
                    sql: """
                        INSERT INTO sync_checkpoints (peer, pushed_seq, pull_cursor, last_sync_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT (peer) DO UPDATE
                        SET pushed_seq = max(pushed_seq, excluded.pushed_seq), pull_cursor = excluded.pull_cursor,
                            last_sync_at = coalesce(excluded.last_sync_at, last_sync_at)
                        """,
                    arguments: [
                        checkpoint.peer, checkpoint.pushedSeq, checkpoint.pullCursor,
                        checkpoint.lastSyncAt?.millisecondsSince1970,
                    ]
                )
            }
        }
    }
}
