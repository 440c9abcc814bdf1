import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncCore
import SyncEngine
import Synchronization

/// The central server's storage on PostgreSQL: several `serve` processes on one database.
///
/// It holds what the SQLite store holds, with the same rules: the server's identity, enrollment tokens and enrolled
/// kiosks — a token redeemed once however many processes try at once (the row is locked while it is checked), a
/// newer token replacing older ones, revocation — pushed returns with each store's change feed, HQ's edits, order
/// lines, and recalls and policies, which every store's feed receives. Pushes run ``PushRules`` over a
/// ``BufferedPushTransaction`` of what the transaction read first, then store what it accepted. A store's feed
/// positions are handed out under a lock on the store's feed head, so they follow commit order and a reader never
/// moves past a change that commits later; different stores do not wait for each other. A record of one store
/// keeps its position in that store's feed on its own row (`records.seq`); those every store receives have a row in
/// `global_feed` for each store.
///
/// Changes are announced with `NOTIFY` at commit (``watchChanges(_:)``), so every process wakes its watching kiosks.
/// Returns are projected as on SQLite (the `returns` table), so HQ's reports run the same statements here
/// (``ReportSource``). `migrate` fills a database from a SQLite server (``importServer(from:progress:)``), and
/// ``retireServerID()`` follows a restore.
///
/// HQ re-verifies purchases after pushes, orders imports and its own edits, over facts read first
/// (``PurchaseReverification``).
///
/// The client's connection pool runs while the storage is open: ``open(_:logger:)`` starts it, ``close()`` ends it.
public final class PostgresServerStorage: SyncServerStorage, KioskAdministration, ReportSource {
    public let serverReplicaID: ReplicaID
    let client: PostgresClient
    private let running: Task<Void, Never>
    let logger: Logger
    /// When a call last got a connection: while calls keep getting them, the database is there, only busy.
    private let leases = LeaseClock()
    /// The database, as named (password hidden), for messages.
    public let url: PostgresURL

    private init(
        url: PostgresURL,
        client: PostgresClient,
        running: Task<Void, Never>,
        serverID: ReplicaID,
        logger: Logger
    ) {
        self.url = url
        self.client = client
        self.running = running
        self.serverReplicaID = serverID
        self.logger = logger
    }

    /// Connects to the database `url` names, brings its schema up to date (``PostgresMigrations``) and reads the
    /// server's id, made `hq` on first use.
    ///
    /// - Throws: ``PostgresStorageError`` in one line: the server cannot be reached, refuses the credentials, has no
    ///   such database, or was migrated by a newer version.
    ///
    /// - Parameters:
    ///   - applicationName: how its connections are named in `pg_stat_activity`; ``serverApplicationName`` for a
    ///     server's own connections, which `restore` looks for.
    ///   - announceMigration: told what will be migrated, and about how long it will take, before it starts.
    public static func open(
        _ url: PostgresURL,
        applicationName: String = serverApplicationName,
        logger: Logger,
        announceMigration: (@Sendable (MigrationPlan) -> Void)? = nil
    ) async throws -> PostgresServerStorage {
        // One connection first, so a wrong host, port, password or database is said at once and plainly (the pool
        // would retry for a minute and then report a tripped circuit breaker). It also migrates and reads the id,
        // before the pool runs.
        let serverID: ReplicaID
        do {
            var configuration = try url.connectionConfiguration()
            configuration.options.additionalStartupParameters = Self.startupParameters(applicationName)
            let probe = try await PostgresConnection.connect(
                configuration: configuration,
                id: 0,
                logger: logger
            )
            do {
                try await PostgresMigrations.migrate(
                    probe,
                    database: url.database,
                    logger: logger,
                    announce: announceMigration
                )
                try await Self.projectReturnsIfPending(probe, logger: logger)
                let rows = try await probe.query(
                    """
                    INSERT INTO server_identity (singleton, replica_id) VALUES (true, 'hq')
                    ON CONFLICT (singleton) DO UPDATE SET replica_id = server_identity.replica_id
                    RETURNING replica_id
                    """,
                    logger: logger
                )
                var id = "hq"
                for try await (value) in rows.decode(String.self) { id = value }
                serverID = try ReplicaID(id)
            } catch {
                try? await probe.close()
                throw error
            }
            try await probe.close()
        } catch {
            throw Self.described(error, url: url)
        }
        var configuration = url.configuration()
        configuration.options.additionalStartupParameters = Self.startupParameters(applicationName)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let running = Task { await client.run() }
        return PostgresServerStorage(url: url, client: client, running: running, serverID: serverID, logger: logger)
    }

