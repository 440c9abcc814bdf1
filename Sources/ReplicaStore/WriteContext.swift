import Foundation
import GRDB
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// Where a change came from, as the change log records it.
public enum ChangeOrigin: String, Sendable {
    /// An edit made on this replica.
    case local
    /// A version received from a peer and merged.
    case merge
    /// A record loaded by a bulk import.
    case `import`
}

/// The state of one write transaction: the connection, the replica's hybrid logical clock, and the prepared
/// inserts every record write runs.
struct WriteContext {
    let db: Database
    let store: ReplicaStore
    var hlc: HybridLogicalClock
    let wallClock: Date
    private var inserts: Inserts?
    /// Reference data read once per transaction by verification; a write of that data clears it.
    var cachedPolicies: [ReturnPolicy]?
    var cachedTimeZones: StoreTimeZones?
    var cachedHasOrders: Bool?
    /// On a kiosk, the change-log position every peer has been pushed up to, read once per transaction (`nil`
    /// until read; 0 on a server, which keeps its whole log).
    private var compactionPoint: Int64?
    /// The change-log position the next change takes (`nil` until the first): the log's AUTOINCREMENT sequence plus
    /// one, read once per transaction and counted on here, since a record is stored before its entry (it needs the
    /// record's number). A change undone with its savepoint leaves its position unused, as AUTOINCREMENT would not:
    /// a gap no reader minds (positions are only compared).
    private var nextSeq: Int64?

    /// The row number of the projection row the last ``store(_:origin:operation:source:replacing:)`` wrote
    /// (`nil`: it wrote none): what re-verification's searches skip a return just stored by.
    private(set) var lastProjectedRow: Int64?

    /// Records new here, with their change-log entries, held while a server merges a push or a kiosk its pulled
    /// pages or an import (``NewRecords``); `nil` otherwise: every record is then written as it is stored.
    var newRecords: NewRecords?

    /// Records new here and their change-log entries, written many to a statement instead of two statements a
    /// record: SQLite's work to start and finish a statement (its cursors, the AUTOINCREMENT sequence, the
    /// statement's journal) was a fifth to a third of what the two inserts cost the server's writer in a sync
    /// (issue 18: a fifth measured on the writer, a third in a replay of the same rows), and on a kiosk a pull's and
    /// an import's. Each record is numbered when it is held, counting on from the
    /// records' AUTOINCREMENT sequence; nothing else may insert a record meanwhile, so ``WriteContext`` writes them
    /// out (``writeNewRecords()``) before it stores anything else and before anything reads `records` or
    /// `change_log` — a lookup of one record only when that record is held — and whatever held them (a push, a
    /// pull's pages, an import) writes them out before it ends. The projection rows of the returns among them are
    /// held with them and written the same way (``NewRecords/projections``). A class: the copies of a context a push
    /// goes through share what they hold.
    final class NewRecords {
        struct Entry {
            let row: Int64
            let entityType: String
            let id: String
            let json: String
            let seq: Int64
            let storeID: String?
            let origin: ChangeOrigin
            let operation: String?
            let recordedAt: Int64
            let source: String?
        }
        /// A return's projection row held, with the row number it takes.
        struct Projection {
            let row: Int64
            let values: [ReturnProjection.Value]
            /// The same values laid out for SQLite where the write was prepared (``PackedProjectionRow``), if so;
            /// `values` is then empty.
            var packed: PackedProjectionRow? = nil
        }
        /// A record held, by type and id.
        struct Key: Hashable {
            let entityType: String
            let id: String
        }
        fileprivate(set) var entries: [Entry] = []
        /// The projection rows of the returns held, written out with them: a push's, a pulled page's or an
        /// import's rows in a few statements (`returnsync_rows(?)`) rather than one statement and 37 bound values a
        /// row. (Held and written 64 to a `VALUES` statement, they had made a kiosk's pull slower — BENCHMARKS.md,
        /// issue 18, twentieth part; through `returnsync_rows` a kiosk's merges are faster holding them, thirtieth.)
        fileprivate(set) var projections: [Projection] = []
        /// The keys of the records held: a lookup of one of them writes them out first, a lookup of any other need
        /// not. Made at the first lookup while records are held (`nil` until then) and kept up to date from then on:
        /// a server's push looks none of its new records up, and hashed every id for nothing (issue 18,
        /// thirty-eighth part); a kiosk's pulled pages look each record up, and keep it, with its capacity.
        private var held: Set<Key>?
        /// The number the next held record takes (`nil` while none is held: read again from the sequence).
        fileprivate var nextRow: Int64?
        /// The row number the next held projection row takes (`nil` while none is held: read again from the table).
        fileprivate var nextProjectionRow: Int64?

