import GRDB

/// A kiosk loading many returns at once — its first pull of its store's returns, a large import — builds the
/// projection's query indexes once at the end instead of updating them return by return.
///
/// The `returns` projection has nine indexes for the clerk's and HQ's queries (by status, reason, unit, order…),
/// none of which a merge or an import reads: its unique index on `id` (kept) is the only one the load itself
/// uses. Updated return by return, each new return dirties a page of every one of them, most in random order (a
/// unit's GTIN says nothing of when it was returned); sorted and built at the end, the same indexes cost a
/// fraction of that (BENCHMARKS.md, "Issue 18, tenth part"). Queries stay correct meanwhile — an index in SQLite
/// only makes a query faster — and only a kiosk about to take many more returns than it holds defers (the rule:
/// ``bulkLoadPays(_:incoming:)``).
///
/// Not every query index is worth deferring (BENCHMARKS.md, "Issue 18, thirty-fourth part"). A partial index (`WHERE
/// awaits_review`, a recall, a customer) takes only the rows its condition holds, few or none in a load: kept, it costs
/// a condition a row; rebuilt, a scan of the whole table. And an import keeps two more up to date as it goes, those
/// whose keys come in the order it adds rows — a kiosk's one store, the creation time of returns made now — because
/// its storing thread waits for the thread that prepares its lines and has the time; a pull's merging thread is the
/// pull's bound, and there those two cost more kept than rebuilt.
///
/// The indexes a load drops are noted in `deferred_indexes` in the transaction that drops them, with the SQL that
/// made them, and re-created in a transaction of their own by the load's end — a pull's, failed or not; an import's
/// once its one transaction committed (a failed import rolls the drop back with the rest) — or else by the next
/// opening of the database (a kiosk killed meanwhile) before anything else reads or migrates it.
extension ReplicaStore {
    /// What loads many returns at once, which decides the indexes it defers.
    enum BulkLoad {
        /// A kiosk's first pull of its store's returns (or any pull that brings more than the kiosk holds).
        case pull
        /// A large `kiosk import`.
        case `import`

        /// The projection's indexes this load keeps up to date as it goes although it could defer them.
        var indexesKeptUpToDate: Set<String> {
            switch self {
            case .pull: []
            case .import: ["returns_by_store", "returns_by_created_at"]
            }
        }
    }

