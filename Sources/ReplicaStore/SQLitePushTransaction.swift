import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine

/// The SQLite store's answers to the push rules' questions, inside one write transaction.
struct SQLitePushTransaction: PushTransaction {
    var context: WriteContext
    let serverID: ReplicaID
    /// The ids this server had before restores from backups.
    let formerServerIDs: Set<String>

    /// Writes of returns as pushed, prepared off the writer's thread; used for a return new here. Read, never
    /// changed: the push that prepared them holds them too, and removing one would copy them all (issue 18).
    private let prepared: [String: PreparedWrite]

    /// Returns new here that this push stored exactly as pushed, every value one this release reads, with the row
    /// number of their projection row: what the projection holds for them is what their decoded return says, so
    /// re-verification need not read it back, and its searches skip that row by its number.
    private var storedAsPushed: [String: Int64] = [:]

    init(context: WriteContext, prepared: [String: PreparedWrite] = [:]) throws {
        self.context = context
        self.prepared = prepared
        storedAsPushed.reserveCapacity(prepared.count)  // nearly every return of a push is new: grown, it rehashed
        serverID = context.store.identity.replicaID
        // Cached: every push of a group commit asks (compiling it was 1 % of the writer in a fleet's sync).
        formerServerIDs = Set(
            try String.fetchAll(context.db.cachedStatement(sql: "SELECT replica_id FROM former_server_ids"))
        )
    }

    func isServer(_ replica: ReplicaID) -> Bool {
        replica == serverID || formerServerIDs.contains(replica.rawValue)
    }

    mutating func mayPassOn(writesOf replica: ReplicaID, store: StoreID) throws -> Bool {
        // A restored server may have lost enrollments made after its backup: once restored, it takes any kiosk of
        // the pusher's store at its word, or a kiosk holding such a kiosk's writes could never push again.
        try formerServerIDs.contains(replica.rawValue)
            || Bool.fetchOne(
                context.db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM kiosks WHERE replica_id = ?1 AND store_id = ?2)
                        OR (EXISTS (SELECT 1 FROM former_server_ids) AND substr(?1, 1, length(?2) + 1) = ?2 || '/')
                    """,
                arguments: [replica.rawValue, store.rawValue]
            ) ?? false
    }

    /// Stored versions read ahead by ``prefetch(_:)``, as JSON (`nil`: none stored); an entry is dropped once its
    /// return is merged, since what is stored then is the merge.
    private var readAhead: [String: String?] = [:]

    mutating func prefetch(_ ids: [String]) throws {
        readAhead = [:]
        readAhead.reserveCapacity(ids.count)
        for id in ids { readAhead[id] = .some(nil) }
        // One query a few hundred ids, the ids read from `returnsync_rows(?)` (one cached statement for any count),
        // each searched in the records' key. Before, an `IN` list of ids bound one by one, padded to a power of two
        // so that a handful of cached statements served every push: SQLite built an index of the list first.
        let keys = ids.map { WriteContext.NewRecords.Projection(row: 0, values: [.text($0)]) }
        let statement = try context.db.cachedStatement(sql: Self.readAheadSQL)
        for start in stride(from: 0, to: keys.count, by: 512) {
            let binding = RawInsert(binding: statement, in: context.db)
            try ProjectionRows(keys[start..<min(start + 512, keys.count)], width: 1).withRows { rows in
                try binding.bound(rows) {
                    let rows = try Row.fetchCursor(statement)
                    while let row = try rows.next() { readAhead[row[0] as String] = .some(row[1] as String) }
                }
            }
        }
    }

    /// The stored versions of the returns whose ids are bound to `returnsync_rows(?)` (column `c1`).
    static let readAheadSQL = """
        SELECT r.id, r.record FROM returnsync_rows(?) AS wanted CROSS JOIN records r
        ON r.entity_type = 'return' AND r.id = wanted.c1
        """

    mutating func storedReturn(_ id: String) throws -> VersionedRecord? {
        if let known = readAhead[id] { return try known.map(ReplicaStore.decodeRecord) }
        return try context.load(entityType: ReturnEntity.entityType, id: id)
    }

    mutating func merge(
        _ pushed: VersionedRecord,
        into stored: VersionedRecord?,
        item: ProductReturn,
        source: ReplicaID
    ) throws -> MergeOutcome {
        // The stored version is already loaded for the rules: merged into rather than loaded again.
        readAhead[pushed.id] = nil
        // A batch naming a return twice finds the first merged when it reaches the second: stored, not new.
        let write = stored == nil ? prepared[pushed.id] : nil
        let outcome = try context.merge(
            pushed,
            into: stored,
            item: item,
            origin: .merge,
            source: source,
            prepared: write
        )
        // A batch naming a return twice merges the second into the first: what is stored is then no one item.
        if stored == nil, outcome.changed, item.newerValues.isEmpty, let row = context.lastProjectedRow {
            storedAsPushed[pushed.id] = row
        } else {
            storedAsPushed[pushed.id] = nil
        }
        return outcome
    }

    mutating func reverify(changed: [PreparedPush.Record]) throws {
        // Each return read where its push holds it: the facts take the few values they keep.
        let facts = changed.compactMap { entry in entry.product.map(ReturnFacts.init) }
        try context.reverifySharingPurchase(with: facts, stored: storedAsPushed)
    }
}
