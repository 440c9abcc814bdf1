import Foundation
import GRDB
import PropertyBased
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine
import Testing

@testable import ReplicaStore

/// Committing the writes of several syncs in one transaction must change nothing but the number of commits.
@Suite struct GroupCommitTests {
    static let stores = try! ["store-1", "store-2"].map(StoreID.init)
    static let kiosks = try! ["store-1/k", "store-2/k"].map(ReplicaID.init)

    /// What a server holds, in a form two servers fed the same pushes must agree on (HQ's own stamps aside).
    static func holdings(_ store: ReplicaStore) throws -> [String] {
        try store.returnRecords().map { record in
            let item = try ProductReturn(record: record)
            return
                "\(record.id) \(record.clock.counters.filter { $0.key.rawValue != "hq" }.sorted { $0.key.rawValue < $1.key.rawValue }) "
                + "\(item.status.rawValue) \(item.verification?.rawValue ?? "-") \(item.exceptions.map(\.rawValue))"
        }
        .sorted()
    }

    /// A kiosk of the first store and a server, each a new database in `directory`.
    static func kioskAndServer(in directory: TemporaryDirectory) throws -> (kiosk: ReplicaStore, server: ReplicaStore) {
        (
            try ReplicaStore.create(
                at: directory.file("kiosk.sqlite"),
                identity: .kiosk(store: stores[0], kiosk: KioskID("k"))
            ),
            try ReplicaStore.create(at: directory.file("hq.sqlite"), identity: .server(replicaID: ReplicaID("hq")))
        )
    }

