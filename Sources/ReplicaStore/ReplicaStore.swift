import CSQLiteRows
import Foundation
import GRDB
import GRDBSQLite
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// A replica's durable store: the current version of every record, a change log, sync checkpoints, the conflict
/// audit and the replica's identity, in one SQLite database in WAL mode.
///
/// Used by kiosks and by the server alike. Every operation is one transaction that writes the record, its
/// projection and its change-log entry together; a method returns only after SQLite has committed the
/// transaction with `synchronous = FULL`, so what it reports as done survives a power cut — save
/// ``commitGroup(_:syncingLater:)`` asked to sync later, whose caller acknowledges only after ``syncLog()``. Several
/// processes may
/// write the same database at once: SQLite serialises their transactions and a busy writer waits
/// (``Configuration/busyTimeout``) instead of failing.
///
/// ```swift
/// let store = try ReplicaStore.create(at: path, identity: .kiosk(store: store, kiosk: kiosk))
/// let item = try store.recordReturn(ReturnCapture(orderID: order, gtin: gtin, reason: .defective))
/// ```
public final class ReplicaStore: Sendable {
    /// How the store opens its database.
    public struct Configuration: Sendable {
        /// How long a write waits for another process's transaction before failing.
        public var busyTimeout: TimeInterval
        /// The wall clock, read for stamps and audit times; tests inject their own.
        public var now: @Sendable () -> Date
        /// A cap on the database's size, in bytes; `nil` for none. A write that would pass it fails like a full
        /// disk, and stores nothing: operators use it to keep a kiosk's disk from filling up.
        public var maximumSize: Int64?
        /// SQLite's page cache per connection, in KiB; `nil` for SQLite's default (2 MiB). A server merging pushes
        /// into large indexes wants far more: every page it misses is a read system call.
        public var cacheSizeKiB: Int?
        /// How many pages the write-ahead log grows by between two copies of it into the database (checkpoints,
        /// which run on a thread of their own: ``BackgroundCheckpointer``); `nil` for SQLite's default, 1,000
        /// (4 MiB). A checkpoint writes each page once, however many commits changed it since the last: a server
        /// merging pushes into the same index pages commit after commit writes far less with a longer interval
        /// (BENCHMARKS.md, "Issue 18, fourth part"). A kiosk keeps the default, which bounds its log at 16 MiB (four
        /// intervals, past which the writer checkpoints in its own commit), 32 MiB while the checkpoint thread is
        /// copying at that moment.
        public var checkpointPages: Int?
        /// Whether the writer keeps its statement journals in memory (`temp_store = MEMORY`) rather than in a
        /// temporary file. A server's group commit runs each push of a group in a savepoint, and SQLite keeps the
        /// earlier content of every page a savepoint changes again in such a journal: written to a file, that was
        /// more than a page's write for each return a group stored (BENCHMARKS.md, "Issue 18, fifth part"). In
        /// memory it costs at most the pages one transaction changes; a kiosk keeps the default (its large sorts
        /// would go to memory too).
        public var statementJournalInMemory: Bool
        /// Told what opening the database will migrate, and how long it will take, before the migration starts
        /// (``MigrationPlan``); `nil`: nobody is told. The command lines print ``MigrationPlan/announcement``.
        public var announceMigration: (@Sendable (MigrationPlan) -> Void)?
        /// Whether a kiosk deletes change-log entries nothing reads any more (``WriteContext``); off only in tests
        /// that compare a compacting kiosk with one keeping its whole log.
        var compactsChangeLog = true
        /// How many returns beyond those it holds a kiosk must be about to load at once (and at least as many as
        /// it holds) before it builds the projection's query indexes at the end of the load rather than return by
        /// return (``ReplicaStore/deferProjectionIndexes(forIncoming:)``). Tests lower it to exercise the path on
        /// a few returns.
        public var bulkLoadMinimum = 10_000

        /// Creates a configuration.
        public init(
            busyTimeout: TimeInterval = 30,
            maximumSize: Int64? = nil,
            cacheSizeKiB: Int? = nil,
            checkpointPages: Int? = nil,
            statementJournalInMemory: Bool = false,
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.busyTimeout = busyTimeout
            self.maximumSize = maximumSize
            self.cacheSizeKiB = cacheSizeKiB
            self.checkpointPages = checkpointPages
            self.statementJournalInMemory = statementJournalInMemory
            self.now = now
        }

