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

/// A kiosk merges the pulled pages that arrived while it merged the one before in one transaction: that must change
/// nothing but the number of commits.
@Suite struct PulledPagesTests {
    static func kiosk(_ directory: TemporaryDirectory, _ store: String, _ kiosk: String) throws -> ReplicaStore {
        try ReplicaStore.create(
            at: directory.file("\(store)-\(kiosk).sqlite"),
            identity: .kiosk(store: StoreID(store), kiosk: KioskID(kiosk))
        )
    }

    /// What a kiosk holds after a pull, as compared between kiosks.
    static func holdings(_ store: ReplicaStore) throws -> [String] {
        try store.returnRecords().map(\.jsonString).sorted()
            + store.quarantined().map { "set aside \($0.recordID) \($0.code)" }.sorted()
            + ["cursor \(store.checkpoint(for: ReplicaStore.serverPeer).pullCursor ?? "-")"]
    }

    /// Outcomes summed, as compared: what was merged, conflicts, and what was set aside (once each).
    static func summary(_ outcomes: [PushOutcome]) -> String {
        "merged \(outcomes.map(\.merged).reduce(0, +)) unchanged \(outcomes.map(\.unchanged).reduce(0, +)) "
            + "conflicts \(outcomes.flatMap(\.conflicts)) "
            + "set aside \(outcomes.flatMap(\.quarantined).map { "\($0.recordID) \($0.code)" })"
    }

