import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine

/// What a kiosk keeps, and what it may let go (issue 22: a kiosk's disk is small, and a store runs for years).
public struct RetentionState: Hashable, Sendable {
    /// Days a closed or voided return stays after its last change: what HQ set for the store, or the default.
    public var retentionDays: Int
    /// Whether HQ set it (`false`: ``StoreEntity/defaultRetentionDays``).
    public var setByHQ: Bool
    /// Returns that may be pruned now: closed or voided before the window, held by HQ.
    public var prunableReturns: Int
    /// Order lines whose return window closed more than ``ReplicaStore/orderLineGraceDays`` ago.
    public var prunableOrderLines: Int
    /// Bytes of the database file in use, and free (pages pruning or compaction left, which SQLite reuses before
    /// the file grows).
    public var databaseBytes: Int64
    public var freeBytes: Int64
}

/// What one ``ReplicaStore/prune(limit:)`` removed.
public struct PruneReport: Hashable, Sendable {
    public var returns = 0
    public var orderLines = 0
    /// Attachments whose bytes left with their returns (HQ holds them: only confirmed uploads go).
    public var attachments = 0
    /// Records whose settled-conflict history went (HQ holds it: ``HistoryRules``).
    public var histories = 0
    /// Whether records remain that may hold such history and were not looked at yet (a call reads a bounded part of
    /// the change log): another call goes on.
    public var historiesPending = false
    /// The retention that decided.
    public var retentionDays: Int

    /// Creates a report of nothing removed yet.
    public init(retentionDays: Int) {
        self.retentionDays = retentionDays
    }

    /// Whether anything was removed.
    public var isEmpty: Bool { returns == 0 && orderLines == 0 && histories == 0 }
}

extension ReplicaStore {
    /// Days after an order line's return window closed that a kiosk still keeps it: a return captured offline just
    /// after the window still reads "outside the window" rather than "order not found".
    public static let orderLineGraceDays = 30

    /// What ``prune(limit:)`` would remove now, and the retention in force. On a server: nothing is prunable (HQ
    /// keeps every return).
    public func retentionState() throws -> RetentionState {
        try read { db in try Self.retentionState(db, store: self) }
    }

