import Foundation
import PropertyBased
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

@Suite struct ImportExportTests {
    @Test func importsNewReturnsAndDefaultsWhatALineLeavesOut() throws {
        let fixture = try KioskFixture()
        let lines = """
            {"orderId":"A-1","gtin":"96385074","reason":"damaged"}

            {"orderId":"A-2","gtin":"036000291452","reason":"defective","quantity":2,"serial":"S-9","status":"inspected","condition":"defective","testResult":"fail","notes":[{"text":"smells burnt"}]}
            """
        let summary = try fixture.store.importReturns(ndjson: Data(lines.utf8))
        #expect(summary == ImportSummary(imported: 2, unchanged: 0))
        let rows = try fixture.store.returnRows()
        #expect(rows.map(\.orderId) == ["A-1", "A-2"])
        #expect(rows[0].storeId == "store-12" && rows[0].kioskId == "kiosk-a" && rows[0].quantity == 1)
        #expect(rows[0].status == "received" && rows[0].condition == "unknown")
        #expect(rows[1].gtin == "00036000291452" && rows[1].status == "inspected" && rows[1].testResult == "fail")
        let second = try ProductReturn(record: fixture.store.returnRecord(ReturnID(rows[1].id)))
        #expect(second.notes.map(\.text) == ["smells burnt"])
    }