        init() {}

        /// Forgets what is held, unwritten: the push that held it was refused, and its savepoint rolled back.
        func discard() {
            entries = []
            // Its table kept: the next push or page holds as many again, and growing it rehashed every id held.
            held?.removeAll(keepingCapacity: true)
            nextRow = nil
            projections = []
            nextProjectionRow = nil
        }

        /// Whether the record of type `entityType` and id `id` is held.
        func holds(_ entityType: String, _ id: String) -> Bool {
            guard !entries.isEmpty else { return false }
            if held == nil {
                var keys = Set<Key>(minimumCapacity: entries.count)
                for entry in entries { keys.insert(Key(entityType: entry.entityType, id: entry.id)) }
                held = keys
            }
            return held?.contains(Key(entityType: entityType, id: id)) == true
        }

        /// Holds `entry`, a record new here.
        fileprivate func hold(_ entry: Entry) {
            entries.append(entry)
            held?.insert(Key(entityType: entry.entityType, id: entry.id))
        }
    }

    /// Rows a multi-row statement writes, largest first: a handful of statements, each compiled once a connection,
    /// write any number of records.
    private static let rowsPerStatement = [64, 16, 4, 1]

    /// The text of each multi-row statement, by rows a statement: records, then change-log entries.
    private static let newRecordsSQL: [Int: (records: String, log: String)] = Dictionary(
        uniqueKeysWithValues: rowsPerStatement.map { rows in
            let values = repeatElement("(?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
            return (
                rows,
                (
                    "INSERT INTO records (row, entity_type, id, record, change_seq, store_id) VALUES " + values,
                    "INSERT INTO change_log (seq, record_row, origin, operation, recorded_at, source) VALUES " + values
                )
            )
        }
    )

    /// The statements of a record write (its inserts, and the lookup of a merged record's stored clock), prepared on
    /// first use and reused for the rest of the transaction. A class: as a struct of seven statements it was copied
    /// (fourteen references retained and released) for every record stored, a tenth of a kiosk's merging thread.
    private final class Inserts {
        let changeLog: RawInsert
        /// A new record (its number is then SQLite's last inserted row id).
        let record: RawInsert
        /// A stored record's new version, by its number.
        let recordUpdate: RawInsert
        /// A stored record's number.
        let recordRow: RawInsert
        let projection: RawInsert
        let order: RawInsert
        /// A record's stored clock (``WriteContext/merge(_:item:origin:prepared:)``).
        let storedClock: RawInsert

        init(_ db: Database) throws {
            // Cached by the connection: compiled once, not once a transaction (each group commit is one). Every
            // parameter is bound before each run, so the statements' arguments are left as they are.
            func cached(_ sql: String) throws -> RawInsert {
                RawInsert(running: try db.cachedStatement(sql: sql), in: db)
            }
            changeLog = try cached(
                """
                INSERT INTO change_log (seq, record_row, origin, operation, recorded_at, source)
                VALUES (?, ?, ?, ?, ?, ?)
                """
            )
            record = try cached(
                """
                INSERT INTO records (entity_type, id, record, change_seq, store_id) VALUES (?, ?, ?, ?, ?)
                """
            )
            // Not an upsert with `RETURNING row`: measured, RETURNING doubled the cost of every record insert.
            recordUpdate = try cached(
                "UPDATE records SET record = ?, change_seq = ?, store_id = ? WHERE row = ?"
            )
            recordRow = try cached("SELECT row FROM records WHERE entity_type = ? AND id = ?")
            projection = try cached(
                """
                INSERT OR REPLACE INTO returns (\(ReturnProjection.names.joined(separator: ", ")))
                VALUES (\(ReturnProjection.names.map { _ in "?" }.joined(separator: ", ")))
                """
            )
            // SQLite's JSON reader, not a decode of the whole record in Swift (v27 dropped the clock's own column).
            storedClock = try cached(
                "SELECT json_extract(record, '$.clock') FROM records WHERE entity_type = ? AND id = ?"
            )
            order = try cached(
                """
                INSERT OR REPLACE INTO orders (record_id, order_id, line, store_id, gtin, serial, quantity,
                    unit_price_cents, sold_at, currency)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
            )
        }
    }

    private mutating func preparedInserts() throws -> Inserts {
        if let inserts { return inserts }
        let prepared = try Inserts(db)
        inserts = prepared
        return prepared
    }

    init(db: Database, store: ReplicaStore, hlc: HybridLogicalClock, wallClock: Date) {
        self.db = db
        self.store = store
        self.hlc = hlc
        self.wallClock = wallClock
    }

    var replicaID: ReplicaID { store.identity.replicaID }

    /// A new stamp from the replica's hybrid logical clock.
    mutating func stamp() throws -> HLCTimestamp {
        try hlc.tick(wallClock: UInt64(max(0, wallClock.millisecondsSince1970)))
    }

    /// A new return id from a new stamp: ids made by this replica strictly increase.
    mutating func makeReturnID() throws -> (ReturnID, HLCTimestamp) {
        let stamp = try stamp()
        return (ReturnID.make(milliseconds: stamp.physical, sequence: stamp.logical), stamp)
    }

    /// The open recall campaigns this replica knows.
    func openRecalls() throws -> [RecallCampaign] {
        try writeNewRecords()
        return try String.fetchAll(
            db,
            sql: "SELECT record FROM records WHERE entity_type = ?",
            arguments: [RecallEntity.entityType]
        ).map { try RecallCampaign(record: ReplicaStore.decodeRecord($0)) }.filter { $0.status == .open }
    }

    /// The stored version of a record, if any.
    func load(entityType: String, id: String) throws -> VersionedRecord? {
        // A record held is written out first (with the others); any other is read as it is stored.
        if newRecords?.holds(entityType, id) == true { try writeNewRecords() }
        let statement = try db.cachedStatement(sql: "SELECT record FROM records WHERE entity_type = ? AND id = ?")
        guard let json = try String.fetchOne(statement, arguments: [entityType, id]) else { return nil }
        return try ReplicaStore.decodeRecord(json)
    }

    /// Stores a new version of a record with its change-log entry and, for returns, its projection.
    ///
    /// - Parameter operation: a local edit's name, for the change log (`nil` for merges and imports).
    /// - Parameter previous: the version it replaces, when the caller has it at hand (a server then reads nothing
    ///   more to keep the steps it replaces).
    /// - Returns: the change-log sequence number of the change.
    @discardableResult
    mutating func save(
        _ record: VersionedRecord,
        origin: ChangeOrigin,
        operation: String?,
        item: ProductReturn? = nil,
        replacing previous: Previous = .unknown
    ) throws -> Int64 {
        try store(
            PreparedWrite(record, item: item),
            origin: origin,
            operation: operation,
            replacing: previous
        )
    }

    /// Stores a record write prepared earlier (possibly on another thread).
    ///
    /// - Parameter operation: a local edit's name, for the change log (`nil` for merges and imports).
    /// - Parameter source: the replica whose pushed version this change stores exactly as it was pushed; that
    ///   replica's feed skips the change, since it holds the version already.
    @discardableResult
    mutating func store(
        _ write: PreparedWrite,
        origin: ChangeOrigin,
        operation: String?,
        source: ReplicaID? = nil,
        replacing previous: Previous = .unknown
    ) throws -> Int64 {
        lastProjectedRow = nil
        let holds: Bool
        if case .nothing = previous, newRecords != nil { holds = true } else { holds = false }
        // Anything but a record new here reads or writes `records` and `change_log` as they are.
        if !holds { try writeNewRecords() }
        if store.identity.role == .server, write.entityType == ReturnEntity.entityType {
            // Every write a server prepares holds its record (only a kiosk import's new returns do not).
            guard let record = write.record else { preconditionFailure("a server's write holds its record") }
            try keepSupersededSteps(of: record, replacing: previous)
        }
        let inserts = try preparedInserts()
        // A record new here has no entry to supersede: no probe for it (every record of a large pull or import
        // into a kiosk that has pushed before).
        if case .nothing = previous {} else { try dropSupersededEntry(entityType: write.entityType, id: write.id) }
        if write.entityType == PolicyEntity.entityType { cachedPolicies = nil }
        if write.entityType == StoreEntity.entityType { cachedTimeZones = nil }
        if write.orderLine != nil { cachedHasOrders = true }
        // The record points at its entry and the entry at the record: the record first, at the entry's position
        // to come, then the entry with the record's number.
        let seq = try nextChangeSeq()
        let storeID = write.projection?.storeID.rawValue ?? write.orderLine?.storeID.rawValue
        // A record new here (nearly every one of a large push or pull) is inserted without a lookup; were one stored
        // after all, the insert fails on the (type, id) key rather than storing it twice.
        if holds, let newRecords {
            let row = try newRecords.nextRow ?? nextRecordRow()
            newRecords.nextRow = row + 1
            newRecords.hold(
                NewRecords.Entry(
                    row: row,
                    entityType: write.entityType,
                    id: write.id,
                    json: write.recordJSON,
                    seq: seq,
                    storeID: storeID,
                    origin: origin,
                    operation: operation,
                    recordedAt: wallClock.millisecondsSince1970,
                    source: source?.rawValue
                )
            )
        } else {
            try storeRecordAndEntry(
                write,
                seq: seq,
                storeID: storeID,
                origin: origin,
                operation: operation,
                source: source,
                replacing: previous
            )
        }
        if let row = write.row, holds, let newRecords {
            // Numbered as SQLite would number it (the largest row number plus one): nothing else writes a
            // projection row while rows are held, since every other write writes them out first.
            let number = try newRecords.nextProjectionRow ?? nextProjectionRow()
            newRecords.nextProjectionRow = number + 1
            switch row {
            case .values(let row):
                newRecords.projections.append(NewRecords.Projection(row: number, values: row.values))
            case .laidOut(let packed):
                newRecords.projections.append(NewRecords.Projection(row: number, values: [], packed: packed))
            }
            lastProjectedRow = number
        } else if let row = write.row {
            let insert = inserts.projection
            switch row {
            case .values(let row):
                for (index, value) in row.values.enumerated() {
                    let position = Int32(index + 1)
                    switch value {
                    case .text(let text): insert.bind(position, text)
                    case .integer(let number): insert.bind(position, number)
                    case .flag(let flag): insert.bind(position, flag)
                    }
                }
            case .laidOut(let packed):
                let values = packed.values
                for index in 0..<packed.width { insert.bind(Int32(index + 1), values[index]) }
            }
            try insert.run()
            // INSERT OR REPLACE: a new row, numbered anew, whether or not one replaced.
            lastProjectedRow = db.lastInsertedRowID
        }
        // Which returns name which attachment: what a kiosk may send or fetch the bytes of (grow-only, like the set).
        if let item = write.projection, !item.attachments.isEmpty {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO return_attachments (digest, store_id, return_id, media_type, size)
                    VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                    """
            )
            for attachment in item.attachments {
                try insert.execute(arguments: [
                    attachment.digest, item.storeID.rawValue, item.id.rawValue, attachment.mediaType.rawValue,
                    attachment.size,
                ])
            }
        }
        if let line = write.orderLine {
            let insert = inserts.order
            insert.bind(1, line.recordID)
            insert.bind(2, line.orderID.rawValue)
            insert.bind(3, Int64(line.line))
            insert.bind(4, line.storeID.rawValue)
            insert.bind(5, line.gtin.digits)
            insert.bind(6, line.serial?.rawValue)
            insert.bind(7, Int64(line.quantity))
            insert.bind(8, line.unitPriceCents)
            insert.bind(9, line.soldAt.millisecondsSince1970)
            insert.bind(10, line.currency?.code)
            try insert.run()
        }
        return seq
    }

    /// Writes a record's version and its change-log entry, one statement each.
    private mutating func storeRecordAndEntry(
        _ write: PreparedWrite,
        seq: Int64,
        storeID: String?,
        origin: ChangeOrigin,
        operation: String?,
        source: ReplicaID?,
        replacing previous: Previous
    ) throws {
        let inserts = try preparedInserts()
        let stored: Int64?
        if case .nothing = previous {
            stored = nil
        } else {
            inserts.recordRow.bind(1, write.entityType)
            inserts.recordRow.bind(2, write.id)
            stored = try inserts.recordRow.firstInteger()
        }
        let row: Int64
        if let stored {
            let update = inserts.recordUpdate
            update.bind(1, write.recordJSON)
            update.bind(2, seq)
            update.bind(3, storeID)
            update.bind(4, stored)
            try update.run()
            row = stored
        } else {
            let insert = inserts.record
            insert.bind(1, write.entityType)
            insert.bind(2, write.id)
            insert.bind(3, write.recordJSON)
            insert.bind(4, seq)
            insert.bind(5, storeID)
            try insert.run()
            row = db.lastInsertedRowID
        }
        let log = inserts.changeLog
        log.bind(1, seq)
        log.bind(2, row)
        log.bind(3, origin.rawValue)
        log.bind(4, operation)
        log.bind(5, wallClock.millisecondsSince1970)
        log.bind(6, source?.rawValue)
        try log.run()
    }

    /// The number the next record inserted here takes: the records' AUTOINCREMENT sequence plus one, as SQLite
    /// would give it (the sequence is never below the largest number, and numbers are never reused, v27).
    private func nextRecordRow() throws -> Int64 {
        let statement = try db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'records'")
        return (try Int64.fetchOne(statement) ?? 0) + 1
    }

    /// The row number the next projection row takes: the largest plus one, as SQLite gives it.
    private func nextProjectionRow() throws -> Int64 {
        let statement = try db.cachedStatement(sql: "SELECT max(rowid) FROM returns")
        return (try Int64.fetchOne(statement) ?? 0) + 1
    }

    /// Writes out the records ``newRecords`` holds, their change-log entries and projection rows, many to a
    /// statement: before anything reads or writes `records`, `change_log` or `returns`, and before whatever held
    /// them (a push, a pulled page, an import's chunk) ends.
    func writeNewRecords() throws {
        guard let newRecords, !newRecords.entries.isEmpty || !newRecords.projections.isEmpty else { return }
        let entries = newRecords.entries
        let projections = newRecords.projections
        // Forgotten first: were a statement to fail, the push's savepoint (or the whole transaction) rolls back what
        // was written, and nothing held may be written again by a later push of the group.
        newRecords.discard()
        var start = 0
        while start < entries.count {
            let rows = Self.rowsPerStatement.first { $0 <= entries.count - start } ?? 1
            // Cached by the connection: compiled once, not once a push; the text, its key, is made once.
            let statements = (
                records: RawInsert(
                    running: try db.cachedStatement(sql: Self.newRecordsSQL[rows]!.records),
                    in: db
                ),
                log: RawInsert(running: try db.cachedStatement(sql: Self.newRecordsSQL[rows]!.log), in: db)
            )
            var position: Int32 = 1
            for entry in entries[start..<start + rows] {
                statements.records.bind(position, entry.row)
                statements.records.bind(position + 1, entry.entityType)
                statements.records.bind(position + 2, entry.id)
                statements.records.bind(position + 3, entry.json)
                statements.records.bind(position + 4, entry.seq)
                statements.records.bind(position + 5, entry.storeID)
                statements.log.bind(position, entry.seq)
                statements.log.bind(position + 1, entry.row)
                statements.log.bind(position + 2, entry.origin.rawValue)
                statements.log.bind(position + 3, entry.operation)
                statements.log.bind(position + 4, entry.recordedAt)
                statements.log.bind(position + 5, entry.source)
                position += 6
            }
            try statements.records.run()
            try statements.log.run()
            start += rows
        }
        try writeProjections(projections)
    }

    /// Writes out what ``newRecords`` holds when it holds projection rows: what anything reading `returns` in a
    /// write calls first (re-verification, verification, the recall sweep). Held records without a return among
    /// them stay held.
    func writeHeldProjections() throws {
        guard let newRecords, !newRecords.projections.isEmpty else { return }
        try writeNewRecords()
    }

    /// How many projection rows one statement writes at most: 512 rows' values and text take about half a megabyte.
    private static let projectionRowsPerStatement = 512

    /// `INSERT OR REPLACE INTO returns` of the rows bound to `returnsync_rows(?)`, the row number first.
    private static let projectionRowsSQL = """
        INSERT OR REPLACE INTO returns (rowid, \(ReturnProjection.names.joined(separator: ", ")))
        SELECT \((0...ReturnProjection.names.count).map { "c\($0)" }.joined(separator: ", ")) FROM returnsync_rows(?)
        """

    /// Writes projection rows held, each at its row number, a few hundred to a statement.
    private func writeProjections(_ projections: [NewRecords.Projection]) throws {
        guard !projections.isEmpty else { return }
        let statement = try db.cachedStatement(sql: Self.projectionRowsSQL)
        var start = 0
        while start < projections.count {
            let chunk = projections[start..<min(start + Self.projectionRowsPerStatement, projections.count)]
            let rows = ProjectionRows(chunk)
            // Rows a push or a pulled page prepared are handed over as laid out then; an import's are laid out here.
            let insert = RawInsert(running: statement, in: db)
            let packed = try rows.withPackedRows { rows in try insert.run(binding: rows) }
            if !packed {
                try rows.withRows { rows in try insert.run(binding: rows) }
            }
            start += chunk.count
        }
    }

    /// The position of the next change in the log (``nextSeq``).
    private mutating func nextChangeSeq() throws -> Int64 {
        let next: Int64
        if let nextSeq {
            next = nextSeq
        } else {
            let statement = try db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'change_log'")
            next = (try Int64.fetchOne(statement) ?? 0) + 1
        }
        nextSeq = next + 1
        return next
    }

    /// The version a write replaces, as far as its caller knows.
    enum Previous {
        /// None is stored: the write creates the record.
        case nothing
        /// This one.
        case version(VersionedRecord)
        /// Whatever is stored: read it when needed.
        case unknown
    }

    /// On the server, keeps the step writes (condition, disposition) that the version about to be stored replaces,
    /// for the EPCIS export ([SupersededStep]). A new return — nearly all of a large push — replaces nothing and
    /// costs nothing here.
    private mutating func keepSupersededSteps(of record: VersionedRecord, replacing previous: Previous) throws {
        let old: VersionedRecord?
        switch previous {
        case .nothing: old = nil
        case .version(let version): old = version
        case .unknown: old = try load(entityType: record.entityType, id: record.id)
        }
        guard let old else { return }
        let steps = SupersededStep.between(old, record)
        guard !steps.isEmpty else { return }
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO superseded_steps (return_id, field, value, replica, counter, stamp_physical, stamp_logical)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """
        )
        for step in steps {
            try insert.execute(arguments: [
                step.returnID, step.field, step.value, step.dot.replica.rawValue, Int64(step.dot.counter),
                Int64(step.stamp.physical), Int64(step.stamp.logical),
            ])
        }
    }

    /// On a kiosk, deletes the change-log entry of the version a write is about to replace when every peer has
    /// been pushed past it: nothing reads it any more. A push reads records, not the log; the log's entries after
    /// the checkpoint (what is unsynced, which changes were merges) and each record's current entry (the feed and
    /// export read its `source`) stay. Without this, a kiosk's log grew by an entry per edit for ever — 39 % of
    /// its database after five edits per return (BENCHMARKS.md).
    /// ``movingCheckpoints(_:)`` takes the entries a checkpoint move leaves behind.
    private mutating func dropSupersededEntry(entityType: String, id: String) throws {
        let point: Int64
        if let compactionPoint {
            point = compactionPoint
        } else {
            point = store.compactsChangeLog ? try pushedByEveryPeer() : 0
            compactionPoint = point
        }
        guard point > 0 else { return }
        let statement = try db.cachedStatement(
            sql: """
                DELETE FROM change_log
                WHERE seq = (SELECT change_seq FROM records WHERE entity_type = ? AND id = ?) AND seq <= ?
                """
        )
        try statement.execute(arguments: [entityType, id, point])
    }

    /// The change-log position every peer has been pushed up to (0 before the first push).
    private func pushedByEveryPeer() throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT min(pushed_seq) FROM sync_checkpoints")) ?? 0
    }

    /// Runs `move`, which moves push checkpoints forward, and then, on a kiosk, deletes the change-log entries
    /// the move left behind every peer that no record points to any more (superseded before the move; entries
    /// superseded after it go as they are, ``dropSupersededEntry(entityType:id:)``). The newest entry always
    /// stays: the log's last position is the replica's change count.
    mutating func movingCheckpoints(_ move: (Database) throws -> Void) throws {
        try writeNewRecords()
        guard store.compactsChangeLog else { return try move(db) }
        let before = try pushedByEveryPeer()
        try move(db)
        let after = try pushedByEveryPeer()
        compactionPoint = after
        guard after > before else { return }
        try db.execute(
            sql: """
                DELETE FROM change_log WHERE seq > ?1 AND seq <= ?2 AND seq < (SELECT max(seq) FROM change_log)
                  AND NOT EXISTS (SELECT 1 FROM records r WHERE r.change_seq = change_log.seq)
                """,
            arguments: [before, after]
        )
    }

    /// Merges a version received from elsewhere, audits the conflicts the merge detected, and stores the result.
    ///
    /// A version already known changes nothing and writes nothing, which makes receiving it again harmless.
    ///
    /// - Parameter item: the return `remote` holds, when the caller has decoded it already.
    @discardableResult
    mutating func merge(
        _ remote: VersionedRecord,
        item: ProductReturn? = nil,
        origin: ChangeOrigin,
        prepared: PreparedWrite? = nil
    ) throws -> MergeOutcome {
        // The stored clock alone tells whether the remote version is new, known, or needs a merge; loading and
        // decoding the whole record is only needed for the last.
        if newRecords?.holds(remote.entityType, remote.id) == true { try writeNewRecords() }
        let lookup = try preparedInserts().storedClock
        lookup.bind(1, remote.entityType)
        lookup.bind(2, remote.id)
        guard let clockJSON = try lookup.firstText() else {
            return try merge(remote, into: nil, item: item, origin: origin, prepared: prepared)
        }
        if try VectorClock(jsonValue: JSONValue.parse(clockJSON)).dominates(remote.clock) {
            return MergeOutcome(changed: false, detectedConflicts: [])
        }
        guard let local = try load(entityType: remote.entityType, id: remote.id) else {
            throw ReplicaStoreError(code: .storage, message: "record \(remote.id) vanished during a merge")
        }
        return try merge(remote, into: local, item: item, origin: origin)
    }

    /// Merges `remote` into `local`, the stored version the caller has already loaded (`nil`: none is stored),
    /// audits the conflicts the merge detected, and stores the result.
    ///
    /// - Parameters:
    ///   - source: the replica that pushed `remote`; when the result is exactly `remote`, the change is tagged with
    ///     it so its own feed does not send the version back.
    ///   - prepared: `remote`'s write, prepared earlier, used if nothing is stored (the result is then `remote`).
    mutating func merge(
        _ remote: VersionedRecord,
        into local: VersionedRecord?,
        item: ProductReturn? = nil,
        origin: ChangeOrigin,
        source: ReplicaID? = nil,
        prepared: PreparedWrite? = nil
    ) throws -> MergeOutcome {
        // Only writes new here are checked and witnessed: a stamp stored before stamps were bounded must not fail
        // every later merge of its record, nor drag this replica's clock along again after an operator reset it.
        // Every write of a record new here is new: its newest stamp, worked out with the prepared write when there is
        // one (off the writer's thread), is the one to check.
        let newestFresh =
            if let local {
                remote.writes(notCoveredBy: local.clock).map(\.value.stamp).max()
            } else {
                prepared?.newestStamp ?? remote.latestStamp
            }
        if let newest = newestFresh {
            do {
                try HybridLogicalClock.checkDrift(newest, wallClock: UInt64(max(0, wallClock.millisecondsSince1970)))
            } catch let error as SyncEngineError {
                throw SyncEngineError(code: error.code, message: "\(remote.entityType) \(remote.id): \(error.message)")
            }
            hlc.witness(newest)
        }
        guard var local else {
            let write = try prepared ?? PreparedWrite(remote, item: item)
            try store(write, origin: origin, operation: nil, source: source, replacing: .nothing)
            // Worked out with the write, off the writer's thread when it was prepared.
            let conflicts = write.hasOpenConflicts ? remote.openConflicts(policy: ReturnEntity.policy) : []
            try audit(conflicts, in: remote)
            return MergeOutcome(changed: true, detectedConflicts: conflicts.map(\.field))
        }
        let before = local
        let outcome = try local.merge(remote)
        guard outcome.changed else { return outcome }
        // Equal clocks mean equal versions: the pusher already holds exactly what is stored.
        let exactlyPushed = local.clock == remote.clock ? source : nil
        try store(
            PreparedWrite(local),
            origin: origin,
            operation: nil,
            source: exactlyPushed,
            replacing: .version(before)
        )
        let detected = Set(outcome.detectedConflicts)
        try audit(local.openConflicts(policy: ReturnEntity.policy).filter { detected.contains($0.field) }, in: local)
        return outcome
    }

    private func audit(_ conflicts: [FieldConflict], in record: VersionedRecord) throws {
        for conflict in conflicts {
            try db.cachedStatement(
                sql: """
                    INSERT INTO conflicts (entity_type, record_id, field, "values", winner, detected_at, detected_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                record.entityType, record.id, conflict.field,
                JSONValue.array(conflict.values.map(\.jsonValue)).serializedString,
                conflict.winner.jsonValue.serializedString,
                wallClock.millisecondsSince1970, replicaID.rawValue,
            ])
        }
    }
}

