import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What an orders import did.
public struct OrderImportOutcome: Hashable, Sendable {
    /// Lines new to this replica.
    public var created: Int
    /// Lines already known whose values changed.
    public var updated: Int
    /// Lines already known as they are.
    public var unchanged: Int
    /// Returns whose verification or exceptions changed because of the import.
    public var reverified: Int

    /// Creates an outcome.
    public init(created: Int, updated: Int, unchanged: Int, reverified: Int) {
        self.created = created
        self.updated = updated
        self.unchanged = unchanged
        self.reverified = reverified
    }
}

extension ReplicaStore {
    // MARK: Orders

    /// Imports order lines at HQ in one transaction, then re-verifies the returns they may decide.
    ///
    /// Importing the same lines again writes nothing. A line that changed (a corrected quantity, say) is updated
    /// as an edit, so kiosks holding it receive the correction.
    ///
    /// - Throws: ``ReplicaStoreError`` when this replica is not the server; nothing is stored then.
    public func importOrders(_ lines: [OrderLine]) throws -> OrderImportOutcome {
        guard identity.role == .server else {
            throw ReplicaStoreError(code: .wrongStore, message: "orders are imported at the server, not at a kiosk")
        }
        return try write { context in
            var outcome = OrderImportOutcome(created: 0, updated: 0, unchanged: 0, reverified: 0)
            for line in lines {
                let stored = try context.load(entityType: OrderEntity.entityType, id: line.recordID)
                guard
                    let (record, isNew) = try Self.orderRecord(
                        for: line,
                        over: stored,
                        by: context.replicaID,
                        stamp: { try context.stamp() }
                    )
                else {
                    outcome.unchanged += 1
                    continue
                }
                try context.save(record, origin: .local, operation: isNew ? "order" : "order-update")
                if isNew { outcome.created += 1 } else { outcome.updated += 1 }
            }
            // Returns of these orders, and those nobody could verify yet, may be decided now.
            var ids = Set<String>()
            let byOrder = try context.db.cachedStatement(sql: "SELECT id FROM returns WHERE order_id = ?")
            for orderID in Set(lines.map(\.orderID.rawValue)) {
                ids.formUnion(try String.fetchAll(byOrder, arguments: [orderID]))
            }
            ids.formUnion(
                try String.fetchAll(
                    context.db,
                    sql: "SELECT id FROM returns WHERE verification IS NULL OR verification = 'unverified'"
                )
            )
            outcome.reverified = try context.reverify(ids)
            return outcome
        }
    }

    /// The version of `line`'s record HQ stores over `stored` (`nil`: none yet), written by `replica`; `nil` when the
    /// stored version holds the line as it is. Every backend imports orders with this.
    public static func orderRecord(
        for line: OrderLine,
        over stored: VersionedRecord?,
        by replica: ReplicaID,
        stamp: () throws -> HLCTimestamp
    ) throws -> (record: VersionedRecord, isNew: Bool)? {
        var record = stored ?? VersionedRecord(entityType: OrderEntity.entityType, id: line.recordID)
        let current = record.clock.counters.isEmpty ? nil : try OrderLine(record: record)
        let edit = OrderEntity.edit(for: line, over: current)
        guard !edit.isEmpty else { return nil }
        _ = try record.apply(edit, by: replica, stamp: stamp())
        return (record, current == nil)
    }

