import Logging
import PostgresNIO
import ReplicaStore

/// The PostgreSQL schema, as named migrations applied in order and recorded in the database (`returnsync_migrations`),
/// like the SQLite side's. A migration, once released, is never edited: a change is a new one.
///
/// Several `serve` processes may start at once: migrating holds a transaction-level advisory lock, so one applies
/// what is missing and the others find it done. A database that records a migration this version does not know was
/// migrated by a newer version, and is refused rather than used half-understood.
///
/// Every table is keyed by store first (where it has one), so the schema can be distributed by `store_id`.
public enum PostgresMigrations {
    /// One migration: its name and its statements, run in one transaction.
    struct Migration: Sendable {
        var name: String
        var statements: [PostgresQuery]
    }

    /// Every migration, in order.
    static let all: [Migration] = [
        Migration(
            name: "2026-12-03-server-identity-and-enrollments",
            statements: [
                """
                CREATE TABLE server_identity (
                    singleton boolean PRIMARY KEY CHECK (singleton),
                    replica_id text NOT NULL,
                    seed bytea CHECK (seed IS NULL OR length(seed) = 32),
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE enrollments (
                    store_id text NOT NULL,
                    kiosk_id text NOT NULL,
                    token_hash text NOT NULL,
                    token_key bytea NOT NULL,
                    created_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL,
                    used_at timestamptz,
                    revoked_at timestamptz,
                    PRIMARY KEY (store_id, kiosk_id, token_hash)
                )
                """,
                """
                CREATE TABLE kiosks (
                    store_id text NOT NULL,
                    kiosk_id text NOT NULL,
                    public_key bytea NOT NULL,
                    enrolled_at timestamptz NOT NULL,
                    last_sync_at timestamptz,
                    revoked_at timestamptz,
                    PRIMARY KEY (store_id, kiosk_id)
                )
                """,
            ]
        ),
        Migration(
            name: "2026-12-03-records-and-store-feeds",
            statements: [
                // Every record once, as stored JSON; a return's id is unique across stores.
                """
                CREATE TABLE records (
                    store_id text NOT NULL,
                    entity_type text NOT NULL,
                    id text NOT NULL,
                    record text NOT NULL,
                    PRIMARY KEY (store_id, entity_type, id)
                )
                """,
                "CREATE UNIQUE INDEX records_by_id ON records (entity_type, id)",
                // Each store's feed position, locked by every transaction that adds to that store's feed: its
                // positions are handed out in commit order, so a reader can never pass one that commits later.
                """
                CREATE TABLE feed_heads (
                    store_id text PRIMARY KEY,
                    last_seq bigint NOT NULL
                )
                """,
                // A store's feed: the latest change of each record it holds, at its position; `source` is the kiosk
                // that pushed exactly what is stored (its own feed leaves it out).
                """
                CREATE TABLE feed (
                    store_id text NOT NULL,
                    seq bigint NOT NULL,
                    entity_type text NOT NULL,
                    record_store text NOT NULL,
                    id text NOT NULL,
                    source text,
                    PRIMARY KEY (store_id, seq)
                )
                """,
                "CREATE UNIQUE INDEX feed_by_record ON feed (store_id, entity_type, record_store, id)",
                """
                CREATE TABLE conflicts (
                    store_id text NOT NULL,
                    entity_type text NOT NULL,
                    record_id text NOT NULL,
                    field text NOT NULL,
                    "values" text NOT NULL,
                    winner text NOT NULL,
                    detected_at timestamptz NOT NULL,
                    detected_by text NOT NULL
                )
                """,
                "CREATE INDEX conflicts_by_record ON conflicts (store_id, entity_type, record_id)",
            ]
        ),
        Migration(
            name: "2026-12-03-former-server-ids",
            statements: [
                // The replica ids the server wrote under before a restore (or before the SQLite server it was
                // migrated from was restored): a push may carry their writes, the server's own.
                """
                CREATE TABLE former_server_ids (
                    replica_id text PRIMARY KEY,
                    retired_at timestamptz NOT NULL
                )
                """
            ]
        ),
        Migration(
            name: "2026-12-03-returns-and-orders-projections",
            statements: [
                // Returns as every replica shows them, the columns and names of the SQLite store's `returns`, so
                // HQ's reports run the same SQL on both (Reports.swift). Text sorts bytewise ("C"), as in SQLite,
                // whatever the database's locale: a report lists its rows in the same order on both.
                """
                CREATE TABLE returns (
                    id text COLLATE "C" NOT NULL,
                    store_id text COLLATE "C" NOT NULL,
                    kiosk_id text COLLATE "C" NOT NULL,
                    order_id text COLLATE "C" NOT NULL,
                    gtin text COLLATE "C" NOT NULL,
                    serial text COLLATE "C",
                    lot text COLLATE "C",
                    quantity bigint NOT NULL,
                    reason text COLLATE "C" NOT NULL,
                    status text COLLATE "C" NOT NULL,
                    condition text COLLATE "C" NOT NULL,
                    test_result text COLLATE "C" NOT NULL,
                    disposition text COLLATE "C" NOT NULL,
                    needs_review boolean NOT NULL,
                    in_conflict boolean NOT NULL,
                    created_at bigint NOT NULL,
                    updated_at bigint NOT NULL,
                    recall_campaign text COLLATE "C",
                    recall_match text COLLATE "C",
                    repair_vendor text COLLATE "C",
                    repair_status text COLLATE "C",
                    repair_turnaround_days bigint,
                    receipt boolean NOT NULL,
                    verification text COLLATE "C",
                    exceptions text COLLATE "C" NOT NULL,
                    awaits_review boolean NOT NULL,
                    review_outcome text COLLATE "C",
                    PRIMARY KEY (store_id, id)
                )
                """,
                "CREATE INDEX returns_by_created_at ON returns (created_at, id)",
                "CREATE INDEX returns_by_order ON returns (order_id, gtin)",
                "CREATE INDEX returns_in_conflict ON returns (created_at, id) WHERE in_conflict",
                "CREATE INDEX returns_awaiting_review ON returns (created_at, id) WHERE awaits_review",
                "CREATE INDEX returns_breaking_rules ON returns (created_at, id) WHERE needs_review",
                // Order lines as HQ imports them (the store that sold each), empty until orders are stored here.
                """
                CREATE TABLE orders (
                    store_id text COLLATE "C" NOT NULL,
                    record_id text COLLATE "C" NOT NULL,
                    order_id text COLLATE "C" NOT NULL,
                    line bigint NOT NULL,
                    gtin text COLLATE "C" NOT NULL,
                    serial text COLLATE "C",
                    quantity bigint NOT NULL,
                    unit_price_cents bigint NOT NULL,
                    sold_at bigint NOT NULL,
                    PRIMARY KEY (store_id, record_id)
                )
                """,
                "CREATE INDEX orders_by_order ON orders (order_id, gtin)",
                // Work a migration leaves to the storage (Swift, not SQL): here, projecting the returns stored
                // before the projection existed. Done once, by the first process to open the database.
                "CREATE TABLE returnsync_pending (task text PRIMARY KEY)",
                "INSERT INTO returnsync_pending (task) VALUES ('project-returns')",
            ]
        ),
        Migration(
            name: "2026-12-03-hq-clock",
            statements: [
                // HQ's hybrid logical clock, for its edits' stamps: kept here so they grow across processes and
                // restarts (each edit locks the row; kiosks' pushes do not touch it).
                """
                ALTER TABLE server_identity ADD COLUMN hlc_physical bigint NOT NULL DEFAULT 0,
                    ADD COLUMN hlc_logical bigint NOT NULL DEFAULT 0
                """,
                // The audit's order, as SQLite's rowid keeps it: `conflicts list` numbers its entries.
                "ALTER TABLE conflicts ADD COLUMN id bigserial",
                "CREATE UNIQUE INDEX conflicts_by_id ON conflicts (id)",
            ]
        ),
        Migration(
            name: "2026-12-03-purchase-verification-indexes",
            statements: [
                // HQ's re-verification finds the returns of a serial at any store, and those nobody verified yet.
                "CREATE INDEX returns_by_serial ON returns (gtin, serial) WHERE serial IS NOT NULL",
                "CREATE INDEX returns_unverified ON returns (id) WHERE verification IS NULL OR verification = 'unverified'",
                "CREATE INDEX returns_by_id ON returns (id)",
                "CREATE INDEX orders_by_store ON orders (store_id, sold_at)",
            ]
        ),
        Migration(
            name: "2026-12-04-refunds-and-order-currency",
            statements: [
                // Appended in the order of ReturnProjection.names: rows are written with json_populate_recordset.
                """
                ALTER TABLE returns ADD COLUMN refund_amount bigint, ADD COLUMN refund_fee bigint,
                    ADD COLUMN refund_currency text COLLATE "C", ADD COLUMN refund_method text COLLATE "C"
                """,
                "ALTER TABLE orders ADD COLUMN currency text COLLATE \"C\"",
            ]
        ),
        Migration(
            name: "2026-12-04-vendor-claims-and-repair-ages",
            statements: [
                """
                ALTER TABLE returns ADD COLUMN rma_number text COLLATE "C", ADD COLUMN rma_shipped_at bigint,
                    ADD COLUMN vendor_credit_amount bigint, ADD COLUMN vendor_credit_currency text COLLATE "C",
                    ADD COLUMN repair_sent_at bigint
                """,
                // Repairs recorded before need the day they were sent: every return is projected again, once.
                "INSERT INTO returnsync_pending (task) VALUES ('project-returns') ON CONFLICT DO NOTHING",
            ]
        ),
        Migration(
            name: "2026-12-04-customer-references",
            statements: [
                "ALTER TABLE returns ADD COLUMN customer_ref text COLLATE \"C\"",
                "CREATE INDEX returns_by_customer ON returns (customer_ref) WHERE customer_ref IS NOT NULL",
            ]
        ),
        Migration(
            name: "2026-12-04-attachment-transfer",
            statements: [
                // Which return names which attachment (what a kiosk of a store may send or read), and the bytes,
                // received in chunks of at most 1 MiB, each durable when acknowledged (Protocol/SPEC.md §5.5).
                """
                CREATE TABLE return_attachments (
                    digest text COLLATE "C" NOT NULL,
                    store_id text COLLATE "C" NOT NULL,
                    return_id text COLLATE "C" NOT NULL,
                    media_type text NOT NULL,
                    size bigint NOT NULL,
                    PRIMARY KEY (digest, store_id, return_id)
                )
                """,
                """
                CREATE TABLE attachment_uploads (
                    digest text COLLATE "C" PRIMARY KEY,
                    size bigint NOT NULL,
                    held bigint NOT NULL,
                    complete_at timestamptz
                )
                """,
                """
                CREATE TABLE attachment_chunks (
                    digest text COLLATE "C" NOT NULL,
                    byte_offset bigint NOT NULL,
                    data bytea NOT NULL,
                    PRIMARY KEY (digest, byte_offset)
                )
                """,
                // Returns stored with attachments before name them once projected again.
                "INSERT INTO returnsync_pending (task) VALUES ('project-returns') ON CONFLICT DO NOTHING",
            ]
        ),
        Migration(
            name: "2026-12-04-superseded-steps",
            statements: [
                // Step writes (condition, disposition) later writes replaced, for the EPCIS export's full story.
                """
                CREATE TABLE superseded_steps (
                    return_id text COLLATE "C" NOT NULL,
                    field text NOT NULL,
                    value text NOT NULL,
                    replica text NOT NULL,
                    counter bigint NOT NULL,
                    stamp_physical bigint NOT NULL,
                    stamp_logical bigint NOT NULL,
                    PRIMARY KEY (return_id, field, replica, counter)
                )
                """
            ]
        ),
        Migration(
            name: "2026-12-04-hq-users",
            statements: [
                // HQ's console users, each with a role and a bcrypt hash of the password; times in milliseconds since
                // the epoch, as on SQLite. The audit of what was done to and by them.
                """
                CREATE TABLE hq_users (
                    name text COLLATE "C" PRIMARY KEY,
                    role text NOT NULL CHECK (role IN ('analyst', 'returns-manager', 'recall-manager', 'admin')),
                    password_hash text NOT NULL,
                    created_at bigint NOT NULL,
                    password_changed_at bigint NOT NULL,
                    failed_sign_ins integer NOT NULL DEFAULT 0,
                    locked_until bigint
                )
                """,
                """
                CREATE TABLE hq_sessions (
                    token_hash text COLLATE "C" PRIMARY KEY,
                    user_name text COLLATE "C" NOT NULL REFERENCES hq_users (name) ON DELETE CASCADE,
                    created_at bigint NOT NULL,
                    last_seen_at bigint NOT NULL
                )
                """,
                """
                CREATE TABLE hq_audit (
                    id bigserial PRIMARY KEY,
                    at bigint NOT NULL,
                    actor text NOT NULL,
                    action text NOT NULL,
                    subject text NOT NULL,
                    detail text NOT NULL DEFAULT ''
                )
                """,
            ]
        ),
        Migration(
            name: "2026-12-04-kiosk-protocol",
            statements: [
                // The protocol version each kiosk spoke at its last sync, for HQ's kiosks page.
                "ALTER TABLE kiosks ADD COLUMN protocol_version integer"
            ]
        ),
        Migration(
            name: "2026-12-04-hq-audit-by-time",
            statements: [
                // Sign-ins refused from one address lately are counted at every attempt: by time, not the whole audit.
                "CREATE INDEX hq_audit_by_time ON hq_audit (at)"
            ]
        ),
        Migration(
            name: "2026-12-06-store-feeds-in-records",
            statements: [
                // A record of one store (a return, an order line) is in that store's feed alone, so its place there
                // is kept on the record itself: a feed row repeated the record's store, type and id, and its index
                // all of them again, ~180 of a return's ~240 bytes of feed (BENCHMARKS.md, issue 18's seventeenth
                // part). `seq` is the record's position in its store's feed; `source` the kiosk that pushed exactly
                // what is stored (its own feed leaves it out).
                "ALTER TABLE records ADD COLUMN seq bigint, ADD COLUMN source text",
                """
                UPDATE records r SET seq = f.seq, source = f.source FROM feed f
                WHERE r.store_id <> '' AND f.store_id = r.store_id AND f.entity_type = r.entity_type
                  AND f.record_store = r.store_id AND f.id = r.id
                """,
                // What is left in `feed` are the records every store receives (recalls, policies, stores), a row in
                // each store's feed: renamed, so a process of an earlier release still serving in a rolling upgrade
                // fails on its next push or pull (nothing acknowledged, its kiosks retry) instead of reading a feed
                // without the stores' records and moving a kiosk's cursor past them. Entries of a store's records
                // left behind (an order line moved to another store left one in its old store's feed, naming no
                // record) go.
                "DELETE FROM feed WHERE record_store <> ''",
                "ALTER TABLE feed RENAME TO global_feed",
                "ALTER TABLE global_feed DROP COLUMN record_store, DROP COLUMN source",
                "ALTER INDEX feed_pkey RENAME TO global_feed_pkey",
                "CREATE UNIQUE INDEX global_feed_by_record ON global_feed (store_id, entity_type, id)",
                "CREATE UNIQUE INDEX records_by_store_feed ON records (store_id, seq)",
            ]
        ),
        Migration(
            name: "2026-12-06-returns-by-unit",
            statements: [
                // A search by GTIN alone (`returns-server returns list --gtin`, the console's search, a recall's
                // sweep of its GTINs) could not use the index on GTIN and serial, partial on a serial: each read every
                // return. One index on both, every return in it, serves a GTIN and a unit alike, as SQLite's
                // `returns_by_unit` does (its schema v24).
                "DROP INDEX returns_by_serial",
                "CREATE INDEX returns_by_unit ON returns (gtin, serial)",
            ]
        ),
    ]

