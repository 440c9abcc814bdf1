import Foundation
import GRDB
import PropertyBased
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

@testable import ReplicaStore

/// A kiosk deletes the change-log entries nothing reads any more (superseded versions the server holds): what it
/// shows, counts as unsynced, pushes and merges must be exactly what a kiosk keeping its whole log does.
@Suite struct ChangeLogCompactionTests {
    static let peer = ReplicaStore.serverPeer
    static let clock: @Sendable () -> Date = { Date(millisecondsSince1970: 1_790_000_000_000) }

    static func kiosk(_ path: String, kiosk: String = "a", compacts: Bool = true) throws -> ReplicaStore {
        var configuration = ReplicaStore.Configuration(now: clock)
        configuration.compactsChangeLog = compacts
        return try ReplicaStore.create(
            at: path,
            identity: .kiosk(store: StoreID("s"), kiosk: KioskID(kiosk)),
            configuration: configuration
        )
    }

    /// Everything of a kiosk that sync or a person sees, its return ids passed through `ids`.
    static func observed(_ store: ReplicaStore, ids: (String) -> String = { $0 }) throws -> [String] {
        let status = try store.status()
        let checkpoint = try store.checkpoint(for: peer)
        return try store.returnRecords().map { ids($0.jsonString) }.sorted() + [
            "unsynced \(status.unsyncedChanges) last \(status.lastChangeSeq) total \(status.totalReturns)",
            "pending \(try store.hasUnpushedChanges())",
            "checkpoint \(checkpoint.pushedSeq) \(checkpoint.pullCursor ?? "-")",
        ] + store.encodedChanges(since: checkpoint.pushedSeq, limit: 10_000).map { "\($0.seq) \(ids($0.json))" }
    }

    static func logSequence(_ store: ReplicaStore) throws -> [Int64] {
        try store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM change_log ORDER BY seq") }
    }

