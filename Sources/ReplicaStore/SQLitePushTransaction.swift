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

    /// Writes of returns as pushed, prepared off the writer's thread, by position among the push's returns
    /// (``PreparedServerPush/writes``); used for a return new here.
    private let writes: [PreparedWrite?]
    /// The positions of ids the push named before (``PreparedServerPush/repeated``).
    private let repeated: [Int]

    /// The ids read ahead, in the order the push rules ask for them (``prefetch(_:)``).
    private var prefetched: [String] = []
    /// The position among ``prefetched`` of the next return asked for.
    private var next = 0
    /// The position of the return being checked and merged, when it is the one read ahead there.
    private var current: Int?

    /// For each return read ahead, by position: the row number of its projection row when this push stored it new
    /// here, exactly as pushed, every value one this release reads — what the projection holds for it is then what
    /// its decoded return says, so re-verification need not read it back, and its searches skip that row by its
    /// number; 0 otherwise. By position, not by id: hashing each id to note it and find it again was a few percent
    /// of the server's writer (issue 18, thirty-eighth part).
    private var storedRows: [Int64] = []

    init(context: WriteContext, push: PreparedServerPush) throws {
        self.context = context
        writes = push.writes
        repeated = push.repeated
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

    /// Stored versions read ahead by ``prefetch(_:)``, as JSON, by id: only those stored (a push of new returns reads
    /// none, and then hashes no id). An entry is dropped once its return is merged, since what is stored then is
    /// the merge.
    private var readAhead: [String: String] = [:]

    mutating func prefetch(_ ids: [String]) throws {
        readAhead = [:]
        prefetched = ids
        next = 0
        storedRows = Array(repeating: 0, count: ids.count)
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
                    while let row = try rows.next() { readAhead[row[0] as String] = row[1] as String }
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
        // The rules ask for the returns in the order they were read ahead: the next one, unless the push named it
        // before (its first merge stored it since) or the rules asked for another.
        let position = next
        next += 1
        let readAheadHere =
            position < prefetched.count && prefetched[position] == id && !repeated.contains(position)
        current = readAheadHere ? position : nil
        if !readAhead.isEmpty, let json = readAhead[id] { return try ReplicaStore.decodeRecord(json) }
        if readAheadHere { return nil }  // read ahead, and not stored
        return try context.load(entityType: ReturnEntity.entityType, id: id)
    }

    mutating func merge(
        _ pushed: VersionedRecord,
        into stored: VersionedRecord?,
        item: ProductReturn,
        source: ReplicaID
    ) throws -> MergeOutcome {
        // The stored version is already loaded for the rules: merged into rather than loaded again.
        if !readAhead.isEmpty { readAhead[pushed.id] = nil }
        let position = current
        current = nil
        // A batch naming a return twice finds the first merged when it reaches the second: stored, not new.
        var write: PreparedWrite?
        if stored == nil, let position, position < writes.count, let prepared = writes[position],
            prepared.id == pushed.id
        {
            write = prepared
        }
        let outcome = try context.merge(
            pushed,
            into: stored,
            item: item,
            origin: .merge,
            source: source,
            prepared: write
        )
        if let position, stored == nil, outcome.changed, item.newerValues.isEmpty, let row = context.lastProjectedRow {
            storedRows[position] = row
        }
        return outcome
    }

    mutating func reverify(changed: [PreparedPush.Record]) throws {
        // Each return read where its push holds it: the facts take the few values they keep.
        let facts = changed.compactMap { entry in entry.product.map(ReturnFacts.init) }
        // Each changed return's row number, found by walking the returns read ahead alongside: `changed` is in the
        // push's order. A push naming a return twice merged the second into the first, so that what is stored is no
        // one item: its returns are all read back.
        var rows: [Int64] = []
        if repeated.isEmpty, storedRows.contains(where: { $0 != 0 }) {
            rows.reserveCapacity(facts.count)
            var position = 0
            for item in facts {
                while position < prefetched.count, prefetched[position] != item.id { position += 1 }
                rows.append(position < prefetched.count ? storedRows[position] : 0)
                position += 1
            }
        }
        try context.reverifySharingPurchase(with: facts, storedRows: rows)
    }
}