    /// The names of the migrations this version knows.
    public static var names: [String] { all.map(\.name) }

    /// What the migrations that go through many rows cost: the table, and a row's seconds on the development
    /// machine's PostgreSQL 15 test cluster (`scripts/postgres-test-cluster`, 1,000,000 returns; docs/upgrade.md).
    /// The others add tables, columns (without a default: no rewrite) or indexes of small tables.
    static let costs: [String: (table: String, secondsPerRow: Double)] = [
        // Three indexes over returns (and one over orders, usually far smaller): 2.54 s.
        "2026-12-03-purchase-verification-indexes": ("returns", 2.5e-6),
        // A partial index over a new column, all NULL: 0.17 s.
        "2026-12-04-customer-references": ("returns", 0.2e-6),
        // An index of HQ's audit by time, over 1,000,000 lines: 0.32 s.
        "2026-12-04-hq-audit-by-time": ("hq_audit", 0.3e-6),
        // Every store's record rewritten with its place in the feed, and one index over them: 36 s.
        "2026-12-06-store-feeds-in-records": ("records", 36e-6),
        // One index over returns in place of a partial one: 1.0–1.7 s by `returns-server kiosks` (1,000,000 returns,
        // 970 MB, a serial for two in three; three runs).
        "2026-12-06-returns-by-unit": ("returns", 1.0e-6),
    ]

