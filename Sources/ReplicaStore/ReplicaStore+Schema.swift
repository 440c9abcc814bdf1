import GRDB
import ReturnsModel
import ReturnsSync

extension ReplicaStore {
    /// The schema, as named migrations. A shipped migration is never edited: changes are new migrations.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: replica, records, change log, checkpoints, conflicts, returns") { db in
            // One row: who this replica is, and its hybrid logical clock so stamps survive restarts.
            try db.execute(
                sql: """
                    CREATE TABLE replica (
                        singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
                        replica_id    TEXT    NOT NULL,
                        role          TEXT    NOT NULL CHECK (role IN ('kiosk', 'server')),
                        store_id      TEXT,
                        kiosk_id      TEXT,
                        created_at    INTEGER NOT NULL,  -- ms since the Unix epoch
                        hlc_physical  INTEGER NOT NULL DEFAULT 0,
                        hlc_logical   INTEGER NOT NULL DEFAULT 0
                    );

                    -- The current version of every replicated record. `record` is its JSON form (docs/sync-semantics.md):
                    -- fields with their dots and stamps, sets, conflict history. `clock` repeats its vector clock.
                    -- A rowid table: records are about a kilobyte, too large for WITHOUT ROWID to pay off.
                    CREATE TABLE records (
                        entity_type  TEXT    NOT NULL,
                        id           TEXT    NOT NULL,
                        clock        TEXT    NOT NULL,
                        record       TEXT    NOT NULL,
                        change_seq   INTEGER NOT NULL,  -- the change_log entry that wrote this version
                        UNIQUE (entity_type, id)
                    );
                    CREATE INDEX records_by_change_seq ON records (change_seq);

                    -- Every change, in order: "what changed since N" is a range scan of seq.
                    CREATE TABLE change_log (
                        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
                        entity_type  TEXT    NOT NULL,
                        record_id    TEXT    NOT NULL,
                        origin       TEXT    NOT NULL CHECK (origin IN ('local', 'merge', 'import')),
                        operation    TEXT    NOT NULL,
                        dot_replica  TEXT,              -- the local edit's dot; NULL for merges
                        dot_counter  INTEGER,
                        clock        TEXT    NOT NULL,  -- the record's clock after the change
                        recorded_at  INTEGER NOT NULL   -- ms since the Unix epoch
                    );

                    -- How far sync with each peer got.
                    CREATE TABLE sync_checkpoints (
                        peer          TEXT    PRIMARY KEY,
                        pushed_seq    INTEGER NOT NULL DEFAULT 0,
                        pull_cursor   TEXT,
                        last_sync_at  INTEGER
                    );

                    -- The conflict audit: every conflict a merge detected, with all values and their dots.
                    CREATE TABLE conflicts (
                        id           INTEGER PRIMARY KEY AUTOINCREMENT,
                        entity_type  TEXT    NOT NULL,
                        record_id    TEXT    NOT NULL,
                        field        TEXT    NOT NULL,
                        "values"     TEXT    NOT NULL,  -- JSON array of {value, dot, stamp}
                        winner       TEXT    NOT NULL,  -- JSON {value, dot, stamp}: the value every replica shows
                        detected_at  INTEGER NOT NULL,
                        detected_by  TEXT    NOT NULL   -- the replica whose merge found it
                    );
                    CREATE INDEX conflicts_by_record ON conflicts (entity_type, record_id);

                    -- Returns as every replica shows them, for lists and reports without decoding records.
                    CREATE TABLE returns (
                        id            TEXT    PRIMARY KEY,
                        store_id      TEXT    NOT NULL,
                        kiosk_id      TEXT    NOT NULL,
                        order_id      TEXT    NOT NULL,
                        gtin          TEXT    NOT NULL,
                        serial        TEXT,
                        lot           TEXT,
                        quantity      INTEGER NOT NULL,
                        reason        TEXT    NOT NULL,
                        status        TEXT    NOT NULL,
                        condition     TEXT    NOT NULL,
                        test_result   TEXT    NOT NULL,
                        disposition   TEXT    NOT NULL,
                        needs_review  INTEGER NOT NULL,
                        in_conflict   INTEGER NOT NULL,
                        created_at    INTEGER NOT NULL,
                        updated_at    INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX returns_by_status ON returns (status);
                    CREATE INDEX returns_by_reason ON returns (reason);
                    CREATE INDEX returns_by_store ON returns (store_id);
                    CREATE INDEX returns_by_gtin ON returns (gtin);
                    CREATE INDEX returns_by_created_at ON returns (created_at);
                    """
            )
        }
        migrator.registerMigration("v2: sync credentials, enrollments, kiosks") { db in
            try db.execute(
                sql: """
                    -- Kiosk side, one row: where to sync and how to prove who this kiosk is.
                    CREATE TABLE sync_credentials (
                        singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
                        server       TEXT    NOT NULL,  -- HOST:PORT
                        token        TEXT,              -- one-time enrollment token, cleared once enrolled
                        private_key  BLOB    NOT NULL,  -- Ed25519 private key (raw, 32 bytes)
                        enrolled_at  INTEGER
                    );

                    -- Server side: one-time enrollment tokens, stored hashed so a copy of the database redeems none.
                    CREATE TABLE enrollments (
                        token_hash  TEXT    PRIMARY KEY,  -- SHA-256 of the token, hex
                        store_id    TEXT    NOT NULL,
                        kiosk_id    TEXT    NOT NULL,
                        created_at  INTEGER NOT NULL,
                        used_at     INTEGER
                    );

                    -- Server side: enrolled kiosks and their public keys (never a secret).
                    CREATE TABLE kiosks (
                        replica_id    TEXT    PRIMARY KEY,
                        store_id      TEXT    NOT NULL,
                        kiosk_id      TEXT    NOT NULL,
                        public_key    BLOB    NOT NULL,  -- Ed25519 public key (raw, 32 bytes)
                        enrolled_at   INTEGER NOT NULL,
                        last_sync_at  INTEGER
                    );
                    """
            )
        }
        migrator.registerMigration("v3: recall and repair columns for reports") { db in
            // Returns stored before v3 keep NULL here until their next change re-projects them.
            try db.execute(
                sql: """
                    ALTER TABLE returns ADD COLUMN recall_campaign TEXT;
                    ALTER TABLE returns ADD COLUMN recall_match TEXT;
                    ALTER TABLE returns ADD COLUMN repair_vendor TEXT;
                    ALTER TABLE returns ADD COLUMN repair_status TEXT;
                    ALTER TABLE returns ADD COLUMN repair_turnaround_days INTEGER;
                    CREATE INDEX returns_by_recall ON returns (recall_campaign) WHERE recall_campaign IS NOT NULL;
                    """
            )
        }
        migrator.registerMigration("v4: orders, purchase verification, review queue") { db in
            // Returns stored before v4 keep the defaults until their next change re-projects them.
            try db.execute(
                sql: """
                    ALTER TABLE returns ADD COLUMN receipt INTEGER NOT NULL DEFAULT 1;
                    ALTER TABLE returns ADD COLUMN verification TEXT;
                    ALTER TABLE returns ADD COLUMN exceptions TEXT NOT NULL DEFAULT '';  -- comma-separated
                    ALTER TABLE returns ADD COLUMN awaits_review INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE returns ADD COLUMN review_outcome TEXT;
                    -- Verification counts earlier returns of the same order and GTIN, and looks for serials seen
                    -- before.
                    CREATE INDEX returns_by_order ON returns (order_id, gtin);
                    CREATE INDEX returns_by_serial ON returns (gtin, serial) WHERE serial IS NOT NULL;
                    CREATE INDEX returns_awaiting_review ON returns (created_at) WHERE awaits_review;

                    -- Order lines as every replica shows them: HQ holds all, a kiosk its store's recent ones.
                    CREATE TABLE orders (
                        record_id         TEXT    PRIMARY KEY,  -- ORDER/LINE, the id of the order record
                        order_id          TEXT    NOT NULL,
                        line              INTEGER NOT NULL,
                        store_id          TEXT    NOT NULL,
                        gtin              TEXT    NOT NULL,
                        serial            TEXT,
                        quantity          INTEGER NOT NULL,
                        unit_price_cents  INTEGER NOT NULL,
                        sold_at           INTEGER NOT NULL     -- ms since the Unix epoch
                    ) WITHOUT ROWID;
                    CREATE INDEX orders_by_order ON orders (order_id);
                    CREATE INDEX orders_by_store ON orders (store_id, sold_at);
                    CREATE INDEX orders_by_gtin ON orders (gtin);
                    """
            )
        }
        migrator.registerMigration("v5: the CA a kiosk trusts for TLS") { db in
            // PEM text, not a path: the kiosk keeps working when the file it was given moves.
            try db.execute(sql: "ALTER TABLE sync_credentials ADD COLUMN tls_ca TEXT")
        }
        migrator.registerMigration("v6: who pushed a change, so their feed skips it") { db in
            // The replica whose pushed version a change stored exactly as pushed; NULL for every other change.
            try db.execute(sql: "ALTER TABLE change_log ADD COLUMN source TEXT")
        }
        migrator.registerMigration("v7: a per-store feed index") { db in
            // The store a record belongs to (returns and order lines; NULL for recalls and policies, which every
            // store receives), so a store's feed reads its own changes instead of scanning every store's.
            try db.execute(
                sql: """
                    ALTER TABLE records ADD COLUMN store_id TEXT;
                    UPDATE records SET store_id = (SELECT r.store_id FROM returns r WHERE r.id = records.id)
                        WHERE entity_type = 'return';
                    UPDATE records SET store_id = (SELECT o.store_id FROM orders o WHERE o.record_id = records.id)
                        WHERE entity_type = 'order';
                    CREATE INDEX records_by_store_feed ON records (store_id, change_seq);
                    """
            )
        }
        migrator.registerMigration("v8: server lineage after a restore") { db in
            try db.execute(
                sql: """
                    -- Kiosk side: the server id of the last sync. A different one means the server was restored from
                    -- a backup: the kiosk re-sends everything it holds and pulls from the start.
                    ALTER TABLE sync_credentials ADD COLUMN server_id TEXT;

                    -- Server side: the replica ids this server wrote under before restores. Their writes held by
                    -- kiosks are the server's own, lost with the restore: a push may claim them.
                    CREATE TABLE former_server_ids (
                        replica_id  TEXT    PRIMARY KEY,
                        retired_at  INTEGER NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v9: records set aside") { db in
            try db.execute(
                sql: """
                    -- Kiosk side: records the server refused for what they are (a forged clock, another store's
                    -- return, ...). They are neither pushed nor merged from pulls until an operator drops them, so
                    -- everything else keeps syncing (`kiosk quarantine list|drop`).
                    CREATE TABLE quarantine (
                        entity_type     TEXT    NOT NULL,
                        record_id       TEXT    NOT NULL,
                        code            TEXT    NOT NULL,  -- the protocol error code, such as forged-clock
                        message         TEXT    NOT NULL,
                        quarantined_at  INTEGER NOT NULL,  -- ms since the Unix epoch
                        PRIMARY KEY (entity_type, record_id)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v10: server identity, token keys, expiry and revocation") { db in
            try db.execute(
                sql: """
                    -- Server side: the server's Ed25519 identity (the seed; made on first use). Kiosks pin its
                    -- public key's fingerprint, carried in every enrollment token.
                    CREATE TABLE server_identity (
                        singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
                        seed        BLOB    NOT NULL,  -- Ed25519 private key (raw, 32 bytes)
                        created_at  INTEGER NOT NULL
                    );
                    -- The public key a token derives (the kiosk proves it holds the token by signing with the
                    -- private half), when the token expires, and when a newer token for the kiosk replaced it.
                    ALTER TABLE enrollments ADD COLUMN token_key BLOB;
                    ALTER TABLE enrollments ADD COLUMN expires_at INTEGER;
                    ALTER TABLE enrollments ADD COLUMN revoked_at INTEGER;
                    ALTER TABLE kiosks ADD COLUMN revoked_at INTEGER;

                    -- Kiosk side: the fingerprint (SHA-256, hex) of the server key this kiosk trusts.
                    ALTER TABLE sync_credentials ADD COLUMN server_key TEXT;
                    """
            )
        }
        migrator.registerMigration("v11: a kiosk's change log keeps what is read") { db in
            // Kiosks now delete the change-log entries nothing reads as they go (WriteContext); a kiosk upgraded
            // from before keeps every entry it ever wrote unless they go once, here: those the server holds (at
            // or before every push checkpoint) that no record points to any more, the newest kept. A server keeps
            // its whole log; a database being created has no identity yet, and nothing to delete.
            guard try String.fetchOne(db, sql: "SELECT role FROM replica") == ReplicaIdentity.Role.kiosk.rawValue
            else { return }
            try db.execute(
                sql: """
                    DELETE FROM change_log
                    WHERE seq <= (SELECT coalesce(min(pushed_seq), 0) FROM sync_checkpoints)
                      AND seq < (SELECT max(seq) FROM change_log)
                      AND NOT EXISTS (SELECT 1 FROM records r WHERE r.change_seq = change_log.seq)
                    """
            )
        }
        migrator.registerMigration("v12: refunds and the currency of order lines") { db in
            // No return had a refund and no order line a currency before: NULL is what they hold.
            try db.execute(
                sql: """
                    ALTER TABLE returns ADD COLUMN refund_amount INTEGER;
                    ALTER TABLE returns ADD COLUMN refund_fee INTEGER;
                    ALTER TABLE returns ADD COLUMN refund_currency TEXT;
                    ALTER TABLE returns ADD COLUMN refund_method TEXT;
                    ALTER TABLE orders ADD COLUMN currency TEXT;
                    """
            )
        }
        migrator.registerMigration("v13: vendor claims and the ages of open repairs") { db in
            try db.execute(
                sql: """
                    ALTER TABLE returns ADD COLUMN rma_number TEXT;
                    ALTER TABLE returns ADD COLUMN rma_shipped_at INTEGER;
                    ALTER TABLE returns ADD COLUMN vendor_credit_amount INTEGER;
                    ALTER TABLE returns ADD COLUMN vendor_credit_currency TEXT;
                    ALTER TABLE returns ADD COLUMN repair_sent_at INTEGER;
                    """
            )
            // Repairs recorded before: the day each was sent, from its record (vendor claims are new).
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, rec.record FROM returns r JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id
                    WHERE r.repair_vendor IS NOT NULL
                    """
            )
            for row in rows {
                let item = try ProductReturn(record: ReplicaStore.decodeRecord(row["record"]))
                try db.execute(
                    sql: "UPDATE returns SET repair_sent_at = ? WHERE id = ?",
                    arguments: [item.repair.flatMap { ReturnProjection.dayStart($0.sentOn) }, row["id"] as String]
                )
            }
        }
        migrator.registerMigration("v14: customer references") { db in
            // New with this version: no return held one before.
            try db.execute(
                sql: """
                    ALTER TABLE returns ADD COLUMN customer_ref TEXT;
                    CREATE INDEX returns_by_customer ON returns (customer_ref) WHERE customer_ref IS NOT NULL;
                    """
            )
        }
        migrator.registerMigration("v15: attachment bytes") { db in
            // The bytes of photos and documents, once per SHA-256 digest however many returns show them.
            try db.execute(
                sql: """
                    CREATE TABLE attachments (
                        digest      TEXT    PRIMARY KEY,
                        media_type  TEXT    NOT NULL,
                        size        INTEGER NOT NULL,
                        data        BLOB    NOT NULL,
                        added_at    INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v16: attachment transfer") { db in
            // `return_attachments`: which return names which attachment, so a server answers "may this store's kiosk
            // send or read these bytes" with one index lookup. On the server, the bytes arrive in chunks, each
            // durable when acknowledged (`attachment_chunks`, rows of at most 1 MiB: a photo is never one huge
            // value to rewrite), with what is held in `attachment_uploads`. On a kiosk, `uploaded_at` marks the
            // attachments the server confirmed whole.
            try db.execute(
                sql: """
                    CREATE TABLE return_attachments (
                        digest      TEXT    NOT NULL,
                        store_id    TEXT    NOT NULL,
                        return_id   TEXT    NOT NULL,
                        media_type  TEXT    NOT NULL,
                        size        INTEGER NOT NULL,
                        PRIMARY KEY (digest, store_id, return_id)
                    ) WITHOUT ROWID;
                    CREATE TABLE attachment_uploads (
                        digest      TEXT    PRIMARY KEY,
                        size        INTEGER NOT NULL,
                        held        INTEGER NOT NULL,
                        complete_at INTEGER
                    ) WITHOUT ROWID;
                    CREATE TABLE attachment_chunks (
                        digest      TEXT    NOT NULL,
                        byte_offset INTEGER NOT NULL,
                        data        BLOB    NOT NULL,
                        UNIQUE (digest, byte_offset)
                    );
                    ALTER TABLE attachments ADD COLUMN uploaded_at INTEGER;
                    """
            )
            // Returns given attachments before this version (on kiosks, since v15) name them from now on.
            let records = try Row.fetchCursor(
                db,
                sql: "SELECT record FROM records WHERE entity_type = 'return' AND instr(record, '\"attachments\"') > 0"
            )
            while let row = try records.next() {
                let item = try ProductReturn(record: ReplicaStore.decodeRecord(row["record"]))
                for attachment in item.attachments {
                    try db.execute(
                        sql: """
                            INSERT INTO return_attachments (digest, store_id, return_id, media_type, size)
                            VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                            """,
                        arguments: [
                            attachment.digest, item.storeID.rawValue, item.id.rawValue, attachment.mediaType.rawValue,
                            attachment.size,
                        ]
                    )
                }
            }
        }
        migrator.registerMigration("v17: superseded steps") { db in
            // On the server: step writes (condition, disposition) that later writes replaced, for the EPCIS export's
            // full story of each return. Filled as versions arrive from now on.
            try db.execute(
                sql: """
                    CREATE TABLE superseded_steps (
                        return_id       TEXT    NOT NULL,
                        field           TEXT    NOT NULL,
                        value           TEXT    NOT NULL,
                        replica         TEXT    NOT NULL,
                        counter         INTEGER NOT NULL,
                        stamp_physical  INTEGER NOT NULL,
                        stamp_logical   INTEGER NOT NULL,
                        PRIMARY KEY (return_id, field, replica, counter)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v18: HQ users") { db in
            // On the server: the people who use HQ's console, each with a role and a bcrypt hash of their password
            // (never the password), and the audit of what was done to and by them.
            try db.execute(
                sql: """
                    CREATE TABLE hq_users (
                        name                 TEXT    PRIMARY KEY,
                        role                 TEXT    NOT NULL
                                             CHECK (role IN ('analyst', 'returns-manager', 'recall-manager', 'admin')),
                        password_hash        TEXT    NOT NULL,
                        created_at           INTEGER NOT NULL,
                        password_changed_at  INTEGER NOT NULL,
                        failed_sign_ins      INTEGER NOT NULL DEFAULT 0,  -- wrong passwords in a row
                        locked_until         INTEGER                      -- after too many of them
                    ) WITHOUT ROWID;
                    -- Console sessions: only the SHA-256 of each browser's secret.
                    CREATE TABLE hq_sessions (
                        token_hash    TEXT    PRIMARY KEY,
                        user_name     TEXT    NOT NULL REFERENCES hq_users (name) ON DELETE CASCADE,
                        created_at    INTEGER NOT NULL,
                        last_seen_at  INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE hq_audit (
                        id       INTEGER PRIMARY KEY AUTOINCREMENT,
                        at       INTEGER NOT NULL,
                        actor    TEXT    NOT NULL,
                        action   TEXT    NOT NULL,
                        subject  TEXT    NOT NULL,
                        detail   TEXT    NOT NULL DEFAULT ''
                    );
                    """
            )
        }
        migrator.registerMigration("v19: kiosk protocol version") { db in
            // On the server: the protocol version each kiosk spoke at its last sync, for HQ's kiosks page.
            try db.execute(sql: "ALTER TABLE kiosks ADD COLUMN protocol_version INTEGER")
        }
        migrator.registerMigration("v20: audit by time") { db in
            // Sign-ins refused from one address lately are counted at every attempt: by time, not over the whole audit.
            try db.execute(sql: "CREATE INDEX hq_audit_by_time ON hq_audit (at)")
        }
        migrator.registerMigration("v21: clock correction") { db in
            // On a kiosk: how far its wall clock is from the server's, measured at the last sync's `welcome`; every
            // stamp and time it writes is read from its clock corrected by this (ReplicaStore+ClockCorrection).
            try db.execute(sql: "ALTER TABLE replica ADD COLUMN clock_offset_ms INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v22: returns by status and age") { db in
            // A kiosk prunes closed and voided returns older than its store's retention (ReplicaStore+Pruning): the
            // status index carries the last change too, so finding them reads only them, at every sync.
            try db.execute(
                sql: """
                    DROP INDEX returns_by_status;
                    CREATE INDEX returns_by_status ON returns (status, updated_at);
                    CREATE INDEX return_attachments_by_return ON return_attachments (return_id);
                    -- Returns a kiosk fetched back from HQ (`kiosk fetch`): not pruned again before `until` (ms).
                    CREATE TABLE fetched_returns (
                        return_id  TEXT    PRIMARY KEY,
                        until      INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v23: history compaction") { db in
            // On a kiosk: the capabilities its server granted at the last sync's `welcome` (comma-separated; NULL
            // before the first), and how far its records' settled-conflict history has been dropped
            // (ReplicaStore+Pruning, HistoryRules).
            try db.execute(
                sql: """
                    ALTER TABLE replica ADD COLUMN server_capabilities TEXT;
                    ALTER TABLE replica ADD COLUMN history_compacted_seq INTEGER NOT NULL DEFAULT 0;
                    """
            )
        }
        migrator.registerMigration("v24: one index for a return's product and unit") { db in
            // `returns_by_gtin (gtin)` and `returns_by_serial (gtin, serial) WHERE serial IS NOT NULL` were two
            // indexes in random order (a product's GTIN says nothing of when it is returned): every stored return
            // dirtied a page of each, rewritten at every commit. One index on both columns serves the searches of
            // either (a GTIN is its prefix) and halves that (issue 18; BENCHMARKS.md measures it).
            try db.execute(
                sql: """
                    DROP INDEX returns_by_gtin;
                    DROP INDEX returns_by_serial;
                    CREATE INDEX returns_by_unit ON returns (gtin, serial);
                    """
            )
        }
        migrator.registerMigration("v25: returns indexed by row number") { db in
            // The projection was a WITHOUT ROWID table keyed by id, so every entry of its nine indexes repeated a
            // return's id (36 characters) and entries of one key (a reason, a store, a status) were ordered by it:
            // of the 557 MB the projection took for 1,000,000 returns, its indexes were 364 MB. A rowid table's
            // indexes hold a row number instead (a few bytes): 359 MB in all, the id's own index included, and the
            // rows of a sync replayed write a quarter fewer bytes (issue 18; BENCHMARKS.md measures it). Rows are
            // appended as returns are stored. Same columns, same indexes; `id` says NOT NULL, which a rowid table's
            // primary key does not imply.
            try db.execute(
                sql: """
                    CREATE TABLE returns_v25 (
                        id                      TEXT    NOT NULL PRIMARY KEY,
                        store_id                TEXT    NOT NULL,
                        kiosk_id                TEXT    NOT NULL,
                        order_id                TEXT    NOT NULL,
                        gtin                    TEXT    NOT NULL,
                        serial                  TEXT,
                        lot                     TEXT,
                        quantity                INTEGER NOT NULL,
                        reason                  TEXT    NOT NULL,
                        status                  TEXT    NOT NULL,
                        condition               TEXT    NOT NULL,
                        test_result             TEXT    NOT NULL,
                        disposition             TEXT    NOT NULL,
                        needs_review            INTEGER NOT NULL,
                        in_conflict             INTEGER NOT NULL,
                        created_at              INTEGER NOT NULL,
                        updated_at              INTEGER NOT NULL,
                        recall_campaign         TEXT,
                        recall_match            TEXT,
                        repair_vendor           TEXT,
                        repair_status           TEXT,
                        repair_turnaround_days  INTEGER,
                        receipt                 INTEGER NOT NULL DEFAULT 1,
                        verification            TEXT,
                        exceptions              TEXT    NOT NULL DEFAULT '',  -- comma-separated
                        awaits_review           INTEGER NOT NULL DEFAULT 0,
                        review_outcome          TEXT,
                        refund_amount           INTEGER,
                        refund_fee              INTEGER,
                        refund_currency         TEXT,
                        refund_method           TEXT,
                        rma_number              TEXT,
                        rma_shipped_at          INTEGER,
                        vendor_credit_amount    INTEGER,
                        vendor_credit_currency  TEXT,
                        repair_sent_at          INTEGER,
                        customer_ref            TEXT
                    );
                    INSERT INTO returns_v25 (
                        id, store_id, kiosk_id, order_id, gtin, serial, lot, quantity, reason, status, condition,
                        test_result, disposition, needs_review, in_conflict, created_at, updated_at, recall_campaign,
                        recall_match, repair_vendor, repair_status, repair_turnaround_days, receipt, verification,
                        exceptions, awaits_review, review_outcome, refund_amount, refund_fee, refund_currency,
                        refund_method, rma_number, rma_shipped_at, vendor_credit_amount, vendor_credit_currency,
                        repair_sent_at, customer_ref
                    )
                    SELECT
                        id, store_id, kiosk_id, order_id, gtin, serial, lot, quantity, reason, status, condition,
                        test_result, disposition, needs_review, in_conflict, created_at, updated_at, recall_campaign,
                        recall_match, repair_vendor, repair_status, repair_turnaround_days, receipt, verification,
                        exceptions, awaits_review, review_outcome, refund_amount, refund_fee, refund_currency,
                        refund_method, rma_number, rma_shipped_at, vendor_credit_amount, vendor_credit_currency,
                        repair_sent_at, customer_ref
                    FROM returns;
                    DROP TABLE returns;
                    ALTER TABLE returns_v25 RENAME TO returns;
                    CREATE INDEX returns_by_reason ON returns (reason);
                    CREATE INDEX returns_by_store ON returns (store_id);
                    CREATE INDEX returns_by_created_at ON returns (created_at);
                    CREATE INDEX returns_by_recall ON returns (recall_campaign) WHERE recall_campaign IS NOT NULL;
                    CREATE INDEX returns_by_order ON returns (order_id, gtin);
                    CREATE INDEX returns_awaiting_review ON returns (created_at) WHERE awaits_review;
                    CREATE INDEX returns_by_customer ON returns (customer_ref) WHERE customer_ref IS NOT NULL;
                    CREATE INDEX returns_by_status ON returns (status, updated_at);
                    CREATE INDEX returns_by_unit ON returns (gtin, serial);
                    """
            )
        }
        migrator.registerMigration("v26: deferred indexes") { db in
            // A kiosk's first pull builds the projection's query indexes once at its end rather than return by
            // return (ReplicaStore+BulkLoad); the indexes it dropped are noted here with the SQL that made them, so
            // that a kiosk killed midway builds them when it is next opened (issue 18; BENCHMARKS.md measures it).
            try db.execute(
                sql: """
                    CREATE TABLE deferred_indexes (
                        name  TEXT PRIMARY KEY,
                        sql   TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v27: records numbered, without a separate clock") { db in
            // Each record gets a number of its own for ever (an explicit key: VACUUM may renumber a plain rowid
            // table, and AUTOINCREMENT never hands a deleted record's number out again), which change-log entries
            // point at instead of repeating the record's type and id (v28). The merge read a stored record's clock
            // from a column of its own, to tell a known version from a new one without decoding the record; SQLite
            // reads it out of the record as well (`json_extract`), and the column repeated 17 bytes or more of every
            // record. Both are issue 18's metadata share (BENCHMARKS.md measures it). A record keeps its row number.
            try db.execute(
                sql: """
                    CREATE TABLE records_v27 (
                        row          INTEGER PRIMARY KEY AUTOINCREMENT,
                        entity_type  TEXT    NOT NULL,
                        id           TEXT    NOT NULL,
                        record       TEXT    NOT NULL,
                        change_seq   INTEGER NOT NULL,  -- the change_log entry that wrote this version
                        store_id     TEXT,
                        UNIQUE (entity_type, id)
                    );
                    INSERT INTO records_v27 (row, entity_type, id, record, change_seq, store_id)
                    SELECT rowid, entity_type, id, record, change_seq, store_id FROM records;
                    DROP TABLE records;
                    ALTER TABLE records_v27 RENAME TO records;
                    CREATE INDEX records_by_change_seq ON records (change_seq);
                    CREATE INDEX records_by_store_feed ON records (store_id, change_seq);
                    """
            )
        }
        migrator.registerMigration("v28: change-log entries point at their record") { db in
            // An entry named its record by type and id (44 of its 95 bytes) and repeated the change's dot and the
            // record's clock, which nothing ever read: the record holds both. It now holds the record's number
            // (v27), its origin, a local edit's name (`operation`; NULL for merges and imports, which the origin
            // says already), its time and the peer that pushed exactly this version. An entry of a record deleted
            // before (pruned, dropped) points at nothing (NULL); one deleted later keeps its number, which no other
            // record ever gets (v27). The sequence carries over, so no position is handed out twice.
            try db.execute(
                sql: """
                    CREATE TABLE change_log_v28 (
                        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
                        record_row   INTEGER,           -- records.row; NULL for a record deleted before v28
                        origin       TEXT    NOT NULL CHECK (origin IN ('local', 'merge', 'import')),
                        operation    TEXT,              -- a local edit's name ('record', 'note', …); NULL otherwise
                        recorded_at  INTEGER NOT NULL,  -- ms since the Unix epoch
                        source       TEXT               -- the replica that pushed exactly this version (v6)
                    );
                    INSERT INTO change_log_v28 (seq, record_row, origin, operation, recorded_at, source)
                    SELECT c.seq, r.row, c.origin, CASE WHEN c.origin = 'local' THEN c.operation END, c.recorded_at,
                        c.source
                    FROM change_log c LEFT JOIN records r ON r.entity_type = c.entity_type AND r.id = c.record_id;
                    DELETE FROM sqlite_sequence WHERE name = 'change_log_v28';
                    INSERT INTO sqlite_sequence (name, seq)
                        SELECT 'change_log_v28', seq FROM sqlite_sequence WHERE name = 'change_log';
                    DROP TABLE change_log;
                    ALTER TABLE change_log_v28 RENAME TO change_log;
                    """
            )
        }
        return migrator
    }
}