    /// The projection's indexes that `load` defers, with the SQL that made them: those made by `CREATE INDEX` (not
    /// the constraints, whose unique index on `id` the load needs), neither partial nor kept up to date by `load`.
    static func deferrableIndexes(_ db: Database, for load: BulkLoad) throws -> [(name: String, sql: String)] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT name, sql FROM sqlite_schema
                WHERE type = 'index' AND tbl_name = 'returns' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'
                    AND sql NOT LIKE '% WHERE %'
                ORDER BY name
                """
        ).map { (name: $0["name"], sql: $0["sql"]) }.filter { !load.indexesKeptUpToDate.contains($0.name) }
    }

    /// Whether loading `incoming` returns into this replica is worth rebuilding the projection's indexes for:
    /// `incoming` may count returns held already (a pull's estimate counts the kiosk's own pushed returns, which
    /// the server does not send back), so only what exceeds the returns held is sure to be new, and that must be
    /// at least ``Configuration/bulkLoadMinimum`` and at least as many as those held.
    func bulkLoadPays(_ db: Database, incoming: Int) throws -> Bool {
        guard mayBulkLoad(incoming) else { return false }
        let held = try Int.fetchOne(db, sql: "SELECT count(*) FROM returns") ?? 0
        return incoming - held >= max(bulkLoadMinimum, held)
    }

    /// What ``bulkLoadPays(_:incoming:)`` decides without reading the database: a kiosk, and enough coming.
    private func mayBulkLoad(_ incoming: Int) -> Bool {
        identity.role == .kiosk && incoming >= bulkLoadMinimum
    }

    /// Drops the indexes `load` defers and notes each, with the SQL that re-creates it, in `deferred_indexes`, within
    /// the caller's transaction; returns whether it dropped any.
    static func deferIndexes(_ db: Database, for load: BulkLoad) throws -> Bool {
        let indexes = try deferrableIndexes(db, for: load)
        for index in indexes {
            try db.execute(sql: "DROP INDEX \(index.name.quotedDatabaseIdentifier)")
            try db.execute(
                sql: "INSERT OR REPLACE INTO deferred_indexes (name, sql) VALUES (?, ?)",
                arguments: [index.name, index.sql]
            )
        }
        return !indexes.isEmpty
    }

    /// Before a pull of `incoming` returns: drops the projection's query indexes when the load pays for rebuilding
    /// them (see above), noting them in `deferred_indexes` in the same transaction.
    ///
    /// - Returns: whether it did; ``restoreDeferredIndexes()`` re-creates them.
    public func deferProjectionIndexes(forIncoming incoming: Int) throws -> Bool {
        // Most rounds bring a few records: they decide here, without a write transaction.
        guard mayBulkLoad(incoming) else { return false }
        return try write { context in
            guard try bulkLoadPays(context.db, incoming: incoming) else { return false }
            return try Self.deferIndexes(context.db, for: .pull)
        }
    }

    /// Re-creates the indexes a pull deferred, in one transaction; none deferred: nothing to do.
    ///
    /// - Returns: how many it re-created.
    @discardableResult
    public func restoreDeferredIndexes() throws -> Int {
        try write { context in try Self.restoreDeferredIndexes(context.db) }
    }

    /// Sets the connection's page cache to 128 MiB for a load, and returns what puts back the size it had: a load
    /// dirties far more pages than SQLite's default 2 MB cache holds, and spilling them to the log mid-transaction
    /// and reading them back costs more than the inserts themselves.
    static func enlargeCacheForLoad(_ db: Database) throws -> () -> Void {
        let size = try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2_000
        try db.execute(sql: "PRAGMA cache_size = -131072")
        return { try? db.execute(sql: "PRAGMA cache_size = \(size)") }
    }

    /// Re-creates the indexes noted in `deferred_indexes` (if that table exists yet) and forgets them.
    static func restoreDeferredIndexes(_ db: Database) throws -> Int {
        guard try db.tableExists("deferred_indexes") else { return 0 }
        let deferred = try String.fetchAll(db, sql: "SELECT sql FROM deferred_indexes ORDER BY name")
        // Another process may have re-created one already (it opened the database meanwhile): same SQL, same index.
        for sql in deferred {
            try db.execute(sql: sql.replacingFirst("CREATE INDEX ", with: "CREATE INDEX IF NOT EXISTS "))
        }
        try db.execute(sql: "DELETE FROM deferred_indexes")
        return deferred.count
    }

    /// Every index of the projection as `sqlite_schema` holds it, `name: SQL` (the id's own has no SQL), by name:
    /// what tests compare after a load.
    func projectionIndexes() throws -> [String] {
        try read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT name || ': ' || coalesce(sql, '') FROM sqlite_schema
                    WHERE tbl_name = 'returns' AND type = 'index' ORDER BY name
                    """
            )
        }
    }

    /// Whether indexes a pull deferred wait to be re-created (another process's pull under way, or one that died).
    public func hasDeferredIndexes() throws -> Bool {
        try read(Self.hasDeferredIndexes)
    }

    /// Whether `deferred_indexes` exists yet (a database not migrated to v26 has none) and notes any index.
    static func hasDeferredIndexes(_ db: Database) throws -> Bool {
        try db.tableExists("deferred_indexes")
            && Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM deferred_indexes)") == true
    }
}

extension String {
    fileprivate func replacingFirst(_ prefix: String, with replacement: String) -> String {
        guard hasPrefix(prefix) else { return self }
        return replacement + dropFirst(prefix.count)
    }
}