/// Everything a record write stores, computed from the record alone, so it can be prepared off the database
/// thread: the JSON texts and, for a return, its row of the `returns` table.
///
/// A class: a write is handed from the preparing thread through the push's dictionary to the merge and the held
/// rows, and a struct's every copy retained the strings of the return and of its row one by one (issue 18,
/// twenty-third part).
final class PreparedWrite: Sendable {
    /// The record; `nil` for a return a kiosk import creates, whose record is only ever stored as its JSON
    /// (``init(created:json:stamp:)``).
    let record: VersionedRecord?
    let entityType: String
    let id: String
    let recordJSON: String
    /// The return as every replica shows it; `nil` for other entities.
    let projection: ProductReturn?
    /// The order line, for order records.
    let orderLine: OrderLine?
    /// A return's row in the `returns` table, in one of two forms.
    enum Row: Sendable {
        /// As values: an import's new returns, whose rows its writer lays out many at once.
        case values(ReturnProjection)
        /// Laid out for SQLite (``PackedProjectionRow``) here rather than on the writer; held instead of the values,
        /// not beside them (both held an array of 37 values, its texts retained, to free with every write of a push;
        /// issue 18, thirty-seventh part).
        case laidOut(PackedProjectionRow)
    }

    /// The return's row in the `returns` table; `nil` for other entities.
    let row: Row?
    /// The greatest stamp of the record's values (``VersionedRecord/latestStamp``).
    let newestStamp: HLCTimestamp?
    /// Whether the record holds a conflict not resolved yet (``VersionedRecord/hasOpenConflicts``).
    let hasOpenConflicts: Bool

