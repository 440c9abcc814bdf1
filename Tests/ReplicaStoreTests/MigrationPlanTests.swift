import Foundation
import GRDB
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Synchronization
import Testing

@testable import ReplicaStore

/// What a store says before it migrates (issue 22): the steps still to apply, the heaviest, an estimate — and
/// nothing when there is nothing to migrate.
@Suite struct MigrationPlanTests {
    @Test func onlyADatabaseWithStepsToApplyIsAnnouncedWithItsHeaviestStep() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("server.sqlite")
        let plans = Mutex<[MigrationPlan]>([])
        var configuration = ReplicaStore.Configuration()
        configuration.announceMigration = { plan in plans.withLock { $0.append(plan) } }
        do {
            let server = try ReplicaStore.create(
                at: path,
                identity: .server(replicaID: ReplicaID("hq")),
                configuration: configuration
            )
            // 2,000 lines of HQ's audit, and v20 (their index) not applied yet.
            try server.pool.write { db in
                for number in 0..<2_000 {
                    try db.execute(
                        sql: "INSERT INTO hq_audit (at, actor, action, subject, detail) VALUES (?, 'a', 'x', 's', '')",
                        arguments: [number]
                    )
                }
                try db.execute(sql: "DROP INDEX hq_audit_by_time")
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v20:%'")
            }
        }
        #expect(plans.withLock { $0 }.isEmpty, "a database being created has nothing to migrate")
        _ = try ReplicaStore.open(at: path, configuration: configuration)
        let plan = try #require(plans.withLock { $0 }.first)
        #expect(plan.steps == ["v20: audit by time"])
        #expect(plan.heaviestStep == "v20: audit by time" && plan.heaviestRows == 2_000)
        #expect(plan.estimatedSeconds > 0 && plan.estimatedSeconds < 1)
        #expect(plan.announcement.hasPrefix("migrating server.sqlite: 1 schema step (v20: audit by time), the longest"))
        #expect(plan.announcement.contains("over 2,000 rows") && plan.announcement.contains("under a second"))
        _ = try ReplicaStore.open(at: path, configuration: configuration)
        #expect(plans.withLock { $0 }.count == 1, "migrated: nothing to say the next time")
    }

    /// v24 (issue 18): a database with the two GTIN indexes gets the one on GTIN and serial, announced with its
    /// returns counted, and the searches by product and by unit still find the same returns through an index.
    @Test func theTwoGTINIndexesBecomeOneAndSearchesStillUseAnIndex() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("kiosk.sqlite")
        let plans = Mutex<[MigrationPlan]>([])
        var configuration = ReplicaStore.Configuration()
        configuration.announceMigration = { plan in plans.withLock { $0.append(plan) } }
        let gtin = try GTIN("4006381333931")
        var ids: [ReturnID] = []
        do {
            let kiosk = try ReplicaStore.create(at: path, identity: .kiosk(store: StoreID("s"), kiosk: KioskID("k")))
            for (order, serial) in [("ORD-1", "SN-1"), ("ORD-2", nil), ("ORD-3", "SN-3")] {
                let capture = ReturnCapture(
                    orderID: try OrderID(order),
                    gtin: order == "ORD-3" ? try GTIN("5901234123457") : gtin,
                    reason: .defective,
                    serial: try serial.map { try ItemCode($0, kind: "serial") }
                )
                ids.append(try kiosk.recordReturn(capture).id)
            }
            // As a 0.6.0 kiosk left it.
            try kiosk.pool.write { db in
                try db.execute(
                    sql: """
                        DROP INDEX returns_by_unit;
                        CREATE INDEX returns_by_gtin ON returns (gtin);
                        CREATE INDEX returns_by_serial ON returns (gtin, serial) WHERE serial IS NOT NULL;
                        DELETE FROM grdb_migrations WHERE identifier LIKE 'v24:%';
                        """
                )
            }
        }
        let kiosk = try ReplicaStore.open(at: path, configuration: configuration)
        let plan = try #require(plans.withLock { $0 }.first)
        #expect(plan.steps == ["v24: one index for a return's product and unit"] && plan.heaviestRows == 3)
        let indexes = try kiosk.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'returns'")
        }
        #expect(indexes.contains("returns_by_unit"))
        #expect(!indexes.contains("returns_by_gtin") && !indexes.contains("returns_by_serial"))
        func found(_ search: ReturnSearch) throws -> [ReturnID] {
            try kiosk.findReturns(search).returns.map { try ReturnID($0.row.id) }
        }
        #expect(try found(ReturnSearch(gtin: gtin)) == [ids[0], ids[1]])
        #expect(try found(ReturnSearch(serial: ItemCode("SN-1", kind: "serial"))) == [ids[0]])
        for query in [
            "SELECT id FROM returns WHERE gtin = '4006381333931'",
            "SELECT id FROM returns WHERE gtin = '4006381333931' AND serial = 'SN-1'",
        ] {
            let plan = try kiosk.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query)
                    .map { $0["detail"] as String }.joined(separator: "; ")
            }
            // Covering until v25; since, the index holds each return's rowid and `id` is read from the table.
            #expect(
                plan.contains("USING INDEX returns_by_unit") || plan.contains("USING COVERING INDEX returns_by_unit"),
                "\(query): \(plan)"
            )
        }
    }

    /// v25 (issue 18): the projection becomes a rowid table — every row and column as it was, the same indexes,
    /// `id` still the key (and now NOT NULL, which a rowid table's key does not imply) and still read through an index.
    @Test func theProjectionBecomesARowidTableWithTheSameRowsAndIndexes() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("kiosk.sqlite")
        let plans = Mutex<[MigrationPlan]>([])
        var configuration = ReplicaStore.Configuration()
        configuration.announceMigration = { plan in plans.withLock { $0.append(plan) } }
        let rowsSQL = "SELECT * FROM returns ORDER BY id"
        let indexesSQL =
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'returns' ORDER BY name"
        let (rows, indexes) = try Self.kioskOfV24(at: path, rowsSQL: rowsSQL, indexesSQL: indexesSQL)
        #expect(rows.count == 3)
        let kiosk = try ReplicaStore.open(at: path, configuration: configuration)
        let plan = try #require(plans.withLock { $0 }.first)
        #expect(plan.steps == ["v25: returns indexed by row number"] && plan.heaviestRows == 3)
        try kiosk.pool.read { db in
            #expect(try Row.fetchAll(db, sql: rowsSQL) == rows, "every row and column as it was")
            #expect(try Row.fetchAll(db, sql: indexesSQL) == indexes, "the same indexes, by name and definition")
            #expect(try Int.fetchAll(db, sql: "SELECT rowid FROM returns ORDER BY rowid") == [1, 2, 3])
            let idColumn = try #require(
                try Row.fetchOne(db, sql: "SELECT * FROM pragma_table_info('returns') WHERE name = 'id'")
            )
            #expect(idColumn["notnull"] == 1 && idColumn["pk"] == 1)
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM returns WHERE id = 'x'")
                .map { $0["detail"] as String }.joined(separator: "; ")
            #expect(plan.contains("USING INDEX sqlite_autoindex_returns_1"), "\(plan)")
        }
        // A row without an id is refused, as the WITHOUT ROWID table's key refused it.
        #expect(throws: (any Error).self) {
            try kiosk.pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO returns (id, store_id, kiosk_id, order_id, gtin, quantity, reason, status, condition,
                          test_result, disposition, needs_review, in_conflict, created_at, updated_at)
                        VALUES (NULL, 's', 'k', 'ORD-9', '4006381333931', 1, 'damaged', 'received', 'unknown', 'untested',
                          'pending', 0, 0, 0, 0)
                        """
                )
            }
        }
        #expect(try kiosk.returnRecords().count == 3)
    }

    /// A kiosk database at `path` holding three returns, as 0.6.1 left it: the projection a WITHOUT ROWID table
    /// keyed by id, with the same indexes, and v25 not applied. Returns its rows and index definitions, as read by
    /// `rowsSQL` and `indexesSQL`.
    static func kioskOfV24(at path: String, rowsSQL: String, indexesSQL: String) throws -> (rows: [Row], indexes: [Row])
    {
        var rows: [Row] = []
        var indexes: [Row] = []
        let kiosk = try ReplicaStore.create(at: path, identity: .kiosk(store: StoreID("s"), kiosk: KioskID("k")))
        for (order, serial) in [("ORD-1", "SN-1"), ("ORD-2", nil), ("ORD-3", "SN-3")] {
            let capture = ReturnCapture(
                orderID: try OrderID(order),
                gtin: try GTIN("4006381333931"),
                reason: order == "ORD-2" ? .damaged : .defective,
                serial: try serial.map { try ItemCode($0, kind: "serial") }
            )
            _ = try kiosk.recordReturn(capture)
        }
        try kiosk.pool.write { db in
            let table = try #require(
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'returns'")
            )
            indexes = try Row.fetchAll(db, sql: indexesSQL)
            #expect(indexes.count == 10, "nine indexes and the key's: \(indexes)")
            let old =
                table
                .replacingOccurrences(of: #"CREATE TABLE "returns""#, with: "CREATE TABLE returns_old")
                .replacingOccurrences(of: "NOT NULL PRIMARY KEY", with: "PRIMARY KEY") + " WITHOUT ROWID"
            try db.execute(sql: old)
            try db.execute(sql: "INSERT INTO returns_old SELECT * FROM returns")
            try db.execute(sql: "DROP TABLE returns")
            try db.execute(sql: "ALTER TABLE returns_old RENAME TO returns")
            for index in indexes {
                if let sql: String = index["sql"] { try db.execute(sql: sql) }
            }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v25:%'")
            #expect(throws: (any Error).self, "the fixture is WITHOUT ROWID") {
                try Row.fetchAll(db, sql: "SELECT rowid FROM returns")
            }
            rows = try Row.fetchAll(db, sql: rowsSQL)
        }
        return (rows, indexes)
    }

    /// v25 writes the projection again before it drops the old one: a database capped at its size
    /// (``ReplicaStore/Configuration/maximumSize``) has no room for it. Opening fails with the words for a full
    /// database, the migration is undone whole, and with room it runs.
    @Test func aCappedDatabaseWithoutRoomForV25IsToldSoAndLeftAsItWas() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("kiosk.sqlite")
        let rowsSQL = "SELECT * FROM returns ORDER BY id"
        let (rows, _) = try Self.kioskOfV24(
            at: path,
            rowsSQL: rowsSQL,
            indexesSQL: "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'returns'"
        )
        // No free page left for the new table to reuse, and the file's size what the cap counts.
        try DatabaseQueue(path: path).writeWithoutTransaction { db in try db.execute(sql: "VACUUM") }
        let size: Int64 = try DatabaseQueue(path: path).read { db in
            try Int64.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
                ?? 0
        }
        #expect(size > 0)
        var capped = ReplicaStore.Configuration()
        capped.maximumSize = size
        #expect {
            _ = try ReplicaStore.open(at: path, configuration: capped)
        } throws: { error in
            "\(error)".contains("is full (no space left on the disk, or the configured size limit reached)")
        }
        try DatabaseQueue(path: path).read { db throws in
            #expect(try Row.fetchAll(db, sql: rowsSQL) == rows)
            #expect(
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations WHERE identifier LIKE 'v25:%'")
                    .isEmpty
            )
            #expect(throws: (any Error).self, "still WITHOUT ROWID") {
                try Row.fetchAll(db, sql: "SELECT rowid FROM returns")
            }
        }
        let kiosk = try ReplicaStore.open(at: path)
        try kiosk.pool.read { db throws in
            #expect(try Row.fetchAll(db, sql: rowsSQL) == rows)
            #expect(try Int.fetchAll(db, sql: "SELECT rowid FROM returns ORDER BY rowid") == [1, 2, 3])
        }
    }

    /// v27 and v28 (issue 18's metadata): an HQ database of 0.6.3's schema — each change-log entry naming its record
    /// by type and id, with a clock and a dot, each record with its clock in a column of its own — keeps every entry
    /// and record: records keep their row numbers as their key, entries point at them (an entry whose record is gone
    /// at nothing); the log's sequence carries on where it was (past entries deleted at its end, too); a version HQ
    /// holds is still told from a new one with the clock read out of the record, and each replica's log names its
    /// local edits only.
    @Test func changeLogEntriesPointAtNumberedRecordsAndLoseTheirClocksAndDots() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("s"), kiosk: KioskID("k"))
        )
        var ids: [ReturnID] = []
        for order in ["ORD-1", "ORD-2", "ORD-3"] {
            let capture = ReturnCapture(orderID: try OrderID(order), gtin: try GTIN("4006381333931"), reason: .damaged)
            ids.append(try kiosk.recordReturn(capture).id)
        }
        _ = try kiosk.updateReturn(ids[0], operation: "note") { try $0.addNote("scratched", by: $1, at: $2) }
        let pushed = try kiosk.returnRecords()
        let path = directory.file("hq.sqlite")
        let plans = Mutex<[MigrationPlan]>([])
        var configuration = ReplicaStore.Configuration()
        configuration.announceMigration = { plan in plans.withLock { $0.append(plan) } }
        var (log, records) = ([Row](), [Row]())
        do {
            let hq = try ReplicaStore.create(at: path, identity: .server(replicaID: ReplicaID("hq")))
            #expect(try hq.acceptPush(pushed, from: kiosk.identity.replicaID, store: StoreID("s")).merged == 3)
            // As 0.6.3 left it, with an entry of a record deleted since and its sequence 5 past its last entry.
            try hq.pool.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE change_log_old (
                            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
                            entity_type  TEXT    NOT NULL,
                            record_id    TEXT    NOT NULL,
                            origin       TEXT    NOT NULL CHECK (origin IN ('local', 'merge', 'import')),
                            operation    TEXT    NOT NULL,
                            dot_replica  TEXT,
                            dot_counter  INTEGER,
                            clock        TEXT    NOT NULL,
                            recorded_at  INTEGER NOT NULL,
                            source       TEXT
                        );
                        INSERT INTO change_log_old
                        SELECT c.seq, r.entity_type, r.id, c.origin, 'merge', NULL, NULL,
                            json_extract(r.record, '$.clock'), c.recorded_at, c.source
                        FROM change_log c JOIN records r ON r.row = c.record_row;
                        INSERT INTO change_log_old
                        SELECT max(seq) + 1, 'return', 'gone', 'merge', 'merge', NULL, NULL, '{}', 0, NULL
                        FROM change_log_old;
                        DROP TABLE change_log;
                        ALTER TABLE change_log_old RENAME TO change_log;
                        UPDATE sqlite_sequence SET seq = (SELECT max(seq) + 5 FROM change_log) WHERE name = 'change_log';
                        CREATE TABLE records_old (
                            entity_type  TEXT    NOT NULL,
                            id           TEXT    NOT NULL,
                            clock        TEXT    NOT NULL,
                            record       TEXT    NOT NULL,
                            change_seq   INTEGER NOT NULL,
                            store_id     TEXT,
                            UNIQUE (entity_type, id)
                        );
                        INSERT INTO records_old (rowid, entity_type, id, clock, record, change_seq, store_id)
                        SELECT row + 10, entity_type, id, json_extract(record, '$.clock'), record, change_seq, store_id
                        FROM records;
                        DROP TABLE records;
                        ALTER TABLE records_old RENAME TO records;
                        CREATE INDEX records_by_change_seq ON records (change_seq);
                        CREATE INDEX records_by_store_feed ON records (store_id, change_seq);
                        DELETE FROM grdb_migrations WHERE identifier LIKE 'v27:%' OR identifier LIKE 'v28:%';
                        """
                )
                log = try Row.fetchAll(
                    db,
                    sql: "SELECT seq, entity_type, record_id, origin, recorded_at, source FROM change_log ORDER BY seq"
                )
                records = try Row.fetchAll(
                    db,
                    sql: "SELECT rowid, entity_type, id, record, change_seq, store_id FROM records ORDER BY id"
                )
            }
        }
        #expect(log.count == 4 && records.count == 3)
        let hq = try ReplicaStore.open(at: path, configuration: configuration)
        let plan = try #require(plans.withLock { $0 }.first)
        #expect(
            plan.steps == [
                "v27: records numbered, without a separate clock", "v28: change-log entries point at their record",
            ]
        )
        #expect(plan.heaviestRows == 4)
        let lastSeq = try #require(log.last?["seq"] as Int64?)
        try hq.pool.read { db in
            let columns = { (table: String) in
                try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) ORDER BY cid", arguments: [table])
            }
            #expect(
                try columns("change_log") == ["seq", "record_row", "origin", "operation", "recorded_at", "source"]
            )
            #expect(try columns("records") == ["row", "entity_type", "id", "record", "change_seq", "store_id"])
            let entries = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.seq, coalesce(r.entity_type, 'return') AS entity_type, coalesce(r.id, 'gone') AS record_id, c.origin,
                        c.recorded_at, c.source
                    FROM change_log c LEFT JOIN records r ON r.row = c.record_row ORDER BY c.seq
                    """
            )
            #expect(entries == log, "every entry, pointing at its record")
            #expect(
                try Int64?.fetchOne(db, sql: "SELECT record_row FROM change_log WHERE seq = ?", arguments: [lastSeq])
                    == .some(nil)
            )
            #expect(
                try Row.fetchAll(
                    db,
                    sql: "SELECT row AS rowid, entity_type, id, record, change_seq, store_id FROM records ORDER BY id"
                )
                    == records,
                "every record as it was, numbered as it was"
            )
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM change_log WHERE operation IS NOT NULL") == 0)
            #expect(
                try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'change_log'") == lastSeq + 5
            )
        }
        // Versions HQ holds change nothing; a newer one is merged, at the next position of the carried sequence,
        // its record keeping its number; a new record takes a number past every old one.
        let again = try hq.acceptPush(pushed, from: kiosk.identity.replicaID, store: StoreID("s"))
        #expect(again.merged == 0 && again.unchanged == 3)
        _ = try kiosk.updateReturn(ids[1], operation: "note") { try $0.addNote("dented", by: $1, at: $2) }
        let fourth = try kiosk.recordReturn(
            ReturnCapture(orderID: try OrderID("ORD-4"), gtin: try GTIN("4006381333931"), reason: .defective)
        )
        let newer = try kiosk.returnRecords().filter { [ids[1].rawValue, fourth.id.rawValue].contains($0.id) }
        #expect(try hq.acceptPush(newer, from: kiosk.identity.replicaID, store: StoreID("s")).merged == 2)
        #expect(try hq.lastChangeSeq() == lastSeq + 7)
        try hq.pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql:
                    "SELECT r.id, r.row, c.seq FROM records r JOIN change_log c ON c.record_row = r.row WHERE c.seq > ?",
                arguments: [lastSeq]
            )
            let oldRow = try #require(records.first { $0["id"] == ids[1].rawValue }?["rowid"] as Int64?)
            let maxOld = try #require(records.compactMap { $0["rowid"] as Int64? }.max())
            #expect(rows.count == 2)
            for row in rows {
                if row["id"] == ids[1].rawValue {
                    #expect(row["row"] == oldRow)
                } else {
                    #expect((row["row"] as Int64) > maxOld)
                }
            }
        }
        #expect(
            try hq.record(entityType: ReturnEntity.entityType, id: ids[1].rawValue)
                == newer.first { $0.id == ids[1].rawValue }
        )
        #expect(try hq.integrityCheck() == "ok")
        // Each replica names its own edits; what it merges is told by its origin.
        _ = try hq.updateReturn(ids[2], operation: "note") { try $0.addNote("seen at HQ", by: $1, at: $2) }
        #expect(
            try kiosk.merge(try #require(try hq.record(entityType: ReturnEntity.entityType, id: ids[2].rawValue)))
                .changed
        )
        let operations = try kiosk.pool.read { db in
            try String?.fetchAll(db, sql: "SELECT operation FROM change_log ORDER BY seq")
        }
        #expect(operations == ["record", "record", "record", "note", "note", "record", nil])
        #expect(
            try hq.pool.read { db in
                try String?.fetchAll(
                    db,
                    sql: "SELECT operation FROM change_log WHERE seq > ? ORDER BY seq",
                    arguments: [lastSeq]
                )
            } == [nil, nil, "note"]
        )
    }

    @Test func largeNumbersAreGroupedAndLongEstimatesInMinutes() {
        #expect(MigrationPlan.grouped(1_000_000) == "1,000,000" && MigrationPlan.grouped(999) == "999")
        var plan = MigrationPlan(
            path: "/k/kiosk.sqlite",
            steps: ["v7: x", "v11: y"],
            heaviestStep: "v7: x",
            heaviestRows: 12_345_678,
            estimatedSeconds: 125
        )
        #expect(
            plan.announcement.contains("2 schema steps (v7: x to v11: y), the longest over 12,345,678 rows (v7: x)")
        )
        #expect(plan.announcement.contains("; about 3 min."))
        plan.estimatedSeconds = 4.2
        #expect(plan.announcement.contains("; about 5 s."))
    }
}