    static func currentSequence(_ store: ReplicaStore) throws -> Set<Int64> {
        try Set(store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT change_seq FROM records") })
    }

    static func note(_ store: ReplicaStore, _ id: ReturnID, _ text: String) throws {
        _ = try store.updateReturn(id, operation: "note") { item, author, date in
            try item.addNote(text, by: author, at: date)
        }
    }

    /// Ten returns captured and noted five times each: sixty changes, none pushed.
    static func tenReturnsEditedFiveTimes(_ kiosk: ReplicaStore) throws -> [ReturnID] {
        let ids = try (0..<10).map { number in
            try kiosk.recordReturn(
                ReturnCapture(orderID: OrderID("ORD-\(number)"), gtin: GTIN("4006381333931"), reason: .damaged)
            ).id
        }
        for id in ids { for edit in 1...5 { try note(kiosk, id, "edit \(edit)") } }
        return ids
    }

    /// Pushes up to `count` changes and saves the checkpoint, as a kiosk does once the server acknowledged them.
    static func push(_ store: ReplicaStore, count: Int) throws {
        let checkpoint = try store.checkpoint(for: peer)
        guard let last = try store.encodedChanges(since: checkpoint.pushedSeq, limit: count).last else { return }
        try store.saveCheckpoint(
            SyncCheckpoint(peer: peer, pushedSeq: last.seq, pullCursor: checkpoint.pullCursor, lastSyncAt: clock())
        )
    }

    /// Merges `records` pulled from the server and moves the checkpoint over the merges, as a sync's pull does.
    static func pull(_ store: ReplicaStore, _ records: [VersionedRecord], cursor: Int) throws {
        _ = try store.mergePulled(records, cursor: "\(cursor)", peer: peer)
        let pushed = try store.checkpoint(for: peer).pushedSeq
        try store.advancePushCheckpoint(overMergesAfter: pushed, peer: peer, syncedAt: clock())
    }

    @Test func aKioskCompactingItsLogShowsPushesAndMergesWhatOneKeepingItWholeDoes() async throws {
        let steps = Gen.int(in: 0...1023).array(of: 1...40)
        await propertyCheck(count: 40, input: steps) { codes in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let directory = try TemporaryDirectory(function: "compaction")
                let compacting = try Self.kiosk(directory.file("a.sqlite"))
                let whole = try Self.kiosk(directory.file("a-whole.sqlite"), compacts: false)
                // Another kiosk of the store, whose edits come back to both as merges.
                let other = try Self.kiosk(directory.file("c.sqlite"), kiosk: "c")
                var cursor = 0
                // Return ids carry random bits: the twin's returns are matched to the compacting kiosk's by the
                // capture they came from, and compared with ids mapped.
                var twin: [String: String] = [:]
                func mapped(_ text: String) -> String {
                    twin.reduce(text) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
                }
                for (step, code) in codes.enumerated() {
                    let own = try compacting.returnRecords().map(\.id).filter { twin[$0] != nil }
                    switch code % 6 {
                    case 0, 1:
                        let (kept, copied) = try [compacting, whole].map { store in
                            try store.recordReturn(
                                ReturnCapture(
                                    orderID: OrderID("ORD-\(step)"),
                                    gtin: GTIN("4006381333931"),
                                    reason: .damaged
                                )
                            ).id.rawValue
                        }.pair
                        twin[kept] = copied
                    case 2 where !own.isEmpty:
                        let id = own[(code >> 3) % own.count]
                        try Self.note(compacting, ReturnID(id), "edit \(step)")
                        try Self.note(whole, ReturnID(twin[id]!), "edit \(step)")
                    case 3:
                        for store in [compacting, whole] { try Self.push(store, count: 1 + (code >> 3) % 4) }
                    case 4:
                        // The other kiosk learns this kiosk's returns and edits one of them, or captures its own.
                        _ = try other.mergePulled(try compacting.returnRecords(), peer: "test")
                        let known = try other.returnRecords().map { try ReturnID($0.id) }
                        if known.isEmpty || (code >> 3) & 1 == 1 {
                            _ = try other.recordReturn(
                                ReturnCapture(
                                    orderID: OrderID("ORD-C\(step)"),
                                    gtin: GTIN("96385074"),
                                    reason: .defective
                                )
                            )
                        } else {
                            try Self.note(other, known[(code >> 4) % known.count], "other \(step)")
                        }
                    default:
                        cursor += 1
                        let records = try other.returnRecords()
                        try Self.pull(compacting, records, cursor: cursor)
                        try Self.pull(
                            whole,
                            records.map { try VersionedRecord(jsonValue: JSONValue.parse(mapped($0.jsonString))) },
                            cursor: cursor
                        )
                    }
                    let seen = (try Self.observed(compacting, ids: mapped), try Self.observed(whole))
                    #expect(seen.0 == seen.1, "after step \(step): \(code): \(seen.0.difference(from: seen.1))")
                    // Exactly what nothing reads is gone: entries after the checkpoint, each record's current one
                    // and the newest stay.
                    let pushed = try compacting.checkpoint(for: Self.peer).pushedSeq
                    let current = try Self.currentSequence(compacting)
                    let all = try Self.logSequence(whole)
                    let kept = all.filter { $0 > pushed || current.contains($0) || $0 == all.last }
                    #expect(try Self.logSequence(compacting) == kept, "after step \(step): \(code)")
                    // Captures, edits and pulled merges: every projection row is its record's.
                    for store in [compacting, whole, other] {
                        #expect(try GroupCommitTests.projectionDrift(store) == [], "after step \(step): \(code)")
                    }
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func aReturnEditedFiveTimesKeepsOneEntryOnceSynced() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(directory.file("a.sqlite"))
        let ids = try Self.tenReturnsEditedFiveTimes(kiosk)
        #expect(try kiosk.changeLogCount() == 60, "unsynced: every change stays")
        try Self.push(kiosk, count: 1_000)
        #expect(try kiosk.changeLogCount() == 10, "one entry per return once the server holds them")
        // The return's entry the server holds goes with the edit that supersedes it; the new one stays.
        try Self.note(kiosk, ids[0], "after the sync")
        #expect(try kiosk.changeLogCount() == 10)
        #expect(try kiosk.status().unsyncedChanges == 1, "the new change stays until pushed")
        try Self.note(kiosk, ids[0], "again")
        #expect(try kiosk.changeLogCount() == 11, "an unpushed change is never dropped")
        #expect(try kiosk.lastChangeSeq() == 62)
    }
}

extension ChangeLogCompactionTests {
    /// What counts as unsynced follows the record an entry points at (schema v28): a record set aside is not pushed
    /// nor counted, and once dropped (deleted, its quarantine kept as `dropped`) its entries count for nothing —
    /// while a change of another record still does.
    @Test func aRecordSetAsideOrDroppedCountsAsNothingToPush() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(directory.file("a.sqlite"))
        let capture = ReturnCapture(orderID: try OrderID("ORD-1"), gtin: try GTIN("4006381333931"), reason: .damaged)
        let aside = try kiosk.recordReturn(capture)
        _ = try kiosk.updateReturn(aside.id, operation: "note") { try $0.addNote("scratched", by: $1, at: $2) }
        #expect(try kiosk.status().unsyncedChanges == 1 && kiosk.hasUnpushedChanges())
        try kiosk.quarantine(recordID: aside.id.rawValue, code: "forged-clock", message: "refused")
        #expect(try kiosk.status().unsyncedChanges == 0 && !kiosk.hasUnpushedChanges())
        try kiosk.dropQuarantined(aside.id.rawValue)
        #expect(try kiosk.status().unsyncedChanges == 0 && !kiosk.hasUnpushedChanges(), "its entries are still there")
        #expect(try kiosk.changeLogCount() == 2)
        let other = try kiosk.recordReturn(capture)
        #expect(try kiosk.status().unsyncedChanges == 1 && kiosk.hasUnpushedChanges())
        #expect(try kiosk.encodedChanges(since: 0).map(\.seq) == [3])
        #expect(try kiosk.record(entityType: ReturnEntity.entityType, id: other.id.rawValue) != nil)
    }
}

extension Array {
    /// The first two elements.
    fileprivate var pair: (Element, Element) { (self[0], self[1]) }
}

extension ChangeLogCompactionTests {
    /// A kiosk upgraded from a version that kept its whole log: the entries nothing reads go once, at the upgrade.
    @Test func anUpgradedKiosksLogIsCompactedOnceAtOpen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("a.sqlite")
        do {
            // As before the upgrade: a kiosk that never deleted an entry, synced after five edits per return.
            let kiosk = try Self.kiosk(path, compacts: false)
            let ids = try Self.tenReturnsEditedFiveTimes(kiosk)
            try Self.push(kiosk, count: 1_000)
            try Self.note(kiosk, ids[0], "not pushed yet")
            #expect(try kiosk.changeLogCount() == 61)
        }
        let before = try ChildProcess(
            "/usr/bin/env",
            ["sqlite3", path, "DELETE FROM grdb_migrations WHERE identifier LIKE 'v11:%'"],
            output: .discard
        )
        #expect(before.waitUntilExit() == .init(status: 0, bySignal: false))
        let upgraded = try ReplicaStore.open(at: path, configuration: ReplicaStore.Configuration(now: Self.clock))
        // Each return's entry the server holds, ids[0]'s superseded one gone too, and the unpushed edit kept.
        #expect(try upgraded.changeLogCount() == 10)
        #expect(try upgraded.status().unsyncedChanges == 1)
        #expect(try upgraded.lastChangeSeq() == 61)
        #expect(try upgraded.integrityCheck() == "ok")
    }
}
