import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import Synchronization
import Testing

@Suite struct ReturnSearchTests {
    /// A kiosk whose clock the test sets, holding six returns captured over three days.
    struct Day {
        let directory: TemporaryDirectory
        let store: ReplicaStore
        let returns: [ProductReturn]
        static let start = Date(millisecondsSince1970: 1_796_000_000_000)  // 2026-11-30T00:53:20Z

        init(function: String = #function) throws {
            directory = try TemporaryDirectory(function: function)
            let clock = Mutex(Self.start)
            store = try ReplicaStore.create(
                at: directory.file("kiosk.sqlite"),
                identity: .kiosk(store: StoreID("store-12"), kiosk: KioskID("kiosk-a")),
                configuration: ReplicaStore.Configuration(now: { clock.withLock { $0 } })
            )
            // (hours after the start, order, GTIN, serial, reason)
            let captures: [(Double, String, String, String?, ReturnReason)] = [
                (0, "ORD-1", "4006381333931", "SN-1", .defective),
                (0.001, "ORD-1", "5901234123457", nil, .damaged),
                (25, "ORD-2", "4006381333931", "SN-2", .defective),
                (25.5, "ORD-';DROP_TABLE_returns;--", "4006381333931", "SN-1", .noLongerNeeded),
                (49, "ORD-3", "9780201379624", "SN-3", .damaged),
                (49.2, "ORD-3", "9780201379624", nil, .wrongItem),
            ]
            var returns: [ProductReturn] = []
            for (hours, order, gtin, serial, reason) in captures {
                clock.withLock { $0 = Self.start.addingTimeInterval(hours * 3600) }
                returns.append(
                    try store.recordReturn(
                        ReturnCapture(
                            orderID: OrderID(order),
                            gtin: GTIN(gtin),
                            reason: reason,
                            serial: serial.map { try ItemCode($0, kind: "serial") }
                        )
                    )
                )
            }
            try store.updateReturn(returns[4].id, operation: "void") { item, author, date in
                try item.void(note: "scanned twice", by: author, at: date)
            }
            self.returns = returns
        }

        func ids(_ search: ReturnSearch) throws -> [ReturnID] {
            try store.findReturns(search).returns.map { try ReturnID($0.row.id) }
        }
    }

    @Test func everyFilterGivenMustHold() throws {
        let day = try Day()
        let r = day.returns.map(\.id)
        #expect(try day.ids(ReturnSearch()) == r)
        #expect(try day.ids(ReturnSearch(serial: ItemCode("SN-1", kind: "serial"))) == [r[0], r[3]])
        #expect(try day.ids(ReturnSearch(orderID: OrderID("ORD-3"))) == [r[4], r[5]])
        #expect(try day.ids(ReturnSearch(gtin: GTIN("4006381333931"))) == [r[0], r[2], r[3]])
        #expect(try day.ids(ReturnSearch(status: .voided)) == [r[4]])
        #expect(try day.ids(ReturnSearch(reason: .damaged)) == [r[1], r[4]])
        #expect(
            try day.ids(ReturnSearch(serial: ItemCode("SN-1", kind: "serial"), gtin: GTIN("4006381333931"))) == [
                r[0], r[3],
            ]
        )
        #expect(try day.ids(ReturnSearch(orderID: OrderID("ORD-1"), reason: .defective)) == [r[0]])
        #expect(try day.ids(ReturnSearch(store: StoreID("store-13"))) == [])
        // A quote in the text searched for is a value, never SQL.
        #expect(try day.ids(ReturnSearch(orderID: OrderID("ORD-';DROP_TABLE_returns;--"))) == [r[3]])
        #expect(try day.ids(ReturnSearch(serial: ItemCode("x'OR'1'='1", kind: "serial"))) == [])
        #expect(try day.store.returnRecords().count == 6)
    }

    @Test func sinceIsInclusiveAndUntilExclusive() throws {
        let day = try Day()
        let r = day.returns.map(\.id)
        let hour = { (hours: Double) in Day.start.addingTimeInterval(hours * 3600) }
        #expect(try day.ids(ReturnSearch(since: hour(25))) == Array(r[2...]))
        #expect(try day.ids(ReturnSearch(until: hour(25))) == [r[0], r[1]])
        #expect(try day.ids(ReturnSearch(since: hour(25), until: hour(49))) == [r[2], r[3]])
        #expect(try day.ids(ReturnSearch(since: hour(50))) == [])
    }

    @Test func aLimitKeepsTheOldestAndSaysMoreMatched() throws {
        let day = try Day()
        let r = day.returns.map(\.id)
        let limited = try day.store.findReturns(ReturnSearch(gtin: GTIN("4006381333931"), limit: 2))
        #expect(limited.returns.map(\.row.id) == [r[0], r[2]].map(\.rawValue))
        #expect(limited.more)
        let exact = try day.store.findReturns(ReturnSearch(gtin: GTIN("4006381333931"), limit: 3))
        #expect(exact.returns.count == 3 && !exact.more)
        let withRecords = try day.store.findReturns(ReturnSearch(limit: 1), records: true)
        #expect(withRecords.returns.map { $0.record?.id } == [r[0].rawValue])
        #expect(try day.store.findReturns(ReturnSearch(limit: 1)).returns.allSatisfy { $0.record == nil })
    }

    /// Short ids are unique among every return held, not only the ones a filtered list shows: the first two
    /// returns were captured a millisecond apart, so a search finding one of them still prints enough to tell it
    /// from the other.
    @Test func shortIDsTellEveryHeldReturnApartAndResolveBack() async throws {
        let day = try Day()
        let r = day.returns.map(\.id)
        let first = try #require(
            try day.store.findReturns(ReturnSearch(gtin: GTIN("4006381333931"), limit: 1)).returns.first
        )
        #expect(first.row.id == r[0].rawValue)
        #expect(!r[1].rawValue.hasPrefix(first.shortID) && r[0].rawValue.hasPrefix(first.shortID))
        #expect(first.shortID.count > ShortReturnID.minimumShownLength)
        for found in try day.store.findReturns(ReturnSearch()).returns {
            #expect(try await day.store.resolveReturnID(found.shortID).rawValue == found.row.id)
            #expect(try await day.store.resolveReturnID(found.shortID.uppercased()).rawValue == found.row.id)
        }
        // Eight characters name the first two: ambiguous, and the message names both.
        await #expect {
            _ = try await day.store.resolveReturnID(String(r[0].rawValue.prefix(8)))
        } throws: { error in
            (error as? ReturnsModelError)?.message.contains(
                "is ambiguous: the ids of 2 returns start with it (\(r[0]), \(r[1]))"
            ) == true
        }
        await #expect {
            _ = try await day.store.resolveReturnID("ffff")
        } throws: { error in
            (error as? ReplicaStoreError)?.code == .notFound
                && (error as? ReplicaStoreError)?.message == "no return with id 'ffff'"
        }
        // A whole id is taken as it is, known or not (the command then says it is unknown).
        let unknown = try ReturnID("0192f5e0-7a3c-7def-8123-456789abcdef")
        #expect(try await day.store.resolveReturnID(unknown.rawValue) == unknown)
    }
}