    /// The order lines this replica holds, by order id and line; only `store`'s when given.
    public func orderLines(store: StoreID? = nil) throws -> [OrderLine] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM orders WHERE ?1 IS NULL OR store_id = ?1 ORDER BY order_id, line",
                arguments: [store?.rawValue]
            ).map(Self.orderLine(from:))
        }
    }

    /// The first `limit` order lines this replica holds, by order id and line, and how many it holds in all, read
    /// together: a page of them, without reading the others.
    public func orderLines(first limit: Int) throws -> (lines: [OrderLine], total: Int) {
        try read { db in
            let lines = try Row.fetchAll(
                db,
                sql: "SELECT * FROM orders ORDER BY order_id, line LIMIT ?",
                arguments: [max(0, limit)]
            ).map(Self.orderLine(from:))
            return (lines, try Int.fetchOne(db, sql: "SELECT count(*) FROM orders") ?? 0)
        }
    }

    /// At most `limit` order lines after `last` (`nil`: from the first), by order id, line and store: a page of
    /// every line held, read from the order index onwards (the lines of one order sorted among themselves).
    public func orderLines(after last: OrderLine?, limit: Int) throws -> [OrderLine] {
        try read { db in
            guard let last else {
                return try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM orders ORDER BY order_id, line, store_id LIMIT ?",
                    arguments: [max(0, limit)]
                ).map(Self.orderLine(from:))
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM orders WHERE order_id >= ?1 AND (order_id, line, store_id) > (?1, ?2, ?3)
                    ORDER BY order_id, line, store_id LIMIT ?4
                    """,
                arguments: [last.orderID.rawValue, last.line, last.storeID.rawValue, max(0, limit)]
            ).map(Self.orderLine(from:))
        }
    }

    // MARK: Return policies

    /// Sets a return policy at HQ (replacing the one for the same store and GTIN prefix); kiosks receive it with
    /// their next sync. Returns already captured keep the exceptions they were captured with.
    public func setReturnPolicy(_ policy: ReturnPolicy) throws {
        try write(.setPolicy(policy))
    }

    /// Removes the policy for `store` (`nil`: every store) and `gtinPrefix`: the next more general one applies.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` when no such policy is set.
    public func removeReturnPolicy(store: StoreID?, gtinPrefix: String) throws {
        try write(.removePolicy(store: store, gtinPrefix: gtinPrefix))
    }

    /// The return policies in force, by store (all-stores first) and prefix.
    public func returnPolicies() throws -> [ReturnPolicy] {
        try read(Self.returnPolicies)
    }

    /// The return policies in force as `db` holds them, by store and prefix (removed ones left out).
    static func returnPolicies(_ db: Database) throws -> [ReturnPolicy] {
        try String.fetchAll(
            db.cachedStatement(sql: "SELECT record FROM records WHERE entity_type = ? ORDER BY id"),
            arguments: [PolicyEntity.entityType]
        ).compactMap { try PolicyEntity.returnPolicy(from: decodeRecord($0)) }
    }

    /// The time zones HQ set for stores (``StoreTimeZone``); UTC for the others, and for a zone this replica's time
    /// zone database does not know.
    public func storeTimeZones() throws -> StoreTimeZones {
        try read { db in try Self.storeTimeZones(db) }
    }

    /// Every store's settings record HQ wrote (time zone, GLN), by store id.
    public func storeRecords() throws -> [VersionedRecord] {
        try read { db in try Self.storeRecords(db) }
    }

    static func storeRecords(_ db: Database) throws -> [VersionedRecord] {
        try String.fetchAll(
            db,
            sql: "SELECT record FROM records WHERE entity_type = ? ORDER BY id",
            arguments: [StoreEntity.entityType]
        ).map(decodeRecord)
    }

    static func storeTimeZones(_ db: Database) throws -> StoreTimeZones {
        StoreTimeZones.decoding(try storeRecords(db))
    }

    // MARK: Review queue

    /// The returns waiting for HQ's review (exceptions no decision covers yet), oldest first.
    public func reviewQueue() throws -> [VersionedRecord] {
        let rows = try read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT rec.record FROM returns r
                    JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id
                    WHERE r.awaits_review ORDER BY r.created_at, r.id
                    """
            )
        }
        return try rows.map(Self.decodeRecord)
    }

    /// Records HQ's decision on a return's exceptions as an edit that syncs to its store.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id; ``ReturnsModelError`` when
    ///   the return is not waiting for a review, or a rejection has no note.
    @discardableResult
    public func decideReview(
        _ id: ReturnID,
        outcome: ReviewDecision.Outcome,
        note: String?
    ) throws -> ProductReturn {
        try updateReturn(id, operation: "review") { item, _, date in
            try item.decideReview(outcome, note: note, at: date)
        }
    }
}
