import Foundation
import PropertyBased
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

@testable import ReplicaStore

/// A kiosk whose clock ran ahead stamps its unsent writes again by the server's clock (issue 22): whatever it wrote,
/// nothing but stamps and capture times change, one write keeps one stamp, and a replica at the server's clock takes
/// every record and shows what the kiosk shows.
@Suite struct ClockCorrectionPropertyTests {
    static let serverTime: Int64 = 1_790_000_000_000

    static func kiosk(_ path: String, _ name: String, ahead: Int64) throws -> ReplicaStore {
        try ReplicaStore.create(
            at: path,
            identity: .kiosk(store: StoreID("s"), kiosk: KioskID(name)),
            configuration: .init(now: { Date(millisecondsSince1970: serverTime + ahead) })
        )
    }

    /// Every value of a record with its dot, capture time left out: what a restamp must keep.
    static func values(_ record: VersionedRecord) -> [String] {
        record.registers.filter { $0.key != ReturnEntity.Field.createdAt }.flatMap { field, values in
            values.map { "\(field)=\($0.value)@\($0.dot)" }
        }.sorted()
            + record.sets.flatMap { field, elements in elements.map { "\(field)+\($0.value)@\($0.dot)" } }.sorted()
    }

    @Test func stampingAgainKeepsEveryValueAndLetsTheServersClockTakeEveryRecord() async throws {
        // Minutes ahead (past the correction's threshold, up to 40 days); returns captured ahead, each noted this
        // many times; whether it also notes a return another kiosk captured at the right time.
        await propertyCheck(
            count: 30,
            input: Gen.int(in: 2...60 * 24 * 40),
            Gen.int(in: 0...3).array(of: 1...6),
            Gen.bool
        ) { minutes, notes, notesOther in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let ahead = Int64(minutes) * 60_000
                let directory = try TemporaryDirectory(function: "clock-correction")
                let fast = try Self.kiosk(directory.file("a.sqlite"), "a", ahead: ahead)
                let right = try Self.kiosk(directory.file("b.sqlite"), "b", ahead: 0)
                let theirs = try right.recordReturn(
                    ReturnCapture(orderID: OrderID("ORD-B"), gtin: GTIN("4006381333931"), reason: .defective)
                )
                _ = try fast.mergePulled([try right.returnRecord(theirs.id)], cursor: "1")
                for (number, count) in notes.enumerated() {
                    let item = try fast.recordReturn(
                        ReturnCapture(orderID: OrderID("ORD-\(number)"), gtin: GTIN("4006381333931"), reason: .damaged)
                    )
                    for edit in 0..<count {
                        _ = try fast.updateReturn(item.id, operation: "note") { item, author, date in
                            try item.addNote("note \(edit)", by: author, at: date)
                        }
                    }
                }
                if notesOther {
                    _ = try fast.updateReturn(theirs.id, operation: "note") { item, author, date in
                        try item.addNote("seen here too", by: author, at: date)
                    }
                }
                let before = try fast.returnRecords()
                // The server's clock, told at a sync's welcome.
                let measuredAt = Date(millisecondsSince1970: Self.serverTime + ahead)
                let adjustment = try #require(try fast.adoptServerClock(Self.serverTime, measuredAt: measuredAt))
                #expect(adjustment.correction == -ahead)
                let after = try fast.returnRecords()
                let bound = UInt64(Self.serverTime) + HybridLogicalClock.maximumDrift
                #expect(after.count == before.count)
                for (old, new) in zip(before, after) {
                    #expect(old.id == new.id && old.clock == new.clock, "clocks and ids stay")
                    #expect(Self.values(old) == Self.values(new), "every value and dot stays")
                    // One write, one stamp, wherever it is held; none of this kiosk's beyond the server's bound.
                    var stamps: [Dot: HLCTimestamp] = [:]
                    for value in Array(new.registers.values.joined()) + Array(new.sets.values.joined()) {
                        #expect(stamps.updateValue(value.stamp, forKey: value.dot).map { $0 == value.stamp } ?? true)
                        #expect(value.dot.replica != fast.identity.replicaID || value.stamp.physical <= bound)
                    }
                    // Another kiosk's writes keep their stamps; a capture's time moves with its write's stamp.
                    let oldItem = try ProductReturn(record: old)
                    let newItem = try ProductReturn(record: new)
                    if oldItem.kioskID.rawValue == "b" {
                        #expect(newItem.createdAt == oldItem.createdAt)
                    } else {
                        let moved = oldItem.createdAt.millisecondsSince1970 - newItem.createdAt.millisecondsSince1970
                        #expect(moved == ahead, "captured \(ahead) ms later than the server's clock said")
                    }
                }
                // A replica at the server's clock takes every record and shows what the fast kiosk shows.
                _ = try right.mergePulled(after, cursor: "2")
                for record in after {
                    let held = try right.returnRecord(ReturnID(record.id))
                    #expect(held == record)
                }
                // Done once: measured again, nothing is stamped again.
                #expect(try fast.adoptServerClock(Self.serverTime, measuredAt: measuredAt)?.restamped == [])
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func aClockWithinAMinuteOfTheServersIsNotCorrected() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(directory.file("a.sqlite"), "a", ahead: 59_000)
        let measuredAt = Date(millisecondsSince1970: Self.serverTime + 59_000)
        let adjustment = try #require(try kiosk.adoptServerClock(Self.serverTime, measuredAt: measuredAt))
        #expect(adjustment.measured == -59_000 && adjustment.correction == 0)
        #expect(try kiosk.clockState().correction == 0)
        // Out of range, a server's time is ignored rather than believed.
        #expect(try kiosk.adoptServerClock(ReturnDates.millisecondsRange.upperBound + 1, measuredAt: measuredAt) == nil)
    }
}