    /// Prepares the write of `record`; `item`, when given, is its visible return (saving a decode).
    init(_ record: VersionedRecord, item: ProductReturn? = nil) throws {
        self.record = record
        entityType = record.entityType
        id = record.id
        recordJSON = record.jsonString
        projection = try record.entityType == ReturnEntity.entityType ? item ?? ProductReturn(record: record) : nil
        orderLine = try record.entityType == OrderEntity.entityType ? OrderLine(record: record) : nil
        let newestStamp = record.latestStamp
        self.newestStamp = newestStamp
        let hasOpenConflicts = record.hasOpenConflicts
        self.hasOpenConflicts = hasOpenConflicts
        // The newest stamp, in milliseconds, is what `updatedAt` means for a stored return.
        let row = projection.map {
            ReturnProjection(
                $0,
                inConflict: hasOpenConflicts,
                updatedAt: newestStamp.map { Int64($0.physical) }
            )
        }
        self.row = row.map { .laidOut(PackedProjectionRow($0.values)) }
    }

    /// Prepares the write of a return just created by one write stamped `stamp`, whose record's JSON is `json`
    /// (``ReturnEntity/creationJSON(for:by:stamp:operatorID:)``), without the record: what a kiosk import stores.
    /// Such a record holds no conflict, and its newest stamp is its one write's.
    init(created item: ProductReturn, json: String, stamp: HLCTimestamp) {
        record = nil
        entityType = ReturnEntity.entityType
        id = item.id.rawValue
        recordJSON = json
        projection = item
        orderLine = nil
        newestStamp = stamp
        hasOpenConflicts = false
        // An import's rows are laid out by its writer, many at once (``ProjectionRows/withRows(_:)``): its
        // preparing thread, not its writer, bounds an import (BENCHMARKS.md, issue 18, thirty-second part).
        row = .values(ReturnProjection(item, inConflict: false, updatedAt: Int64(stamp.physical)))
    }
}
