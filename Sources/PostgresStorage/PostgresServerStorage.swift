import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnsModel
import ReturnsServer
import SyncEngine

/// The central server's storage on PostgreSQL (issue 17, in progress): several `serve` processes on one database.
///
/// What it holds so far: the server's identity, enrollment tokens and enrolled kiosks, with the same rules as the
/// SQLite store — a token redeemed once however many processes try at once (the row is locked while it is checked),
/// a newer token replacing older ones, revocation. Pushes and the change feed come next; until then they throw
/// ``PostgresStorageError`` and `serve` does not accept a PostgreSQL URL.
///
/// The client's connection pool runs while the storage is open: ``open(_:logger:)`` starts it, ``close()`` ends it.
public final class PostgresServerStorage: SyncServerStorage {
    public let serverReplicaID: ReplicaID
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private let logger: Logger
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
    public static func open(_ url: PostgresURL, logger: Logger) async throws -> PostgresServerStorage {
        // One connection first, so a wrong host, port, password or database is said at once and plainly (the pool
        // would retry for a minute and then report a tripped circuit breaker).
        do {
            let probe = try await PostgresConnection.connect(
                configuration: url.connectionConfiguration(),
                id: 0,
                logger: logger
            )
            try await probe.close()
        } catch {
            throw Self.described(error, url: url)
        }
        let client = PostgresClient(configuration: url.configuration(), backgroundLogger: logger)
        let running = Task { await client.run() }
        do {
            try await PostgresMigrations.migrate(client, logger: logger)
            let rows = try await client.query(
                """
                INSERT INTO server_identity (singleton, replica_id) VALUES (true, 'hq')
                ON CONFLICT (singleton) DO UPDATE SET replica_id = server_identity.replica_id
                RETURNING replica_id
                """,
                logger: logger
            )
            var serverID = "hq"
            for try await (id) in rows.decode(String.self) { serverID = id }
            return PostgresServerStorage(
                url: url,
                client: client,
                running: running,
                serverID: try ReplicaID(serverID),
                logger: logger
            )
        } catch {
            running.cancel()
            await running.value
            throw Self.described(error, url: url)
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

    /// Runs `body` in one transaction; errors come out described.
    private func transaction<T: Sendable>(
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger, body)
        } catch let error as PostgresTransactionError {
            if let refused = error.closureError as? EnrollmentRefused { throw refused }
            throw Self.described(error.closureError ?? error.beginError ?? error.commitError ?? error, url: url)
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
        do {
            let rows = try await client.query(
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

    public func redeemEnrollment(
        store: StoreID,
        kiosk: KioskID,
        publicKey: Data,
        proves: @escaping @Sendable (_ tokenKey: Data) -> Bool
    ) async throws {
        let (storeText, kioskText) = (store.rawValue, kiosk.rawValue)
        try await transaction { connection in
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
        try await transaction { connection in
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
        do {
            let rows = try await client.query(
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

    public func serverIdentitySeed() async throws -> Data {
        var generator = SystemRandomNumberGenerator()
        let fresh = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        do {
            // Made by whichever process asks first; every other one reads that one.
            let rows = try await client.query(
                "UPDATE server_identity SET seed = coalesce(seed, \(fresh)) RETURNING seed",
                logger: logger
            )
            for try await (seed) in rows.decode(Data.self) { return seed }
            throw PostgresStorageError("the server identity row is missing from \(url)")
        } catch {
            throw Self.described(error, url: url)
        }
    }

    public func acceptPush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID
    ) async throws -> PushOutcome {
        throw Self.notYet("pushes")
    }

    public func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?
    ) async throws -> (records: [String], next: Int64, more: Bool) {
        throw Self.notYet("the change feed")
    }

    public func feedEstimate(store: StoreID, after cursor: Int64) async throws -> Int {
        throw Self.notYet("the change feed")
    }

    public func noteSync(of replicaID: String) async throws {
        guard let (store, kiosk) = Self.kiosk(replicaID) else { return }
        do {
            try await client.query(
                "UPDATE kiosks SET last_sync_at = \(Date()) WHERE store_id = \(store) AND kiosk_id = \(kiosk)",
                logger: logger
            )
        } catch {
            throw Self.described(error, url: url)
        }
    }

    public func lastChangeSeq() async throws -> Int64 {
        throw Self.notYet("the change feed")
    }

    public func storageSize() async throws -> Int64 {
        do {
            let rows = try await client.query("SELECT pg_database_size(current_database())", logger: logger)
            for try await (size) in rows.decode(Int64.self) { return size }
            return 0
        } catch {
            throw Self.described(error, url: url)
        }
    }

    private static func notYet(_ what: String) -> PostgresStorageError {
        PostgresStorageError("\(what) on PostgreSQL are not built yet (issue 17): serve from a SQLite database")
    }
}