    static func retentionState(_ db: Database, store: ReplicaStore) throws -> RetentionState {
        let plan = try Self.prunePlan(db, store: store)
        let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
        return RetentionState(
            retentionDays: plan.retentionDays,
            setByHQ: plan.setByHQ,
            prunableReturns: plan.isKiosk
                ? try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM (\(plan.returns))",
                    arguments: plan.returnArguments
                ) ?? 0 : 0,
            prunableOrderLines: plan.isKiosk
                ? try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM orders WHERE sold_at < ?",
                    arguments: [plan.ordersBefore]
                ) ?? 0 : 0,
            databaseBytes: (pages - free) * pageSize,
            freeBytes: free * pageSize
        )
    }

    /// Removes, on a kiosk, closed and voided returns whose last change is older than the store's retention and
    /// which HQ holds — every change to them acknowledged by the server (at or before the push checkpoint), none
    /// set aside (quarantined), no attachment bytes still to send — with their change-log entries, conflict audit,
    /// and the attachment bytes no remaining return names; and order lines whose return window closed more than
    /// ``orderLineGraceDays`` ago. HQ keeps all of it: a later edit there brings a return back with the feed.
    ///
    /// At most `limit` returns and `limit` order lines go per call, in one transaction, so a kiosk that was never
    /// pruned catches up over a few syncs without a long stall. A server prunes nothing.
    @discardableResult
    public func prune(limit: Int = 2_000) throws -> PruneReport {
        try write { context in
            let db = context.db
            let plan = try Self.prunePlan(db, store: self, now: context.wallClock)
            var report = PruneReport(retentionDays: plan.retentionDays)
            guard plan.isKiosk else { return report }
            let ids = try String.fetchAll(
                db,
                sql: "\(plan.returns) LIMIT ?",
                arguments: plan.returnArguments + [limit]
            )
            var digests: Set<String> = []
            for id in ids {
                try Self.deleteRecord(entityType: ReturnEntity.entityType, id: id, in: db)
                try db.execute(
                    sql: "DELETE FROM conflicts WHERE entity_type = 'return' AND record_id = ?",
                    arguments: [id]
                )
                try db.execute(sql: "DELETE FROM returns WHERE id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM fetched_returns WHERE return_id = ?", arguments: [id])
                digests.formUnion(
                    try String.fetchAll(
                        db,
                        sql: "SELECT digest FROM return_attachments WHERE return_id = ?",
                        arguments: [id]
                    )
                )
                try db.execute(sql: "DELETE FROM return_attachments WHERE return_id = ?", arguments: [id])
            }
            report.returns = ids.count
            // Bytes go only when HQ confirmed them whole and no remaining return names them.
            for digest in digests.sorted() {
                try db.execute(
                    sql: """
                        DELETE FROM attachments WHERE digest = ?1 AND uploaded_at IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM return_attachments WHERE digest = ?1)
                        """,
                    arguments: [digest]
                )
                report.attachments += db.changesCount
            }
            let lines = try String.fetchAll(
                db,
                sql: "SELECT record_id FROM orders WHERE sold_at < ? LIMIT ?",
                arguments: [plan.ordersBefore, limit]
            )
            for line in lines {
                try Self.deleteRecord(entityType: OrderEntity.entityType, id: line, in: db)
                try db.execute(sql: "DELETE FROM orders WHERE record_id = ?", arguments: [line])
            }
            report.orderLines = lines.count
            (report.histories, report.historiesPending) = try Self.compactHistories(db, plan: plan, limit: limit)
            return report
        }
    }

    /// ``prune(limit:)`` again and again, each pass a transaction of its own, until nothing is left to do: what
    /// `kiosk prune` does ("everything due").
    ///
    /// - Returns: what the passes removed, together.
    @discardableResult
    public func pruneAll(limit: Int = 2_000) throws -> PruneReport {
        var total = PruneReport(retentionDays: StoreEntity.defaultRetentionDays)
        while true {
            let report = try prune(limit: limit)
            total.retentionDays = report.retentionDays
            total.returns += report.returns
            total.orderLines += report.orderLines
            total.attachments += report.attachments
            total.histories += report.histories
            if report.isEmpty && !report.historiesPending { return total }
        }
    }

    /// Drops the settled-conflict history of records whose latest change HQ holds and is older than
    /// ``HistoryRules/graceDays`` (``VersionedRecord/droppingHistory(coveredBy:)``), when ``HistoryRules`` allow it: at
    /// most `limit` records, of those changed since the last call only (the checkpoint `history_compacted_seq`).
    /// Never of a record set aside (the checkpoint moves over its changes, but HQ refused them). Neither the clock
    /// nor the change log moves: HQ holds every write of the record already, so there is nothing new to push.
    ///
    /// - Returns: how many records it compacted, and whether part of the log is left for another call.
    private static func compactHistories(
        _ db: Database,
        plan: PrunePlan,
        limit: Int
    ) throws -> (compacted: Int, pending: Bool) {
        guard plan.isKiosk, plan.compactsHistory else { return (0, false) }
        let done = try Int64.fetchOne(db, sql: "SELECT history_compacted_seq FROM replica") ?? 0
        // Changes HQ holds made before the grace: the change log's sequence and its times run together.
        guard
            let horizon = try Int64.fetchOne(
                db,
                sql: "SELECT max(seq) FROM change_log WHERE seq > ? AND seq <= ? AND recorded_at < ?",
                arguments: [done, plan.pushed, plan.historyBefore]
            )
        else { return (0, false) }
        // At most 20 × `limit` positions of the log a call: a kiosk upgraded with years of records catches up over
        // a few syncs, never holding the writer for one long read of every record.
        let end = min(horizon, done + Int64(limit) * 20)
        // `"history"` in the JSON text finds every record with history (and, rarely, a value spelled so).
        // A record changed after the horizon is past it, and a later call looks at it once its change is old
        // enough; so does one changed again after being compacted (each change takes a new, higher position).
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT change_seq, record FROM records r
                WHERE change_seq > ? AND change_seq <= ? AND instr(record, '"history"') > 0
                AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.entity_type = r.entity_type AND q.record_id = r.id)
                ORDER BY change_seq LIMIT ?
                """,
            arguments: [done, end, limit]
        )
        var compacted = 0
        for row in rows {
            let record = try decodeRecord(row["record"])
            // HQ holds this very version: every entry it has goes (a value spelled `"history"` matched, none).
            guard !record.conflictHistory.isEmpty else { continue }
            let kept = record.droppingHistory(coveredBy: record.clock)
            try db.execute(
                sql: "UPDATE records SET record = ? WHERE entity_type = ? AND id = ?",
                arguments: [kept.jsonString, kept.entityType, kept.id]
            )
            compacted += 1
        }
        let through: Int64 = rows.count == limit ? rows[rows.count - 1]["change_seq"] : end
        try db.execute(sql: "UPDATE replica SET history_compacted_seq = ?", arguments: [through])
        return (compacted, through < horizon)
    }

    /// Deletes a record and its change-log entry. A kiosk's log holds one entry for a record whose every change is
    /// at or before the push checkpoint (superseded ones are compacted away: `movingCheckpoints`), the one its row
    /// points to. The newest entry of the log stays whatever it belonged to: its position is the replica's change
    /// count, which must never go back.
    private static func deleteRecord(entityType: String, id: String, in db: Database) throws {
        try db.execute(
            sql: """
                DELETE FROM change_log
                WHERE seq = (SELECT change_seq FROM records WHERE entity_type = ?1 AND id = ?2)
                AND seq < (SELECT max(seq) FROM change_log)
                """,
            arguments: [entityType, id]
        )
        try db.execute(sql: "DELETE FROM records WHERE entity_type = ? AND id = ?", arguments: [entityType, id])
    }

    /// What decides pruning here and now.
    private struct PrunePlan {
        var isKiosk: Bool
        var retentionDays: Int
        var setByHQ: Bool
        /// A statement selecting the ids of prunable returns (two ranges of `returns_by_status`).
        var returns: String
        var returnArguments: StatementArguments
        /// Order lines sold before this (milliseconds) are prunable.
        var ordersBefore: Int64
        /// Whether the server takes versions whose history a kiosk compacted (its last `welcome` said so).
        var compactsHistory: Bool
        /// The push checkpoint: changes HQ holds.
        var pushed: Int64
        /// A record's settled-conflict history may go when its latest change was made before this (milliseconds).
        var historyBefore: Int64
    }

    private static func prunePlan(_ db: Database, store: ReplicaStore, now: Date? = nil) throws -> PrunePlan {
        let offset = try Int64.fetchOne(db, sql: "SELECT clock_offset_ms FROM replica") ?? 0
        let now = (now ?? corrected(store.now(), by: offset)).millisecondsSince1970
        let storeID = store.identity.storeID
        // The store's own settings record: a malformed one is an error, not a silent default.
        let setting = try storeID.flatMap { id in
            try String.fetchOne(
                db,
                sql: "SELECT record FROM records WHERE entity_type = ? AND id = ?",
                arguments: [StoreEntity.entityType, id.rawValue]
            ).flatMap { StoreEntity.retentions(in: [try decodeRecord($0)])[id] }
        }
        let days = setting ?? StoreEntity.defaultRetentionDays
        let pushed = try pushedSeq(db)
        // A line is kept while the feed would still send it (the longest return window that could govern it,
        // FeedRules), and the grace after.
        let policies = try returnPolicies(db)
        let window = storeID.map { FeedRules.orderWindowDays(policies: policies, store: $0) } ?? 0
        let day: Int64 = 86_400_000
        return PrunePlan(
            isKiosk: store.identity.role == .kiosk && storeID != nil,
            retentionDays: days,
            setByHQ: setting != nil,
            // Held by HQ: its latest change (so every change) at or before the push checkpoint — pushed and
            // acknowledged, or pulled from HQ (a sync moves the checkpoint over pulled changes) —, not set aside (the
            // checkpoint moves over a quarantined record's changes), no attachment of it still to send.
            returns: """
                SELECT r.id FROM returns r
                JOIN records d ON d.entity_type = 'return' AND d.id = r.id
                WHERE r.status IN ('closed', 'voided') AND r.updated_at < ? AND d.change_seq <= ?
                AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.entity_type = 'return' AND q.record_id = r.id)
                AND NOT EXISTS (SELECT 1 FROM fetched_returns f WHERE f.return_id = r.id AND f.until > ?)
                AND NOT EXISTS (SELECT 1 FROM return_attachments ra JOIN attachments a ON a.digest = ra.digest
                                WHERE ra.return_id = r.id AND a.uploaded_at IS NULL)
                """,
            returnArguments: [now - Int64(days) * day, pushed, now],
            ordersBefore: now - Int64(window + orderLineGraceDays) * day,
            compactsHistory: HistoryRules.mayCompact(serverCapabilities: try serverCapabilities(db)),
            pushed: pushed,
            historyBefore: now - Int64(HistoryRules.graceDays) * day
        )
    }
}