        /// What a server wants: a 64 MiB page cache per connection, a checkpoint every 10,000 pages (40 MiB of
        /// log), and its group commits' statement journals in memory.
        public static var server: Configuration {
            Configuration(cacheSizeKiB: 65_536, checkpointPages: 10_000, statementJournalInMemory: true)
        }
    }

    /// The database file.
    public let path: String
    /// Who this replica is.
    public let identity: ReplicaIdentity
    let pool: DatabasePool
    /// Runs the checkpoints of `pool`'s log; its hook on the writer holds it unretained, so the store keeps it.
    let checkpointer: BackgroundCheckpointer
    let now: @Sendable () -> Date
    /// ``Configuration/compactsChangeLog``, for a kiosk; `false` for a server, which keeps its whole log.
    let compactsChangeLog: Bool
    /// ``Configuration/bulkLoadMinimum``.
    let bulkLoadMinimum: Int
    /// The server's group commits committed and not yet synced (``commitGroup(_:syncingLater:)``).
    let unsyncedCommits = UnsyncedCommits()
    /// The write-ahead log, synced by ``syncLog()``.
    let logFile: WriteAheadLogFile

    private init(
        path: String,
        identity: ReplicaIdentity,
        pool: DatabasePool,
        checkpointer: BackgroundCheckpointer,
        configuration: Configuration
    ) {
        self.path = path
        self.identity = identity
        self.pool = pool
        self.checkpointer = checkpointer
        self.now = configuration.now
        self.compactsChangeLog = identity.role == .kiosk && configuration.compactsChangeLog
        self.bulkLoadMinimum = configuration.bulkLoadMinimum
        self.logFile = WriteAheadLogFile(databasePath: path)
    }

    deinit {
        // The writer, whose commits start checkpoints, is closed with `pool` right after this; the checkpoint
        // thread's connection goes first, so that nothing of the store is left open once it is released.
        checkpointer.close()
    }