    /// Seconds to project one return again (read, decode, write its row), which some migrations ask for once:
    /// 1,000,000 returns took 106 s.
    static let projectionSecondsPerReturn = 106e-6

    /// Applies what is missing, telling `announce` first what and about how long (not for a database being
    /// created).
    ///
    /// - Throws: ``PostgresStorageError`` when the database was migrated by a newer version.
    static func migrate(
        _ connection: PostgresConnection,
        database: String,
        logger: Logger,
        announce: (@Sendable (MigrationPlan) -> Void)? = nil
    ) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            // One process at a time; the lock ends with the transaction.
            try await connection.query("SELECT pg_advisory_xact_lock(7420017)", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS returnsync_migrations (
                    name text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            )
            var applied = Set<String>()
            let rows = try await connection.query("SELECT name FROM returnsync_migrations", logger: logger)
            for try await (name) in rows.decode(String.self) { applied.insert(name) }
            if let unknown = applied.subtracting(names).sorted().first {
                throw PostgresStorageError(
                    "the database was migrated by a newer version of returns-server (migration \(unknown)): "
                        + "upgrade this one"
                )
            }
            let pending = all.filter { !applied.contains($0.name) }
            if let announce, !applied.isEmpty, !pending.isEmpty {
                announce(try await plan(pending, database: database, on: connection, logger: logger))
            }
            for migration in pending {
                for statement in migration.statements { try await connection.query(statement, logger: logger) }
                try await connection.query(
                    "INSERT INTO returnsync_migrations (name) VALUES (\(migration.name))",
                    logger: logger
                )
                logger.info("migrated", metadata: ["migration": "\(migration.name)"])
            }
        }
    }

    /// The plan of `pending`: each one's rows counted (0 for a table not there yet), and one projection of every
    /// return when any of them asks for it (``PostgresServerStorage`` runs it after the migrations).
    static func plan(
        _ pending: [Migration],
        database: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> MigrationPlan {
        func rows(_ table: String, _ condition: String = "true") async throws -> Int {
            var exists = false
            for try await (found) in try await connection.query(
                "SELECT to_regclass(\(table)) IS NOT NULL",
                logger: logger
            ).decode(Bool.self) { exists = found }
            guard exists else { return 0 }
            var count = 0
            for try await (found) in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table) WHERE \(condition)"),
                logger: logger
            ).decode(Int64.self) { count = Int(found) }
            return count
        }
        var plan = MigrationPlan(
            path: database,
            steps: pending.map(\.name),
            heaviestStep: nil,
            heaviestRows: 0,
            estimatedSeconds: 0
        )
        for migration in pending {
            if let cost = costs[migration.name] {
                plan.add(migration.name, rows: try await rows(cost.table), secondsPerRow: cost.secondsPerRow)
            }
        }
        if pending.contains(where: { $0.statements.contains { $0.sql.contains("'project-returns'") } }) {
            let returns = try await rows("records", "entity_type = 'return'")
            plan.add("every return projected again", rows: returns, secondsPerRow: projectionSecondsPerReturn)
        }
        return plan
    }
}