    @Test func pagesMergedTogetherEndAsTheyWouldOneAtATime() async {
        // Each number makes one version in the feed; the last one also cuts the feed into pages and the pages into
        // the groups one merge takes.
        let feed = Gen.int(in: 0...1023).array(of: 1...24)
        await propertyCheck(count: 25, input: feed) { codes in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let directory = try TemporaryDirectory(function: "pulled-pages")
                let writers = try ["a", "c"].map { try Self.kiosk(directory, "store-1", $0) }
                var stream: [VersionedRecord] = []
                var captured: [[ReturnID]] = [[], []]
                var forged: [VersionedRecord] = []
                for code in codes {
                    let writer = code & 1
                    let own = captured[writer]
                    switch (code >> 1) % 4 {
                    case 2 where !own.isEmpty:
                        // A later version of one of the writer's returns.
                        let id = own[(code >> 3) % own.count]
                        _ = try writers[writer].updateReturn(id, operation: "note") { item, author, date in
                            try item.addNote("note \(code)", by: author, at: date)
                        }
                        stream.append(try writers[writer].returnRecord(id))
                    case 3 where !stream.isEmpty:
                        // A version the feed already carried, again (a record changed during a pull comes twice).
                        stream.append(stream[(code >> 3) % stream.count])
                    default:
                        let item = try writers[writer].recordReturn(
                            ReturnCapture(
                                orderID: OrderID("ORD-\(code)"),
                                gtin: GTIN("4006381333931"),
                                reason: .defective
                            )
                        )
                        captured[writer].append(item.id)
                        let record = try writers[writer].returnRecord(item.id)
                        stream.append(record)
                        // Now and then the pulling kiosk holds a forged twin of it: set aside at its first version,
                        // and frozen at every later one, on whichever page it comes.
                        if (code >> 8) & 1 == 1 { forged.append(try SampleData.forgedTwin(of: record)) }
                    }
                }
                var seed = UInt64(codes.last ?? 0) &* 6_364_136_223_846_793_005 &+ 1
                func next(_ range: ClosedRange<Int>) -> Int {
                    seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return range.lowerBound + Int((seed >> 33) % UInt64(range.count))
                }
                var pages: [[VersionedRecord]] = []
                var rest = stream[...]
                while !rest.isEmpty {
                    let size = next(1...4)
                    pages.append(Array(rest.prefix(size)))
                    rest = rest.dropFirst(size)
                }
                let kiosks = try ["b1", "b2"].map { try Self.kiosk(directory, "store-1", $0) }
                if !forged.isEmpty {
                    let lines = try forged.map {
                        try ReturnDocument(record: $0, includeRecord: true).jsonValue.serializedString + "\n"
                    }
                    for kiosk in kiosks { _ = try kiosk.importReturns(ndjson: Data(lines.joined().utf8)) }
                }
                // One transaction a page, as a kiosk merged until now...
                var single: [PushOutcome] = []
                for (index, page) in pages.enumerated() {
                    single.append(try kiosks[0].mergePulled(page, cursor: "\(index + 1)"))
                }
                // ...and the same pages in groups.
                var grouped: [PushOutcome] = []
                var start = 0
                while start < pages.count {
                    let end = min(pages.count, start + next(1...4))
                    let group = pages[start..<end].map(PreparedPull.init)
                    grouped.append(try kiosks[1].mergePulled(pages: group, cursor: "\(end)"))
                    start = end
                }
                #expect(try Self.holdings(kiosks[0]) == Self.holdings(kiosks[1]))
                // The counts summed, and the same records set aside, once each.
                #expect(Self.summary(single) == Self.summary(grouped))
                // New returns' projection rows are held with their records and written out with them, before any
                // later version of one is merged: every row as its record shows, every record linked to its entry.
                for kiosk in kiosks {
                    #expect(try GroupCommitTests.projectionDrift(kiosk) == [])
                    #expect(try GroupCommitTests.brokenLinks(kiosk) == [])
                }
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    /// A kiosk holds a pulled group's (and an import's) projection rows with their records and writes them 512 to a
    /// statement, numbering each as SQLite would: more rows than two statements write, then another pull and an
    /// import numbered on, must leave every row exactly as its record shows, none lost to a number given twice.
    @Test func aPullOfMoreRowsThanOneStatementWritesKeepsEveryProjectionRow() throws {
        let directory = try TemporaryDirectory()
        let writer = try Self.kiosk(directory, "store-1", "a")
        let kiosk = try Self.kiosk(directory, "store-1", "b")
        try writer.importReturns(ndjson: SampleData.importLines(count: 1_300))
        let records = try writer.returnRecords()
        try #require(records.count == 1_300)
        let pages = stride(from: 0, to: 1_100, by: 220).map { PreparedPull(Array(records[$0..<$0 + 220])) }
        #expect(try kiosk.mergePulled(pages: pages, cursor: "1").merged == 1_100)
        #expect(try kiosk.mergePulled(pages: [PreparedPull(Array(records[1_100...]))], cursor: "2").merged == 200)
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 600, offset: 1_300))
        let rows = try kiosk.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT count(*), min(rowid), max(rowid) FROM returns")
        }
        #expect(rows.map { [$0[0], $0[1], $0[2]] as [Int64] } == [1_900, 1, 1_900])
        #expect(try GroupCommitTests.projectionDrift(kiosk) == [])
        #expect(try GroupCommitTests.brokenLinks(kiosk) == [])
    }

    @Test func aPageThatCannotBeMergedLeavesEveryPageOfItsGroupUnmerged() throws {
        let directory = try TemporaryDirectory()
        let writer = try Self.kiosk(directory, "store-1", "a")
        let stranger = try Self.kiosk(directory, "store-2", "a")
        let kiosk = try Self.kiosk(directory, "store-1", "b")
        func capture(_ store: ReplicaStore, _ order: String) throws -> VersionedRecord {
            let item = try store.recordReturn(
                ReturnCapture(orderID: OrderID(order), gtin: GTIN("4006381333931"), reason: .defective)
            )
            return try store.returnRecord(item.id)
        }
        let first = try capture(writer, "ORD-1")
        _ = try kiosk.mergePulled(pages: [PreparedPull([first])], cursor: "1")
        let pages = [
            PreparedPull([try capture(writer, "ORD-2")]),
            // Another store's return, which a kiosk refuses whoever sends it.
            PreparedPull([try capture(stranger, "ORD-3")]),
            PreparedPull([try capture(writer, "ORD-4")]),
        ]
        #expect {
            try kiosk.mergePulled(pages: pages, cursor: "4")
        } throws: { error in
            (error as? ReplicaStoreError)?.code == .wrongStore && "\(error)".contains("store-2")
        }
        #expect(try kiosk.returnRecords().map(\.id) == [first.id])
        #expect(try kiosk.checkpoint(for: ReplicaStore.serverPeer).pullCursor == "1")
    }

    /// A pulled return that does not decode (here, a quantity of 0) is refused with its decoder's error, whether its
    /// page was prepared on another thread or merged as it came, and nothing of its group is stored.
    @Test func aPulledReturnThatDoesNotDecodeIsRefusedByName() throws {
        let directory = try TemporaryDirectory()
        let writer = try Self.kiosk(directory, "store-1", "a")
        let kiosk = try Self.kiosk(directory, "store-1", "b")
        let good = try writer.returnRecord(
            writer.recordReturn(ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .damaged))
                .id
        )
        let text = good.jsonString.replacingOccurrences(of: #""quantity":[[1,0]]"#, with: #""quantity":[[0,0]]"#)
        #expect(text != good.jsonString)
        let bad = try VersionedRecord(jsonValue: JSONValue.parse(text))
        #expect(throws: (any Error).self) { try ProductReturn(record: bad) }
        for attempt in [
            { try kiosk.mergePulled(pages: [PreparedPull([bad])], cursor: "1") },
            {
                try kiosk.mergePulled([bad], cursor: "1")
            },
        ] {
            #expect {
                _ = try attempt()
            } throws: { error in
                "\(error)".contains("quantity")
            }
        }
        #expect(try kiosk.returnRecords().isEmpty)
        #expect(try kiosk.checkpoint(for: ReplicaStore.serverPeer).pullCursor == nil)
    }
}