    /// Creates a new replica database at `path` with `identity`.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/alreadyInitialized`` when `path` already holds a replica:
    ///   re-initialising would fork its identity.
    public static func create(
        at path: String,
        identity: ReplicaIdentity,
        configuration: Configuration = Configuration()
    ) throws -> ReplicaStore {
        // Owner-only from the first byte: it will hold keys (and, at HQ, every store's returns).
        try OwnerOnlyFiles.create(path)
        let (pool, checkpointer) = try openPool(at: path, configuration: configuration)
        do {
            try pool.write { db in
                if let existing = try Row.fetchOne(db, sql: "SELECT replica_id FROM replica") {
                    throw ReplicaStoreError(
                        code: .alreadyInitialized,
                        message: "\(path) is already initialised as replica '\(existing["replica_id"] as String)'; "
                            + "refusing to re-initialise it"
                    )
                }
                try db.execute(
                    sql: """
                        INSERT INTO replica (singleton, replica_id, role, store_id, kiosk_id, created_at)
                        VALUES (1, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        identity.replicaID.rawValue, identity.role.rawValue, identity.storeID?.rawValue,
                        identity.kioskID?.rawValue, identity.createdAt.millisecondsSince1970,
                    ]
                )
            }
        } catch let error as DatabaseError {
            throw storageError(error, path: path)
        }
        return ReplicaStore(
            path: path,
            identity: identity,
            pool: pool,
            checkpointer: checkpointer,
            configuration: configuration
        )
    }

    /// Opens an existing replica database.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/databaseMissing`` when there is no file at `path` (the
    ///   file is never created here), ``ReplicaStoreError/Code-swift.struct/notInitialized`` when it holds no
    ///   replica identity.
    public static func open(at path: String, configuration: Configuration = Configuration()) throws -> ReplicaStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ReplicaStoreError(code: .databaseMissing, message: "no database at \(path)")
        }
        let (pool, checkpointer) = try openPool(at: path, configuration: configuration)
        let identity: ReplicaIdentity
        do {
            guard let row = try pool.read({ db in try Row.fetchOne(db, sql: "SELECT * FROM replica") }) else {
                throw ReplicaStoreError(code: .notInitialized, message: "\(path) holds no replica identity")
            }
            identity = try Self.identity(from: row, path: path)
        } catch let error as DatabaseError {
            throw storageError(error, path: path)
        }
        if identity.role == .kiosk {
            // A copy of the kiosk's private key is the kiosk: like ssh with its keys, refuse one others may read.
            try OwnerOnlyFiles.requirePrivate(
                path,
                holding: "kiosk \(identity.replicaID)'s private key",
                alsoFix: [path + "-wal", path + "-shm"]
            )
        }
        return ReplicaStore(
            path: path,
            identity: identity,
            pool: pool,
            checkpointer: checkpointer,
            configuration: configuration
        )
    }

    private static func openPool(
        at path: String,
        configuration: Configuration
    ) throws -> (DatabasePool, BackgroundCheckpointer) {
        var config = GRDB.Configuration()
        config.busyMode = .timeout(configuration.busyTimeout)
        config.prepareDatabase { db in
            // WAL's default (NORMAL) may lose the last commits on power loss; FULL syncs every commit, which is
            // what lets a command report success only once its data is durable.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // `returnsync_rows(?)`, which a server's push writes its projection rows through (WriteContext).
            let registered = returnsync_rows_register(db.sqliteConnection)
            guard registered == SQLITE_OK else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: registered),
                    message: "registering returnsync_rows"
                )
            }
            if let cacheSizeKiB = configuration.cacheSizeKiB {
                try db.execute(sql: "PRAGMA cache_size = -\(cacheSizeKiB)")
            }
            if let maximumSize = configuration.maximumSize {
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(1, maximumSize / pageSize))")
            }
        }
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            // GRDB's pool switches its writer to WAL with `synchronous = NORMAL` *after* `prepareDatabase` has run
            // (Database.setUpWALMode), and NORMAL in WAL mode does not sync a commit: the last acknowledged
            // commits would be lost on power loss. The writer is the only connection that commits, and it stays
            // open for the pool's life, so setting it here holds for every write.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            // Replaces SQLite's automatic checkpoint, a hook on the connection that commits: the writer's.
            let checkpointer = BackgroundCheckpointer(
                path: path,
                pages: Int32(clamping: configuration.checkpointPages ?? 1_000)
            )
            pool.writeWithoutTransaction { db in checkpointer.install(on: db) }
            if configuration.statementJournalInMemory {
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA temp_store = MEMORY") }
            }
            // A database a newer version migrated (after a rollback, say) may hold what this version does not know
            // how to keep: refuse it rather than write to it.
            if try pool.read(migrator.hasBeenSuperseded) {
                throw ReplicaStoreError(
                    code: .storage,
                    message:
                        "\(path) was written by a newer version of ReturnSync; run that version, or restore a backup"
                )
            }
            // A pull killed midway left the projection's indexes to build: built before anything reads or migrates.
            if try pool.read(hasDeferredIndexes) {
                _ = try pool.write(restoreDeferredIndexes)
            }
            if let announce = configuration.announceMigration,
                let plan = try pool.read({ try Self.migrationPlan(migrator, $0, path: path) })
            {
                announce(plan)
            }
            try migrator.migrate(pool)
            return (pool, checkpointer)
        } catch let error as DatabaseError {
            throw storageError(error, path: path)
        }
    }

    private static func identity(from row: Row, path: String) throws -> ReplicaIdentity {
        do {
            let role = ReplicaIdentity.Role(rawValue: row["role"]) ?? .kiosk
            return ReplicaIdentity(
                replicaID: try ReplicaID(row["replica_id"]),
                role: role,
                storeID: try (row["store_id"] as String?).map(StoreID.init),
                kioskID: try (row["kiosk_id"] as String?).map(KioskID.init),
                createdAt: Date(millisecondsSince1970: row["created_at"])
            )
        } catch {
            throw ReplicaStoreError(
                code: .notInitialized,
                message: "\(path) holds a corrupt replica identity: \(error)"
            )
        }
    }

    /// A storage failure in words an operator can act on; SQLite's own message follows in parentheses.
    ///
    /// Every write is one transaction, so whatever the failure, the operation stored nothing.
    static func storageError(_ error: DatabaseError, path: String) -> ReplicaStoreError {
        let detail = error.message ?? "SQLite error \(error.extendedResultCode.rawValue)"
        let advice: String
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            advice =
                "is locked by another process that did not finish in time; nothing was stored, retry when it is done"
        case .SQLITE_FULL:
            advice =
                "is full (no space left on the disk, or the configured size limit reached); nothing was stored, "
                + "free some space and retry"
        case .SQLITE_READONLY:
            advice = "is read-only (file or directory permissions, or a read-only filesystem); nothing was stored"
        case .SQLITE_CANTOPEN, .SQLITE_PERM:
            advice = "cannot be opened for writing (check the permissions of the file and its directory)"
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            advice = "is damaged or not a ReturnSync database; restore it from a backup"
        case .SQLITE_IOERR:
            advice = "could not be read or written (I/O error); check the disk; nothing was stored"
        default:
            advice = "failed"
        }
        return ReplicaStoreError(code: .storage, message: "database \(path) \(advice) (\(detail))", cause: error)
    }

    /// Reads a record stored in its JSON form.
    static func decodeRecord(_ json: String) throws -> VersionedRecord {
        try VersionedRecord(jsonValue: JSONValue.parse(json))
    }

    // MARK: Transactions

    /// How a write transaction reaches the disk.
    enum CommitDurability {
        /// Synced at commit (`synchronous = FULL`): what every capture, edit and acknowledged push needs.
        case synced
        /// Committed without its own sync (`synchronous = NORMAL`): for bookkeeping whose loss on a power cut
        /// harms nothing, such as the time of a sync that changed nothing, and for a server's group whose caller
        /// syncs the log itself before acknowledging anything (``commitGroup(_:syncingLater:)``, ``syncLog()``).
        /// The WAL keeps commits in order, so the next synced commit (or checkpoint, or ``syncLog()``) makes it
        /// durable together with everything before it.
        case deferred
    }

    /// Runs `body` in one write transaction with the replica's hybrid logical clock loaded, and persists the
    /// clock with the changes. Returns once the transaction is committed — durably, unless `durability` says
    /// `.deferred`.
    func write<T>(durability: CommitDurability = .synced, _ body: (inout WriteContext) throws -> T) throws -> T {
        func transaction(_ db: Database) throws -> T {
            // Cached, as the statements below: every write runs them (a capture, a push, an idle sync's note).
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT hlc_physical, hlc_logical, clock_offset_ms FROM replica")
            )
            // Clamped: a clock stored past the largest stamp (possible before stamps were bounded) must not
            // fail every write, the repair of the clock included.
            let latest = HLCTimestamp(
                uncheckedPhysicalClamped: row?["hlc_physical"] ?? Int64(0),
                logical: row?["hlc_logical"] ?? Int64(0)
            )
            var context = WriteContext(
                db: db,
                store: self,
                hlc: HybridLogicalClock(latest: latest),
                wallClock: Self.corrected(now(), by: row?["clock_offset_ms"] ?? 0)
            )
            let result = try body(&context)
            if context.hlc.latest != latest {
                try db.cachedStatement(sql: "UPDATE replica SET hlc_physical = ?, hlc_logical = ?").execute(
                    arguments: [Int64(context.hlc.latest.physical), Int64(context.hlc.latest.logical)]
                )
            }
            return result
        }
        do {
            switch durability {
            case .synced:
                return try pool.write(transaction)
            case .deferred:
                return try pool.writeWithoutTransaction { db in
                    // The level can only change outside a transaction, and must be FULL again before the writer
                    // serves anything else: a failure to restore it is thrown, never ignored.
                    try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                    let result = Result {
                        var value: T?
                        try db.inTransaction {
                            value = try transaction(db)
                            return .commit
                        }
                        return value!
                    }
                    try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
                    return try result.get()
                }
            }
        } catch let error as DatabaseError {
            throw Self.storageError(error, path: path)
        }
    }

    /// Runs `body` in a read transaction: a consistent snapshot, even while other processes write.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch let error as DatabaseError {
            throw Self.storageError(error, path: path)
        }
    }
}
