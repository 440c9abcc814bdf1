import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Synchronization
import Testing

/// Receipt-less limits and customer velocity: checked offline at the kiosk against what it knows, and again at HQ
/// across stores, whatever order the stores' pushes arrive in — on every backend.
@Suite struct CustomerLimitSyncTests {
    /// A wall clock the kiosks share, a second further on at every reading: captures get distinct, ordered times
    /// (and HQ, on the real clock, sees no skew).
    final class SteppingClock: Sendable {
        private let next = Mutex(Date())
        func read() -> Date {
            next.withLock { now in
                defer { now = now.addingTimeInterval(1) }
                return now
            }
        }
    }

    static let policy = try! ReturnPolicy.validated(
        store: nil,
        gtinPrefix: "",
        windowDays: 30,
        receiptRequired: false,
        receiptlessLimit: CustomerLimit(count: 2, days: 30),
        customerVelocity: CustomerLimit(count: 4, days: 7)
    )

    /// The day: what each kiosk captured (with the exceptions it saw offline) and pushes.
    struct Day {
        var north: [VersionedRecord]
        var south: [VersionedRecord]
        /// Return id → the label the test knows it by.
        var names: [String: String]
        /// Label → exceptions seen at the kiosk when captured.
        var offline: [String: [ReturnException]]
    }

    static func day(in directory: TemporaryDirectory) throws -> Day {
        let clock = SteppingClock()
        // The kiosks learn the policy as a pull would bring it: HQ's record.
        let hq = try ReplicaStore.create(
            at: directory.file("policy-hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let policyRecord = try hq.write(.setPolicy(policy))
        func kiosk(_ store: String) throws -> ReplicaStore {
            let kiosk = try ReplicaStore.create(
                at: directory.file("\(store).sqlite"),
                identity: .kiosk(store: StoreID(store), kiosk: KioskID("k1")),
                configuration: ReplicaStore.Configuration(now: { clock.read() })
            )
            try kiosk.merge(policyRecord)
            return kiosk
        }
        let (north, south) = (try kiosk("north"), try kiosk("south"))
        var day = Day(north: [], south: [], names: [:], offline: [:])
        func capture(
            _ name: String,
            at kiosk: ReplicaStore,
            customer: String?,
            quantity: Int = 1,
            receipt: Bool = false
        ) throws {
            let item = try kiosk.recordReturn(
                ReturnCapture(
                    orderID: OrderID("ORD-\(name)"),
                    gtin: GTIN("4006381333931"),
                    reason: .noLongerNeeded,
                    quantity: quantity,
                    receipt: receipt,
                    customerRef: try customer.map(CustomerReference.init)
                )
            )
            day.names[item.id.rawValue] = name
            day.offline[name] = item.exceptions
        }
        try capture("ann-1", at: north, customer: "ann")
        try capture("ann-2", at: north, customer: "ann")
        try capture("ann-3", at: south, customer: "ann")  // south has not seen ann's first two
        try capture("ann-4", at: north, customer: "ann")  // north has: over the limit offline too
        try capture("ann-receipt", at: south, customer: "ann", receipt: true)
        try capture("bob-1", at: north, customer: "bob", quantity: 3, receipt: true)
        try capture("bob-2", at: south, customer: "bob", quantity: 2, receipt: true)  // 5 units in a week
        try capture("anonymous", at: north, customer: nil)
        try capture("anonymous-2", at: north, customer: nil)
        try capture("anonymous-3", at: north, customer: nil)
        day.north = try north.returnRecords()
        day.south = try south.returnRecords()
        return day
    }

    static let expectedAtHQ: [String: [ReturnException]] = [
        "ann-1": [], "ann-2": [], "ann-3": [.receiptlessLimit], "ann-4": [.receiptlessLimit],
        // ann's fifth unit within the week.
        "ann-receipt": [.customerVelocity], "bob-1": [], "bob-2": [.customerVelocity], "anonymous": [],
        "anonymous-2": [], "anonymous-3": [],
    ]

    @Test func theKioskChecksWhatItKnowsOffline() throws {
        let directory = try TemporaryDirectory()
        let day = try Self.day(in: directory)
        #expect(
            day.offline == [
                "ann-1": [], "ann-2": [], "ann-3": [], "ann-4": [.receiptlessLimit], "ann-receipt": [], "bob-1": [],
                "bob-2": [], "anonymous": [], "anonymous-2": [], "anonymous-3": [],
            ]
        )
    }

    @Test(arguments: StorageBackend.all, [false, true])
    func hqChecksAgainAcrossStoresWhicheverStorePushesFirst(backend: StorageBackend, southFirst: Bool) async throws {
        let directory = try TemporaryDirectory()
        let day = try Self.day(in: directory)
        try await backend.with { instance in
            let hq = try #require(instance.storage as? any ReferenceAdministration & ReturnAdministration)
            _ = try await hq.write(.setPolicy(Self.policy))
            let pushes = [
                (try ReplicaID("north/k1"), try StoreID("north"), day.north),
                (try ReplicaID("south/k1"), try StoreID("south"), day.south),
            ]
            for (pusher, store, records) in southFirst ? pushes.reversed() : pushes {
                _ = try await instance.storage.acceptPush(records, from: pusher, store: store)
            }
            var verdicts: [String: [ReturnException]] = [:]
            for record in try await hq.returnRecords(store: nil) {
                verdicts[try #require(day.names[record.id])] = try ProductReturn(record: record).exceptions
            }
            #expect(verdicts == Self.expectedAtHQ, "\(backend), south first: \(southFirst)")

            // HQ voids ann's first: ann-3 is within the limit again (ann-4 still over it: ann-2 and ann-3 came
            // first, flagged or not), ann-receipt is her fourth unit in the week; HQ's own edits say so.
            let ann1 = try #require(day.names.first { $0.value == "ann-1" }?.key)
            _ = try await hq.editReturn(try ReturnID(ann1), operation: "void") { item, author, date in
                try item.void(note: "HQ: entered twice", by: author, at: date)
            }
            var afterVoid: [String: [ReturnException]] = [:]
            for record in try await hq.returnRecords(store: nil) where day.names[record.id]?.hasPrefix("ann-") == true {
                afterVoid[day.names[record.id]!] = try ProductReturn(record: record).exceptions
            }
            #expect(
                afterVoid == ["ann-1": [], "ann-2": [], "ann-3": [], "ann-4": [.receiptlessLimit], "ann-receipt": []],
                "\(backend)"
            )
        }
    }
}