    /// What every connection asks for at start-up: its name in `pg_stat_activity`, and `synchronous_commit = on`.
    ///
    /// A push is acknowledged once its transaction commits, so the commit must be durable: with
    /// `synchronous_commit = off` — a common tuning, set for a database or a role without ReturnSync knowing —
    /// PostgreSQL reports a commit before its WAL is flushed, and a crash loses acknowledged pushes. `on` also waits
    /// for synchronous standbys' flush when `synchronous_standby_names` is set (Server/README.md).
    static func startupParameters(_ applicationName: String) -> [(String, String)] {
        [("application_name", applicationName), ("synchronous_commit", "on")]
    }

    /// Stores the `returns` projection rows of `returns`, each the return a stored record shows, replacing older ones:
    /// one statement whatever their number (the rows travel as one JSON array, which also carries their NULLs).
    static func project(
        _ returns: [(item: ProductReturn, record: VersionedRecord)],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        guard !returns.isEmpty else { return }
        let rows = JSONValue.array(
            returns.map { item, record in
                let row = ReturnProjection(
                    item,
                    inConflict: record.hasOpenConflicts,
                    updatedAt: record.latestStamp.map { Int64($0.physical) }
                )
                return .object(
                    Dictionary(
                        uniqueKeysWithValues: zip(ReturnProjection.names, row.values).map { name, value in
                            switch value {
                            case .text(let text): return (name, text.map(JSONValue.string) ?? .null)
                            case .integer(let number): return (name, number.map(JSONValue.integer) ?? .null)
                            case .flag(let flag): return (name, .bool(flag))
                            }
                        }
                    )
                )
            }
        ).serializedString
        try await connection.query(
            """
            INSERT INTO returns SELECT * FROM json_populate_recordset(NULL::returns, \(rows)::json)
            ON CONFLICT (store_id, id) DO UPDATE SET \(unescaped: projectionUpdate)
            """,
            logger: logger
        )
        // Which returns name which attachment (grow-only, like the set).
        let named = returns.flatMap { item, _ in
            item.attachments.map { attachment in
                JSONValue.object([
                    "digest": .string(attachment.digest), "store_id": .string(item.storeID.rawValue),
                    "return_id": .string(item.id.rawValue), "media_type": .string(attachment.mediaType.rawValue),
                    "size": .integer(attachment.size),
                ])
            }
        }
        guard !named.isEmpty else { return }
        let namedJSON = JSONValue.array(named).serializedString
        try await connection.query(
            """
            INSERT INTO return_attachments
            SELECT * FROM json_populate_recordset(NULL::return_attachments, \(namedJSON)::json)
            ON CONFLICT DO NOTHING
            """,
            logger: logger
        )
    }

    /// `(kiosk_id, …) = (excluded.kiosk_id, …)`: every column but the key.
    private static let projectionUpdate: String = {
        let columns = ReturnProjection.names.filter { $0 != "id" && $0 != "store_id" }
        return "(\(columns.joined(separator: ", "))) = (\(columns.map { "excluded.\($0)" }.joined(separator: ", ")))"
    }()