    @Test(arguments: [
        (#"{"orderId":"A","gtin":"4006381333932","reason":"damaged"}"#, "line 2: invalid GTIN '4006381333932'"),
        (#"{"orderId":"A","gtin":"96385074","reason":"broken"}"#, "line 2: invalid reason 'broken'"),
        (#"{"orderId":"A","gtin":"96385074","reason":"damaged","stauts":"closed"}"#, "line 2: unknown key 'stauts'"),
        (#"{"orderId":"A","gtin":"96385074"}"#, "line 2: missing key 'reason'"),
        (#"{"orderId":"A","gtin":96385074,"reason":"damaged"}"#, "line 2: key 'gtin': expected a string"),
        (#"{"orderId":"A","gtin":"96385074","reason":"damaged","quantity":0}"#, "line 2: invalid quantity 0"),
        (
            #"{"orderId":"A","gtin":"96385074","reason":"damaged","storeId":"store-99"}"#,
            "line 2: return belongs to store 'store-99'"
        ),
        (
            #"{"orderId":"A","gtin":"96385074","reason":"damaged","status":"dispositioned","condition":"hazardous","disposition":"restock"}"#,
            "line 2: return"
        ),
        (#"{"orderId":"A","gtin":"96385074","reason":"damaged""#, "line 2: invalid JSON"),
        ("[1,2]", "line 2: a return must be a JSON object"),
    ])
    func aBadLineRejectsTheWholeFileNamingItsLine(badLine: String, expected: String) throws {
        let fixture = try KioskFixture()
        try fixture.record()
        let before = try fixture.snapshot()
        let file =
            #"{"orderId":"OK-1","gtin":"96385074","reason":"other"}"# + "\n" + badLine + "\n"
            + #"{"orderId":"OK-3","gtin":"96385074","reason":"other"}"#
        #expect {
            try fixture.store.importReturns(ndjson: Data(file.utf8))
        } throws: { error in
            (error as? ReplicaStoreError)?.code == .importRejected && "\(error)".hasPrefix(expected)
                && "\(error)".contains("nothing was imported")
        }
        #expect(try fixture.snapshot() == before)
    }

    /// Lines are prepared on another thread in chunks; the first bad line must still be the one reported, whichever
    /// thread finds it, and nothing may be stored.
    @Test(arguments: [(0, 1501), (700, 701), (2999, 1501)])
    func theFirstBadLineIsReportedAcrossChunks(duplicateAt: Int, expectedLine: Int) throws {
        let fixture = try KioskFixture()
        let existing = try fixture.record()
        var lines = String(decoding: SampleData.importLines(count: 3000), as: UTF8.self).split(separator: "\n").map(
            String.init
        )
        // A duplicate id is found by the storing thread; a malformed line by the preparing one.
        if duplicateAt > 0 {
            lines[duplicateAt] = #"{"id":"\#(existing.id)","orderId":"D","gtin":"96385074","reason":"other"}"#
        }
        lines[1500] = #"{"orderId":"X","gtin":"12345","reason":"other"}"#
        let before = try fixture.snapshot()
        #expect {
            try fixture.store.importReturns(ndjson: Data(lines.joined(separator: "\n").utf8))
        } throws: { error in
            "\(error)".hasPrefix("line \(expectedLine): ")
        }
        #expect(try fixture.snapshot() == before)
    }

    /// Lines are prepared on another thread than the one storing them; stamps are still taken in line order, as a
    /// one-line-at-a-time import takes them: each return's creating write is stamped after the line before it.
    @Test func anImportStampsItsLinesInLineOrder() throws {
        let fixture = try KioskFixture()
        let count = 5 * 512 + 17
        try fixture.store.importReturns(ndjson: SampleData.importLines(count: count))
        let stamps = try fixture.store.returnRecords().map { record in
            (order: try ProductReturn(record: record).orderID.rawValue, stamp: try #require(record.latestStamp))
        }
        #expect(stamps.count == count)
        let byStamp = stamps.sorted { $0.stamp < $1.stamp }.map(\.order)
        #expect(byStamp == (0..<count).map { "ORD-\($0)" })
    }

    @Test func aGivenIDThatExistsIsRefused() throws {
        let fixture = try KioskFixture()
        let item = try fixture.record()
        let line = #"{"id":"\#(item.id)","orderId":"A","gtin":"96385074","reason":"other"}"#
        #expect { try fixture.store.importReturns(ndjson: Data(line.utf8)) } throws: {
            "\($0)".contains("line 1: return \(item.id) already exists")
        }
    }

    /// An import's new returns are written to the database many at a time, after they are read; a file naming one
    /// id twice must still find the first when it reaches the second, and leave nothing behind.
    @Test func anIDGivenTwiceInOneFileIsRefusedWhereItComesAgain() throws {
        let fixture = try KioskFixture()
        let id = "0192f5e0-7a3c-7def-8123-456789abcdef"
        let lines = [
            #"{"id":"\#(id)","orderId":"A","gtin":"96385074","reason":"other"}"#,
            #"{"orderId":"B","gtin":"96385074","reason":"other"}"#,
            #"{"id":"\#(id)","orderId":"C","gtin":"96385074","reason":"other"}"#,
        ]
        let before = try fixture.snapshot()
        #expect { try fixture.store.importReturns(ndjson: Data(lines.joined(separator: "\n").utf8)) } throws: {
            "\($0)".contains("line 3: return \(id) already exists")
        }
        #expect(try fixture.snapshot() == before)
    }

    @Test func exportThenImportIsLosslessAndIdempotent() throws {
        let source = try KioskFixture(kiosk: "kiosk-a")
        let first = try source.record(note: "first")
        try source.record(reason: .recall)
        try source.store.updateReturn(first.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .likeNew, testResult: .pass, note: "as new", by: author, at: date)
        }
        var remote = try source.store.returnRecord(first.id)
        try remote.updateReturn(by: ReplicaID("hq"), stamp: HLCTimestamp(physical: 5)) { item, author, date in
            try item.assignDisposition(.repackage, by: author, at: date)
        }
        try source.store.updateReturn(first.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.restock, by: author, at: date)
        }
        try source.store.merge(remote)  // a conflict, with history-worthy values and foreign dots

        let (_, exported) = try source.snapshot()
        let target = try KioskFixture(kiosk: "kiosk-b")
        #expect(try target.store.importReturns(ndjson: exported) == ImportSummary(imported: 2, unchanged: 0))
        #expect(try target.store.returnRecords() == source.store.returnRecords())
        #expect(try target.snapshot().export == exported)
        // Importing the same export again finds everything known.
        #expect(try target.store.importReturns(ndjson: exported) == ImportSummary(imported: 0, unchanged: 2))
        #expect(try target.snapshot().export == exported)
    }

    @Test func anExportLineWhoseKeysContradictItsRecordIsRefused() throws {
        let fixture = try KioskFixture()
        try fixture.record()
        let (_, exported) = try fixture.snapshot()
        let edited = String(decoding: exported, as: UTF8.self).replacingOccurrences(
            of: #""status":"received""#,
            with: #""status":"closed""#
        )
        let target = try KioskFixture(kiosk: "kiosk-b")
        #expect { try target.store.importReturns(ndjson: Data(edited.utf8)) } throws: {
            "\($0)".contains("line 1: 'status' is 'closed' but the line's record says 'received'")
        }
        #expect(try target.store.returnRows().isEmpty)
    }

    @Test func importsAHundredThousandReturnsInOneTransaction() async throws {
        let fixture = try KioskFixture()
        let store = fixture.store
        // Tens of seconds of work in a debug build under a full test run: on a thread of its own, not on one of the
        // two every test's async work shares (starved of both, in-process syncs elsewhere in the run sat still for
        // most of a minute until a server's timer cut them).
        let summary = try await offThePool { try store.importReturns(ndjson: SampleData.importLines(count: 100_000)) }
        #expect(summary.imported == 100_000)
        let status = try fixture.store.status()
        #expect(status.totalReturns == 100_000)
        #expect(status.returnsByStatus[.received] == 100_000)
        #expect(try fixture.store.changeLogCount() == 100_000)
        // SampleData cycles through the reasons, so the index of `recall` says how many there are.
        let recallIndex = ReturnReason.allCases.firstIndex(of: .recall)!
        let expectedRecalls = (0..<100_000).filter { $0 % ReturnReason.allCases.count == recallIndex }.count
        #expect(try fixture.store.returnRows(reason: .recall).count == expectedRecalls)
    }

    @Test func exportImportRoundTripsRandomHistoriesWithoutLoss() async throws {
        // Random operations on a few returns, then export → import into a fresh kiosk: identical records.
        let operations = Gen.int(in: 0...5).array(of: 1...25)
        await propertyCheck(count: 60, input: operations) { steps in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let source = try KioskFixture(kiosk: "kiosk-a")
                var ids: [ReturnID] = [try source.record().id]
                for (index, step) in steps.enumerated() {
                    let id = ids[index % ids.count]
                    _ = try? source.store.updateReturn(id, operation: "op") { item, author, date in
                        switch step {
                        case 0: return try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
                        case 1: return try item.assignDisposition(.repair, by: author, at: date)
                        case 2: return try item.close(at: date)
                        case 3: return try item.void(note: "void \(index)", by: author, at: date)
                        default:
                            return try item.addNote(
                                "note \(index) with \"quotes\", \\ and ünïcode",
                                by: author,
                                at: date
                            )
                        }
                    }
                    if step == 5 { ids.append(try source.record().id) }
                }
                let (_, exported) = try source.snapshot()
                let target = try KioskFixture(kiosk: "kiosk-b")
                try target.store.importReturns(ndjson: exported)
                #expect(try target.store.returnRecords() == source.store.returnRecords())
                #expect(try target.store.returnRows() == source.store.returnRows())
            } catch {
                Issue.record(error)
            }
        }
    }
}