    /// Where a server's records and change log do not point at each other: a push's new records are numbered before
    /// they are written, many to a statement, with their entries (``WriteContext/NewRecords``). Every record must
    /// point at an entry that points back at it, and the records' sequence must have counted every number given.
    static func brokenLinks(_ store: ReplicaStore) throws -> [String] {
        try store.pool.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT 'record ' || r.row || ' (' || r.id || ') and entry ' || r.change_seq
                    FROM records r LEFT JOIN change_log c ON c.seq = r.change_seq
                    WHERE c.record_row IS NOT r.row
                    UNION ALL
                    SELECT 'entry ' || c.seq || ' points at no record'
                    FROM change_log c LEFT JOIN records r ON r.row = c.record_row
                    WHERE r.row IS NULL
                    UNION ALL
                    SELECT 'sequence ' || coalesce(s.seq, 0) || ' below record ' || m.top
                    FROM (SELECT max(row) AS top FROM records) m
                    LEFT JOIN sqlite_sequence s ON s.name = 'records'
                    WHERE m.top > coalesce(s.seq, 0)
                    """
            )
        }
    }

    /// Where a replica's `returns` projection differs from what its return records show: every report, list and
    /// search reads the projection, so each row must be exactly the one derived from its record alone
    /// (``ReturnProjection``: its return, whether it holds an open conflict, its newest stamp) — the rule a
    /// projection rebuilt from the records, or kept by another writer, would rely on.
    static func projectionDrift(_ store: ReplicaStore) throws -> [String] {
        func text(_ value: ReturnProjection.Value) -> String {
            switch value {
            case .text(let text): text ?? "NULL"
            case .integer(let number): number.map(String.init) ?? "NULL"
            case .flag(let flag): flag ? "1" : "0"
            }
        }
        var expected: [String: [String]] = [:]
        // Read from `records` itself: `returnRecords()` joins the projection, so a record whose row is missing would
        // be missing from what is expected too.
        let records = try store.pool.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT record FROM records WHERE entity_type = ?",
                arguments: [ReturnEntity.entityType]
            )
        }
        for record in try records.map(ReplicaStore.decodeRecord) {
            let row = ReturnProjection(
                try ProductReturn(record: record),
                inConflict: record.hasOpenConflicts,
                updatedAt: record.latestStamp.map { Int64($0.physical) }
            )
            expected[record.id] = row.values.map(text)
        }
        let stored = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(ReturnProjection.names.joined(separator: ", ")) FROM returns")
        }
        var drift: [String] = []
        var seen: Set<String> = []
        for row in stored {
            let values = ReturnProjection.names.indices.map { index -> String in
                let value = row[index] as DatabaseValue
                switch value.storage {
                case .null: return "NULL"
                case .int64(let number): return String(number)
                case .string(let string): return string
                default: return "\(value)"
                }
            }
            let id = values[0]
            seen.insert(id)
            guard let want = expected[id] else {
                drift.append("row \(id) has no record")
                continue
            }
            for (index, (got, wanted)) in zip(values, want).enumerated() where got != wanted {
                drift.append("\(id).\(ReturnProjection.names[index]): \(got), record shows \(wanted)")
            }
        }
        for id in expected.keys where !seen.contains(id) { drift.append("record \(id) has no row") }
        return drift.sorted()
    }

    /// A result as compared: the outcome's counts, or the refusal's reason and message.
    static func summary(_ result: Result<PushOutcome?, any Error>) -> String {
        switch result {
        case .success(let outcome?):
            "merged \(outcome.merged) unchanged \(outcome.unchanged) conflicts \(outcome.conflicts)"
        case .success(nil): "noted"
        case .failure(let rejection as PushRejection): "refused \(rejection.reason) \(rejection.message)"
        case .failure(let error): "failed \(error)"
        }
    }

    @Test func aGroupCommitStoresAndAnswersExactlyWhatOneCommitEachWould() async throws {
        // Each number describes one push; the last one also seeds how the pushes are cut into groups.
        let pushes = Gen.int(in: 0...1023).array(of: 1...12)
        await propertyCheck(count: 30, input: pushes) { codes in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let directory = try TemporaryDirectory(function: "group-kiosks")
                let kiosks = try Self.stores.enumerated().map { index, store in
                    try ReplicaStore.create(
                        at: directory.file("kiosk-\(index).sqlite"),
                        identity: .kiosk(store: store, kiosk: KioskID("k"))
                    )
                }
                var writes: [GroupedWrite] = []
                for code in codes {
                    let kiosk = code & 1
                    switch (code >> 1) % 8 {
                    case 0:
                        writes.append(.noteSync(replicaID: Self.kiosks[kiosk].rawValue, protocolVersion: 4))
                    case 1:
                        // Another store's return: refused (forbidden-store), the whole push with it.
                        let foreign = try kiosks[1 - kiosk].recordReturn(
                            ReturnCapture(orderID: OrderID("ORD-9"), gtin: GTIN("4006381333931"), reason: .defective)
                        )
                        let own = try kiosks[kiosk].recordReturn(
                            ReturnCapture(orderID: OrderID("ORD-8"), gtin: GTIN("96385074"), reason: .damaged)
                        )
                        let records = [
                            try kiosks[kiosk].returnRecord(own.id), try kiosks[1 - kiosk].returnRecord(foreign.id),
                        ]
                        writes.append(
                            .push(PreparedServerPush(records, from: Self.kiosks[kiosk], store: Self.stores[kiosk]))
                        )
                    default:
                        // New returns, some of them edited, and now and then everything the kiosk holds again.
                        var ids: [ReturnID] = []
                        for index in 0..<(1 + (code >> 4) % 3) {
                            let item = try kiosks[kiosk].recordReturn(
                                ReturnCapture(
                                    orderID: OrderID("ORD-\((code >> 6) % 3)"),
                                    gtin: GTIN(index == 0 ? "4006381333931" : "96385074"),
                                    reason: .defective,
                                    quantity: 1 + index
                                )
                            )
                            ids.append(item.id)
                            if (code >> 8) & 1 == 1 {
                                _ = try kiosks[kiosk].updateReturn(item.id, operation: "void") { item, author, date in
                                    try item.void(note: "mistake", by: author, at: date)
                                }
                            }
                        }
                        let records =
                            (code >> 9) & 1 == 1
                            ? try kiosks[kiosk].returnRecords() : try ids.map { try kiosks[kiosk].returnRecord($0) }
                        writes.append(
                            .push(PreparedServerPush(records, from: Self.kiosks[kiosk], store: Self.stores[kiosk]))
                        )
                    }
                }

                func server(_ name: String) throws -> ReplicaStore {
                    let store = try ReplicaStore.create(
                        at: directory.file("\(name).sqlite"),
                        identity: .server(replicaID: ReplicaID("hq"))
                    )
                    for index in Self.kiosks.indices {
                        try store.createEnrollment(
                            tokenHash: "token-\(index)",
                            tokenKey: Data(repeating: UInt8(index), count: 32),
                            store: Self.stores[index],
                            kiosk: KioskID("k"),
                            expiresAt: Date().addingTimeInterval(3_600)
                        )
                        try store.redeemEnrollment(
                            store: Self.stores[index],
                            kiosk: KioskID("k"),
                            publicKey: Data(repeating: 9, count: 32),
                            proves: { _ in true }
                        )
                    }
                    return store
                }
                let alone = try server("alone")
                let singly = writes.map { alone.commitGroup([$0])[0] }

                let grouped = try server("grouped")
                var random = SeededRandom(seed: UInt64(codes.last!))
                var together: [Result<PushOutcome?, any Error>] = []
                var rest = writes[...]
                while !rest.isEmpty {
                    let size = Int.random(in: 1...4, using: &random)
                    together += grouped.commitGroup(Array(rest.prefix(size)))
                    rest = rest.dropFirst(size)
                }

                #expect(together.map(Self.summary) == singly.map(Self.summary))
                #expect(try Self.holdings(grouped) == Self.holdings(alone))
                #expect(try grouped.changeLogCount() == alone.changeLogCount(), "a refused push leaves nothing behind")
                #expect(try Self.brokenLinks(grouped) == [])
                #expect(try Self.brokenLinks(alone) == [])
                #expect(try Self.projectionDrift(grouped) == [])
                #expect(try Self.projectionDrift(alone) == [])
                for kiosk in kiosks { #expect(try Self.projectionDrift(kiosk) == []) }
                #expect(
                    try grouped.enrolledKiosks().map { $0.lastSyncAt != nil }
                        == alone.enrolledKiosks().map { $0.lastSyncAt != nil }
                )
            } catch {
                Issue.record(error)
            }
        }
    }

    /// The stored versions of a push's returns are read ahead in one query; a return pushed twice in one batch must
    /// still be merged into what the first copy stored, not into what was stored before the batch.
    @Test func aReturnPushedTwiceInOneBatchIsMergedIntoItsFirstCopy() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: Self.stores[0], kiosk: KioskID("k"))
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .defective)
        )
        let first = try kiosk.returnRecord(item.id)
        _ = try kiosk.updateReturn(item.id, operation: "void") { item, author, date in
            try item.void(note: "mistake", by: author, at: date)
        }
        let newer = try kiosk.returnRecord(item.id)
        let server = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let outcome = try server.acceptPush([newer, first], from: Self.kiosks[0], store: Self.stores[0])
        #expect(outcome.merged == 1 && outcome.unchanged == 1)
        #expect(try ProductReturn(record: server.returnRecord(item.id)).status == .voided, "the newer version stays")
        #expect(try Self.brokenLinks(server) == [])
        // The older copy first: held as a new record, then written out when the second copy reads it, and updated.
        let other = try ReplicaStore.create(
            at: directory.file("hq-2.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let again = try other.acceptPush([first, newer], from: Self.kiosks[0], store: Self.stores[0])
        #expect(again.merged == 2 && again.unchanged == 0)
        #expect(try ProductReturn(record: other.returnRecord(item.id)).status == .voided)
        #expect(try other.changeLogCount() == 2)
        #expect(try Self.brokenLinks(other) == [])
        // Each copy comes with its own decoded return; what is stored is the merge, and so must be its row.
        #expect(try Self.projectionDrift(server) == [])
        #expect(try Self.projectionDrift(other) == [])
    }

    /// The writer finds a push's returns by their position (the push rules ask for them in the order they were read
    /// ahead); asked in another order, it must fall back to finding them by id — the stored version read ahead, or
    /// nothing — and store each exactly as one asked in order would.
    @Test func aPushTransactionAskedOutOfOrderFindsEveryReturnByItsID() throws {
        let directory = try TemporaryDirectory()
        let (kiosk, server) = try Self.kioskAndServer(in: directory)
        let items = try (0..<3).map { index in
            try kiosk.recordReturn(
                ReturnCapture(orderID: OrderID("ORD-\(index)"), gtin: GTIN("4006381333931"), reason: .defective)
            )
        }
        _ = try server.acceptPush([kiosk.returnRecord(items[0].id)], from: Self.kiosks[0], store: Self.stores[0])
        _ = try kiosk.updateReturn(items[0].id, operation: "void") { item, author, date in
            try item.void(note: "mistake", by: author, at: date)
        }
        let push = PreparedServerPush(
            try items.map { try kiosk.returnRecord($0.id) },
            from: Self.kiosks[0],
            store: Self.stores[0]
        )
        let entries = push.rules.records
        try server.write { context in
            context.newRecords = WriteContext.NewRecords()
            var transaction = try SQLitePushTransaction(context: context, push: push)
            try transaction.prefetch(entries.compactMap { $0.product?.id.rawValue })
            // Last first: only the middle one is asked for at its own position.
            for entry in entries.reversed() {
                let stored = try transaction.storedReturn(entry.record.id)
                #expect((stored != nil) == (entry.record.id == items[0].id.rawValue), "\(entry.record.id)")
                let outcome = try transaction.merge(
                    entry.record,
                    into: stored,
                    item: entry.product!,
                    source: Self.kiosks[0]
                )
                #expect(outcome.changed)
            }
            try transaction.reverify(changed: entries)
            try transaction.context.writeNewRecords()
            context = transaction.context
        }
        #expect(try server.returnRecords().count == 3)
        #expect(try ProductReturn(record: server.returnRecord(items[0].id)).status == .voided)
        #expect(try server.changeLogCount() == 4)
        #expect(try Self.projectionDrift(server) == [])
        #expect(try Self.brokenLinks(server) == [])
    }

    /// A server holds a push's projection rows and writes them 512 to a statement (``WriteContext/NewRecords``),
    /// numbering each as SQLite would: a push of more than two statements' rows, then another push numbered on from
    /// the first, must leave every row exactly as its record shows, none lost to a number given twice.
    @Test func aPushOfMoreRowsThanOneStatementWritesKeepsEveryProjectionRow() throws {
        let directory = try TemporaryDirectory()
        let (kiosk, server) = try Self.kioskAndServer(in: directory)
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 1_100))
        let first = try kiosk.returnRecords()
        #expect(try server.acceptPush(first, from: Self.kiosks[0], store: Self.stores[0]).merged == 1_100)
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 600, offset: 1_100))
        let firstIDs = Set(first.map(\.id))
        let second = try kiosk.returnRecords().filter { !firstIDs.contains($0.id) }
        #expect(try server.acceptPush(second, from: Self.kiosks[0], store: Self.stores[0]).merged == 600)
        let rows = try server.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT count(*), min(rowid), max(rowid) FROM returns")
        }
        #expect(rows.map { [$0[0], $0[1], $0[2]] as [Int64] } == [1_700, 1, 1_700])
        #expect(try Self.projectionDrift(server) == [])
        #expect(try Self.brokenLinks(server) == [])
    }

    /// A write that fails for a reason of the storage's (here the database's size cap, as a full disk) abandons the
    /// group's transaction; the others are committed after all, and only that write reports the failure.
    @Test func aFullDiskFailsOnlyThePushThatFilledIt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hq.sqlite")
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: Self.stores[0], kiosk: KioskID("k"))
        )
        let small = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .defective)
        )
        let filler = String(repeating: "x", count: 1_500)
        var large: [ReturnID] = []
        for index in 0..<400 {
            let item = try kiosk.recordReturn(
                ReturnCapture(orderID: OrderID("ORD-2"), gtin: GTIN("4006381333931"), reason: .defective)
            )
            _ = try kiosk.updateReturn(item.id, operation: "note") { item, author, date in
                try item.addNote("\(index) \(filler)", by: author, at: date)
            }
            large.append(item.id)
        }
        _ = try ReplicaStore.create(at: path, identity: .server(replicaID: ReplicaID("hq")))
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let capped = try ReplicaStore.open(
            at: path,
            configuration: ReplicaStore.Configuration(maximumSize: Int64(size) + 200_000)
        )
        let results = capped.commitGroup([
            .push(PreparedServerPush([try kiosk.returnRecord(small.id)], from: Self.kiosks[0], store: Self.stores[0])),
            .push(PreparedServerPush(try large.map(kiosk.returnRecord), from: Self.kiosks[0], store: Self.stores[0])),
        ])
        #expect(Self.summary(results[0]).hasPrefix("merged 1 "))
        let failure = Self.summary(results[1])
        #expect(failure.contains("is full"), "\(failure)")
        #expect(try capped.returnRecords().map(\.id) == [small.id.rawValue], "the small push, and only it")
        #expect(try capped.integrityCheck() == "ok")
    }
}

@Suite struct SyncMetadataCostTests {
    /// Each edit adds a dot to the record and a change to the log: the measure sees both, and nothing else.
    @Test func editsAddDotsAndHistoryAndTheMeasureStaysWithinTheDatabase() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID("k"))
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .defective)
        )
        let before = try kiosk.syncMetadataCost()
        for edit in 0..<5 {
            _ = try kiosk.updateReturn(item.id, operation: "note") { item, author, date in
                try item.addNote("inspection \(edit)", by: author, at: date)
            }
        }
        let after = try kiosk.syncMetadataCost()
        #expect(before.records == 1 && after.records == 1)
        #expect(before.clockBytes > 0 && before.dotBytes > 0 && before.historyBytes > 0)
        #expect(after.dotBytes > before.dotBytes, "five more writes, five more dots")
        #expect(after.historyBytes >= before.historyBytes)
        #expect(after.metadataBytes < after.databaseBytes)
    }
}