    /// Projects the returns stored before the projection existed, once: the first process to open the database does
    /// it (the task's row is locked meanwhile, so another process starting waits and then finds it done).
    static func projectReturnsIfPending(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            var pending = false
            for try await (_) in try await connection.query(
                "DELETE FROM returnsync_pending WHERE task = 'project-returns' RETURNING task",
                logger: logger
            ).decode(String.self) { pending = true }
            guard pending else { return }
            var after = ("", "")
            while true {
                var page: [(item: ProductReturn, record: VersionedRecord)] = []
                var last = after
                for try await (store, id, json) in try await connection.query(
                    """
                    SELECT store_id, id, record FROM records WHERE entity_type = 'return' AND (store_id, id) > (\(after.0), \(after.1))
                    ORDER BY store_id, id LIMIT 1000
                    """,
                    logger: logger
                ).decode((String, String, String).self) {
                    let record = try VersionedRecord(jsonValue: JSONValue.parse(json))
                    page.append((try ProductReturn(record: record), record))
                    last = (store, id)
                }
                guard !page.isEmpty else { return }
                try await project(page, on: connection, logger: logger)
                after = last
            }
        }
    }

    /// Runs report statements in one read-only transaction that sees one snapshot (`REPEATABLE READ`), so every
    /// number of a report agrees with every other while kiosks keep pushing.
    public func readReport(_ statements: [String: String]) async throws -> [String: [ReportRow]] {
        let logger = self.logger
        return try await transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var results: [String: [ReportRow]] = [:]
            for (name, sql) in statements {
                results[name] = try await Self.rows(PostgresQuery(unsafeSQL: sql), on: connection, logger: logger)
            }
            return results
        }
    }

    public func reportTime() -> Date { Date() }

    /// A report cell from a PostgreSQL one: the statements cast their numbers to `bigint` or `double precision`.
    static func reportCell(_ cell: PostgresCell) throws -> ReportCell {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int8, .int4, .int2: return .integer(try cell.decode(Int64.self))
        case .float8, .float4: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        default: return .text(try cell.decode(String.self))
        }
    }

    /// Ends the connection pool.
    public func close() async {
        running.cancel()
        await running.value
    }

    /// A PostgresNIO error as one line naming the database, never the password.
    static func described(_ error: any Error, url: PostgresURL) -> PostgresStorageError {
        if let error = error as? PostgresStorageError { return error }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return PostgresStorageError("PostgreSQL at \(url.host):\(url.port) refused: \(message)", cause: error)
            }
            let underlying = error.underlying.map { " (\($0))" } ?? ""
            return PostgresStorageError(
                "cannot reach PostgreSQL at \(url.host):\(url.port)\(underlying): is it running, and does it accept "
                    + "connections from here?",
                cause: error
            )
        }
        return PostgresStorageError("PostgreSQL at \(url.host):\(url.port) failed: \(error)", cause: error)
    }

    /// How long a storage call waits for a connection while no other call got one either. Past it the call fails,
    /// so a kiosk is told to try later while the database is away (the pool reconnects meanwhile) instead of waiting
    /// past its handshake deadline. Only the wait for a connection is bounded: a busy database that answers, slowly
    /// or after a lock, is waited for.
    static let patience: Duration = .seconds(5)

    /// How long a call waits for a connection while others keep getting theirs: the database is there, and every
    /// connection of the pool busy (a thousand kiosks syncing at once through twenty connections). Failing such a
    /// call after ``patience`` would turn load into errors the kiosk must retry.
    static let busyPatience: Duration = .seconds(30)

    /// Runs `body` on a connection of the pool, failing when none comes within ``patience`` — or, while other calls
    /// are leasing connections meanwhile, within ``busyPatience``.
    func bounded<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let url = self.url
        let client = self.client
        let leases = self.leases
        let leased = Leased()
        let asked = ContinuousClock.now
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    leased.mark()
                    leases.mark()
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: Self.patience)
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let value = result { return value }
                // The timer: fatal only while no connection came.
                guard !leased.happened else { continue }
                let lastLease = leases.last
                let now = ContinuousClock.now
                if let lastLease, now - lastLease < Self.patience, now - asked < Self.busyPatience {
                    group.addTask {
                        try await Task.sleep(for: Self.patience)
                        return nil
                    }
                    continue
                }
                throw PostgresStorageError(
                    "PostgreSQL at \(url.host):\(url.port) did not answer within "
                        + "\((now - asked).components.seconds) s: is it running?"
                )
            }
            throw CancellationError()
        }
    }

    /// Runs `body` in one transaction (a connection within ``patience``); errors come out described.
    func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await bounded { [logger] connection in
                try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as PostgresTransactionError {
            // What the transaction's own code threw passes as it is (a refusal the server answers the kiosk, a
            // lifecycle rule HQ's command prints); PostgreSQL's errors are put in words.
            if let thrown = error.closureError, !(thrown is PSQLError) { throw thrown }
            throw Self.described(error.closureError ?? error.beginError ?? error.commitError ?? error, url: url)
        } catch let error as PostgresStorageError {
            throw error
        } catch {
            throw Self.described(error, url: url)
        }
    }

    private static func kiosk(_ replicaID: String) -> (store: String, kiosk: String)? {
        let parts = replicaID.split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    // MARK: SyncServerStorage

    public func enrolledKiosk(_ replicaID: String) async throws -> KioskEnrollment? {
        guard let (store, kiosk) = Self.kiosk(replicaID) else { return nil }
        return try await bounded { [self] connection in
            do {
                let rows = try await connection.query(
                    """
                    SELECT public_key, enrolled_at, last_sync_at, revoked_at FROM kiosks
                    WHERE store_id = \(store) AND kiosk_id = \(kiosk)
                    """,
                    logger: logger
                )
                for try await (key, enrolled, synced, revoked) in rows.decode((Data, Date, Date?, Date?).self) {
                    return KioskEnrollment(
                        replicaID: replicaID,
                        storeID: store,
                        kioskID: kiosk,
                        publicKey: key,
                        enrolledAt: enrolled,
                        lastSyncAt: synced,
                        revokedAt: revoked
                    )
                }
                return nil
            } catch {
                throw Self.described(error, url: url)
            }
        }
    }

    public func redeemEnrollment(
        store: StoreID,
        kiosk: KioskID,
        publicKey: Data,
        proves: @escaping @Sendable (_ tokenKey: Data) -> Bool
    ) async throws {
        let (storeText, kioskText) = (store.rawValue, kiosk.rawValue)
        try await transaction { [self] connection in
            let now = Date()
            // Locked until commit: a second process redeeming the same token waits, then finds it used.
            let rows = try await connection.query(
                """
                SELECT token_hash, token_key, expires_at FROM enrollments
                WHERE store_id = \(storeText) AND kiosk_id = \(kioskText) AND used_at IS NULL AND revoked_at IS NULL
                ORDER BY created_at DESC
                FOR UPDATE
                """,
                logger: logger
            )
            var pending: [(hash: String, key: Data, expires: Date)] = []
            for try await row in rows.decode((String, Data, Date).self) { pending.append(row) }
            guard let token = pending.first else {
                throw EnrollmentRefused(
                    "no enrollment token is waiting for kiosk \(store)/\(kiosk) (unknown, used or replaced)"
                )
            }
            guard token.expires > now else {
                throw EnrollmentRefused("the enrollment token of kiosk \(store)/\(kiosk) has expired: issue a new one")
            }
            guard proves(token.key) else {
                throw EnrollmentRefused("the enrollment proof of kiosk \(store)/\(kiosk) does not match its token")
            }
            try await connection.query(
                """
                UPDATE enrollments SET used_at = \(now)
                WHERE store_id = \(storeText) AND kiosk_id = \(kioskText) AND token_hash = \(token.hash)
                """,
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO kiosks (store_id, kiosk_id, public_key, enrolled_at)
                VALUES (\(storeText), \(kioskText), \(publicKey), \(now))
                ON CONFLICT (store_id, kiosk_id) DO UPDATE
                SET public_key = excluded.public_key, enrolled_at = excluded.enrolled_at, revoked_at = NULL
                """,
                logger: logger
            )
            // A new store's feed starts here, with every recall and policy: its first kiosk pulls them at once,
            // before the store has written anything.
            _ = try await Self.lockFeedHead(of: storeText, on: connection, logger: logger)
        }
    }

    public func createEnrollment(
        tokenHash: String,
        tokenKey: Data,
        store: StoreID,
        kiosk: KioskID,
        expiresAt: Date
    ) async throws {
        let (storeText, kioskText) = (store.rawValue, kiosk.rawValue)
        try await transaction { [self] connection in
            let now = Date()
            // Two tokens for one kiosk are never both accepted: the newer replaces the older.
            try await connection.query(
                """
                UPDATE enrollments SET revoked_at = \(now)
                WHERE store_id = \(storeText) AND kiosk_id = \(kioskText) AND used_at IS NULL AND revoked_at IS NULL
                """,
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO enrollments (store_id, kiosk_id, token_hash, token_key, created_at, expires_at)
                VALUES (\(storeText), \(kioskText), \(tokenHash), \(tokenKey), \(now), \(expiresAt))
                """,
                logger: logger
            )
        }
    }

    public func revokedKiosks() async throws -> Set<String> {
        try await bounded { [self] connection in
            do {
                let rows = try await connection.query(
                    "SELECT store_id || '/' || kiosk_id FROM kiosks WHERE revoked_at IS NOT NULL",
                    logger: logger
                )
                var revoked = Set<String>()
                for try await (id) in rows.decode(String.self) { revoked.insert(id) }
                return revoked
            } catch {
                throw Self.described(error, url: url)
            }
        }
    }

    public func serverIdentitySeed() async throws -> Data {
        var generator = SystemRandomNumberGenerator()
        let fresh = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return try await bounded { [self] connection in
            do {
                // Made by whichever process asks first; every other one reads that one.
                let rows = try await connection.query(
                    "UPDATE server_identity SET seed = coalesce(seed, \(fresh)) RETURNING seed",
                    logger: logger
                )
                for try await (seed) in rows.decode(Data.self) { return seed }
                throw PostgresStorageError("the server identity row is missing from \(url)")
            } catch {
                throw Self.described(error, url: url)
            }
        }
    }

    public func acceptPush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID
    ) async throws -> PushOutcome {
        let storeText = store.rawValue
        let serverID = serverReplicaID
        let logger = self.logger
        return try await transaction { connection in
            // The store's feed head, locked until commit: this store's writers go one at a time, so its feed
            // positions follow commit order. Other stores' pushes do not wait.
            var head = try await Self.lockFeedHead(of: storeText, on: connection, logger: logger)
            // What the rules ask about, read first: the stored versions (by id, whatever their store: a
            // return of another store is refused, not shadowed) and the store's kiosks.
            let ids = Array(Set(records.map(\.id)))
            var stored: [String: VersionedRecord] = [:]
            for try await (json) in try await connection.query(
                "SELECT record FROM records WHERE entity_type = 'return' AND id = ANY(\(ids))",
                logger: logger
            ).decode(String.self) {
                let record = try VersionedRecord(jsonValue: JSONValue.parse(json))
                stored[record.id] = record
            }
            // In one round trip: the store's kiosks and the server's former ids (for the rules), the policies and
            // whether HQ holds orders (for re-verification after).
            var kiosks = Set<String>()
            var formerServerIDs = Set<String>()
            var referenceRows: [(kind: String, value: String)] = []
            for try await (kind, value) in try await connection.query(
                """
                SELECT 'kiosk', store_id || '/' || kiosk_id FROM kiosks WHERE store_id = \(storeText)
                UNION ALL SELECT 'former', replica_id FROM former_server_ids
                UNION ALL \(unescaped: PurchaseReference.rows)
                """,
                logger: logger
            ).decode((String, String).self) {
                switch kind {
                case "kiosk": kiosks.insert(value)
                case "former": formerServerIDs.insert(value)
                default: referenceRows.append((kind, value))
                }
            }
            let reference = try PurchaseReference(referenceRows)
            var buffered = BufferedPushTransaction(
                serverID: serverID,
                formerServerIDs: formerServerIDs,
                kiosksOfStore: kiosks,
                stored: stored,
                wallClock: UInt64(max(0, Date().millisecondsSince1970))
            )
            let result = try PushRules.accept(records, from: pusher, store: store, in: &buffered)
            let now = Date()
            // Every accepted version in a few statements, whatever the batch's size: one round trip each, not two
            // per record. Feed positions follow the order the rules accepted the records in.
            let writes = buffered.writes
            if !writes.isEmpty {
                let ids = writes.map(\.record.id)
                let jsons = writes.map(\.record.jsonString)
                let positions = writes.indices.map { head + 1 + Int64($0) }
                // No replica id is empty: '' stands for "no source" in the array, NULL in the row.
                let sources = writes.map { $0.source?.rawValue ?? "" }
                head += Int64(writes.count)
                // Each record with its place in the store's feed (the record's own columns: a return is in its
                // store's feed alone).
                try await connection.query(
                    """
                    INSERT INTO records (store_id, entity_type, id, record, seq, source)
                    SELECT \(storeText), 'return', w.id, w.record, w.seq, nullif(w.source, '')
                    FROM unnest(\(ids)::text[], \(jsons)::text[], \(positions)::bigint[], \(sources)::text[])
                        AS w(id, record, seq, source)
                    ON CONFLICT (store_id, entity_type, id)
                    DO UPDATE SET record = excluded.record, seq = excluded.seq, source = excluded.source
                    """,
                    logger: logger
                )
                try await Self.project(writes.map { ($0.item, $0.record) }, on: connection, logger: logger)
                try await Self.keep(writes.flatMap(\.superseded), on: connection, logger: logger)
                let conflicts = writes.flatMap { write in write.detected.map { (write.record.id, $0) } }
                if !conflicts.isEmpty {
                    let recordIDs = conflicts.map(\.0)
                    let fields = conflicts.map(\.1.field)
                    let values = conflicts.map { JSONValue.array($0.1.values.map(\.jsonValue)).serializedString }
                    let winners = conflicts.map(\.1.winner.jsonValue.serializedString)
                    let detectedBy = serverID.rawValue
                    try await connection.query(
                        """
                        INSERT INTO conflicts
                            (store_id, entity_type, record_id, field, "values", winner, detected_at, detected_by)
                        SELECT \(storeText), 'return', c.id, c.field, c.vals, c.winner, \(now), \(detectedBy)
                        FROM unnest(\(recordIDs)::text[], \(fields)::text[], \(values)::text[], \(winners)::text[])
                            AS c(id, field, vals, winner)
                        """,
                        logger: logger
                    )
                }
            }
            try await connection.query(
                "UPDATE feed_heads SET last_seq = \(head) WHERE store_id = \(storeText)",
                logger: logger
            )
            // Delivered at commit, to every process listening: their watching kiosks of this store pull at once.
            if !buffered.writes.isEmpty {
                try await connection.query("SELECT pg_notify(\(Self.changesChannel), \(storeText))", logger: logger)
                // HQ checks the purchases of what changed again (its own edits follow, in this transaction).
                try await Self.reverify(
                    sharingPurchaseWith: buffered.writes.map { ReturnFacts($0.item) },
                    reference: reference,
                    on: connection,
                    serverID: serverID,
                    logger: logger
                )
            }
            return PushOutcome(merged: result.merged, unchanged: result.unchanged, conflicts: result.conflicts)
        }
    }

    public func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?
    ) async throws -> (records: [String], next: Int64, more: Bool) {
        let storeText = store.rawValue
        let requesterText = requester?.rawValue
        let logger = self.logger
        let (rows, latest) = try await transaction { connection in
            // One snapshot for the page and the head: every change up to the head is in the page or not this
            // store's (nor the requester's to receive).
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            // Order lines sold before the longest window that governs the store are left out (FeedRules).
            var policies: [ReturnPolicy] = []
            for try await (json) in try await connection.query(
                "SELECT record FROM records WHERE store_id = '' AND entity_type = 'policy'",
                logger: logger
            ).decode(String.self) {
                if let policy = try PolicyEntity.returnPolicy(from: VersionedRecord(jsonValue: JSONValue.parse(json))) {
                    policies.append(policy)
                }
            }
            let windowDays = FeedRules.orderWindowDays(policies: policies, store: store)
            let soldSince = Date().millisecondsSince1970 - Int64(windowDays) * 86_400_000
            var rows: [(Int64, String)] = []
            // The store's own records (their places kept on them), and those every store receives (`global_feed`):
            // each part read in order up to the page's size, the two merged.
            for try await row in try await connection.query(
                """
                (SELECT r.seq, r.record FROM records r
                 LEFT JOIN orders o ON r.entity_type = 'order' AND o.store_id = r.store_id AND o.record_id = r.id
                 WHERE r.store_id = \(storeText) AND r.seq > \(cursor)
                   AND (r.entity_type <> 'order' OR o.sold_at >= \(soldSince))
                   AND (\(requesterText)::text IS NULL OR r.source IS NULL OR r.source <> \(requesterText))
                 ORDER BY r.seq LIMIT \(limit + 1))
                UNION ALL
                (SELECT f.seq, r.record FROM global_feed f
                 JOIN records r ON r.store_id = '' AND r.entity_type = f.entity_type AND r.id = f.id
                 WHERE f.store_id = \(storeText) AND f.seq > \(cursor)
                 ORDER BY f.seq LIMIT \(limit + 1))
                ORDER BY 1 LIMIT \(limit + 1)
                """,
                logger: logger
            ).decode((Int64, String).self) { rows.append(row) }
            var latest: Int64 = 0
            for try await (seq) in try await connection.query(
                "SELECT last_seq FROM feed_heads WHERE store_id = \(storeText)",
                logger: logger
            ).decode(Int64.self) { latest = seq }
            return (rows, latest)
        }
        let more = rows.count > limit
        let page = rows.prefix(limit)
        // The last page moves the cursor to the store's head, past the requester's own pushes: the next sync with
        // nothing new reads nothing.
        return (page.map(\.1), more ? page.last!.0 : max(cursor, latest), more)
    }

    public func feedEstimate(store: StoreID, after cursor: Int64) async throws -> Int {
        let storeText = store.rawValue
        return try await bounded { [self] connection in
            do {
                let rows = try await connection.query(
                    """
                    SELECT (SELECT count(*) FROM records WHERE store_id = \(storeText) AND seq > \(cursor))
                        + (SELECT count(*) FROM global_feed WHERE store_id = \(storeText) AND seq > \(cursor))
                    """,
                    logger: logger
                )
                for try await (count) in rows.decode(Int64.self) { return Int(count) }
                return 0
            } catch {
                throw Self.described(error, url: url)
            }
        }
    }

    public func noteSync(of replicaID: String, protocolVersion: Int) async throws {
        guard let (store, kiosk) = Self.kiosk(replicaID) else { return }
        return try await bounded { [self] connection in
            do {
                try await connection.query(
                    """
                    UPDATE kiosks SET last_sync_at = \(Date()), protocol_version = \(protocolVersion)
                    WHERE store_id = \(store) AND kiosk_id = \(kiosk)
                    """,
                    logger: logger
                )
            } catch {
                throw Self.described(error, url: url)
            }
        }
    }

    public func lastChangeSeq() async throws -> Int64 {
        try await bounded { [self] connection in
            do {
                // Grows with every committed change of any store: enough to learn that something changed.
                let rows = try await connection.query(
                    "SELECT coalesce(sum(last_seq), 0)::bigint FROM feed_heads",
                    logger: logger
                )
                for try await (total) in rows.decode(Int64.self) { return total }
                return 0
            } catch {
                throw Self.described(error, url: url)
            }
        }
    }

    /// How many records of `entityType` the database holds (every store's), for benchmarks and checks.
    public func recordCount(entityType: String) async throws -> Int {
        try await bounded { [logger] connection in
            var count = 0
            for try await (value) in try await connection.query(
                "SELECT count(*) FROM records WHERE entity_type = \(entityType)",
                logger: logger
            ).decode(Int.self) {
                count = value
            }
            return count
        }
    }

    public func enrolledKiosks() async throws -> [KioskEnrollment] {
        try await transaction { [self] connection in
            var kiosks: [KioskEnrollment] = []
            for try await (store, kiosk, key, enrolled, synced, revoked, version) in try await connection.query(
                """
                SELECT store_id, kiosk_id, public_key, enrolled_at, last_sync_at, revoked_at, protocol_version
                FROM kiosks ORDER BY store_id || '/' || kiosk_id
                """,
                logger: logger
            ).decode((String, String, Data, Date, Date?, Date?, Int32?).self) {
                kiosks.append(
                    KioskEnrollment(
                        replicaID: "\(store)/\(kiosk)",
                        storeID: store,
                        kioskID: kiosk,
                        publicKey: key,
                        enrolledAt: enrolled,
                        lastSyncAt: synced,
                        revokedAt: revoked,
                        protocolVersion: version.map(Int.init)
                    )
                )
            }
            return kiosks
        }
    }

    public func revokeKiosk(store: StoreID, kiosk: KioskID) async throws {
        let (storeText, kioskText) = (store.rawValue, kiosk.rawValue)
        try await transaction { [self] connection in
            let now = Date()
            var found = false
            for try await _ in try await connection.query(
                """
                UPDATE kiosks SET revoked_at = coalesce(revoked_at, \(now))
                WHERE store_id = \(storeText) AND kiosk_id = \(kioskText) RETURNING 1
                """,
                logger: logger
            ).decode(Int.self) { found = true }
            guard found else { throw PostgresStorageError("no kiosk \(store)/\(kiosk) is enrolled") }
            try await connection.query(
                """
                UPDATE enrollments SET revoked_at = \(now)
                WHERE store_id = \(storeText) AND kiosk_id = \(kioskText) AND used_at IS NULL AND revoked_at IS NULL
                """,
                logger: logger
            )
        }
    }

    /// The channel every change is announced on, its payload the store.
    static let changesChannel = "returnsync_changes"

    public var notifiesChanges: Bool { true }

    public func watchChanges(_ changed: @escaping @Sendable (_ store: String?) -> Void) async throws {
        // LISTEN on a connection of its own, again after it is lost (notifications meanwhile are lost with it, so
        // every watcher checks its feed then).
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.changesChannel) { notifications in
                        changed(nil)
                        // An empty payload: a record every store receives (a recall, a policy).
                        for try await notification in notifications {
                            changed(notification.payload.isEmpty ? nil : notification.payload)
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "PostgreSQL change notifications interrupted; listening again",
                    metadata: ["error": "\(Self.described(error, url: url))"]
                )
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    public func storageSize() async throws -> Int64 {
        try await bounded { [self] connection in
            do {
                let rows = try await connection.query("SELECT pg_database_size(current_database())", logger: logger)
                for try await (size) in rows.decode(Int64.self) { return size }
                return 0
            } catch {
                throw Self.described(error, url: url)
            }
        }
    }
}

/// Whether a call got its connection, shared with the call's timer.
/// When any call last got a connection.
private final class LeaseClock: Sendable {
    private let value = Mutex<ContinuousClock.Instant?>(nil)
    func mark() { value.withLock { $0 = .now } }
    var last: ContinuousClock.Instant? { value.withLock { $0 } }
}

private final class Leased: Sendable {
    private let value = Mutex(false)
    func mark() { value.withLock { $0 = true } }
    var happened: Bool { value.withLock { $0 } }
}
