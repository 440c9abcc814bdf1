import Foundation
import PropertyBased
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

/// HQ's verdicts depend on which returns it holds, never on the order they arrived in or how often.
@Suite struct VerificationPropertyTests {
    static let gtins = ["4006381333931", "96385074"]

    /// A server store in its own directory, holding the same orders in every run.
    struct Server {
        let directory: TemporaryDirectory
        let store: ReplicaStore

        init(name: String) throws {
            directory = try TemporaryDirectory(function: name)
            store = try ReplicaStore.create(
                at: directory.file("hq.sqlite"),
                identity: .server(replicaID: ReplicaID("hq"))
            )
            func line(
                _ order: String,
                _ number: Int,
                _ store: String,
                _ gtin: String,
                serial: String? = nil,
                quantity: Int,
                daysAgo: Double
            ) throws -> OrderLine {
                try OrderLine(
                    orderID: OrderID(order),
                    storeID: StoreID(store),
                    line: number,
                    gtin: GTIN(gtin),
                    serial: serial.map { try ItemCode($0, kind: "serial") },
                    quantity: quantity,
                    unitPriceCents: 100,
                    soldAt: Date().addingTimeInterval(-daysAgo * 86_400)
                )
            }
            _ = try store.importOrders([
                try line("ORD-0", 1, "store-1", gtins[0], quantity: 1, daysAgo: 1),
                try line("ORD-0", 2, "store-1", gtins[1], serial: "S1", quantity: 1, daysAgo: 1),
                try line("ORD-1", 1, "store-2", gtins[0], quantity: 2, daysAgo: 1),
                try line("ORD-2", 1, "store-1", gtins[1], quantity: 1, daysAgo: 40),
            ])
            try store.write(.setPolicy(VerificationPropertyTests.customerPolicy))
        }

        /// Every return's verdict, by id.
        func verdicts() throws -> [String: String] {
            Dictionary(
                uniqueKeysWithValues: try store.returnRecords().map { record in
                    let item = try ProductReturn(record: record)
                    return (record.id, "\(item.verification?.rawValue ?? "-") \(item.exceptions.map(\.rawValue))")
                }
            )
        }
    }

    /// Customer limits at HQ: the second receipt-less return of a customer, and a fourth unit, go to review.
    static let customerPolicy = try! ReturnPolicy.validated(
        store: nil,
        gtinPrefix: "",
        windowDays: 30,
        receiptRequired: false,
        receiptlessLimit: CustomerLimit(count: 1, days: 30),
        customerVelocity: CustomerLimit(count: 3, days: 7)
    )

    @Test func verdictsConvergeWhateverTheArrivalOrderAndDuplication() async throws {
        // Each number describes one capture; the last one also seeds the delivery order.
        let captures = Gen.int(in: 0...4095).array(of: 2...9)
        await propertyCheck(count: 40, input: captures) { codes in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let kiosks = try ["store-1", "store-2"].map { store in
                    let directory = try TemporaryDirectory(function: "verification-\(store)")
                    return (
                        directory,
                        try ReplicaStore.create(
                            at: directory.file("kiosk.sqlite"),
                            identity: .kiosk(store: StoreID(store), kiosk: KioskID("k"))
                        )
                    )
                }
                var pushes: [(record: VersionedRecord, kiosk: Int)] = []
                for code in codes {
                    let kiosk = code & 1
                    let serial = [nil, "S1", "S2"][(code >> 4) % 3]
                    let item = try kiosks[kiosk].1.recordReturn(
                        ReturnCapture(
                            orderID: OrderID("ORD-\((code >> 1) & 3)"),
                            gtin: GTIN(Self.gtins[(code >> 3) & 1]),
                            reason: .defective,
                            serial: serial.map { try ItemCode($0, kind: "serial") },
                            quantity: 1 + (code >> 6) & 1,
                            receipt: (code >> 7) & 1 == 0,
                            customerRef: try [nil, "c1", "c2"][(code >> 9) % 3].map(CustomerReference.init)
                        )
                    )
                    if (code >> 8) & 1 == 1 {
                        _ = try kiosks[kiosk].1.updateReturn(item.id, operation: "void") { item, author, date in
                            try item.void(note: "mistake", by: author, at: date)
                        }
                    }
                    pushes.append((try kiosks[kiosk].1.returnRecord(item.id), kiosk))
                }
                let stores = try ["store-1", "store-2"].map(StoreID.init)
                let replicas = try ["store-1/k", "store-2/k"].map(ReplicaID.init)

                // One server receives each store's returns in one batch; another one at a time, shuffled, some twice.
                let batched = try Server(name: "batched")
                for kiosk in [1, 0] {
                    let records = pushes.filter { $0.kiosk == kiosk }.map(\.record)
                    _ = try batched.store.acceptPush(records, from: replicas[kiosk], store: stores[kiosk])
                }
                let trickled = try Server(name: "trickled")
                var random = SeededRandom(seed: UInt64(codes.last!))
                let order = Array(pushes.indices).shuffled(using: &random)
                for index in order + order.prefix(2) {
                    let push = pushes[index]
                    _ = try trickled.store.acceptPush(
                        [push.record],
                        from: replicas[push.kiosk],
                        store: stores[push.kiosk]
                    )
                }
                #expect(try batched.verdicts() == trickled.verdicts())
                #expect(try batched.verdicts().count == pushes.count, "no return lost")
                // A batch naming its first return twice, one after the other: its writer finds the second by id and
                // reads every return back for re-verification, rather than going by position.
                let repeated = try Server(name: "repeated")
                for kiosk in [1, 0] {
                    let records = pushes.filter { $0.kiosk == kiosk }.map(\.record)
                    _ = try repeated.store.acceptPush(
                        Array(records.prefix(1)) + records,
                        from: replicas[kiosk],
                        store: stores[kiosk]
                    )
                }
                #expect(try repeated.verdicts() == trickled.verdicts())

                // Re-verifying what HQ holds writes nothing more.
                let changes = try trickled.store.changeLogCount()
                for push in pushes {
                    _ = try trickled.store.acceptPush(
                        [push.record],
                        from: replicas[push.kiosk],
                        store: stores[push.kiosk]
                    )
                }
                #expect(try trickled.store.changeLogCount() == changes)

                // A push decides over the facts it reads together; an orders import re-verifies its returns one at a
                // time with a query each. Importing the same orders again agrees with every verdict the pushes left.
                let pushed = try trickled.verdicts()
                _ = try trickled.store.importOrders(try trickled.store.orderLines())
                #expect(try trickled.verdicts() == pushed)

                // Never more units verified against an order's product than it sold.
                let sold = try trickled.store.orderLines().reduce(into: [String: Int]()) {
                    $0["\($1.orderID)/\($1.gtin.digits)", default: 0] += $1.quantity
                }
                var verified: [String: Int] = [:]
                for record in try trickled.store.returnRecords() {
                    let item = try ProductReturn(record: record)
                    if item.verification == .verified, item.status != .voided {
                        verified["\(item.orderID)/\(item.gtin.digits)", default: 0] += item.quantity
                    }
                }
                for (key, units) in verified { #expect(units <= sold[key] ?? 0, "\(key)") }

                // A customer's return goes to review exactly when those before it (not voided) pass a limit.
                let held = try trickled.store.returnRecords().map(ProductReturn.init(record:)).filter {
                    $0.status != .voided
                }
                func key(_ item: ProductReturn) -> (Int64, String) {
                    (item.createdAt.millisecondsSince1970, item.id.rawValue)
                }
                for item in held where item.customerRef != nil {
                    let before = held.filter { $0.customerRef == item.customerRef && key($0) < key(item) }
                    #expect(
                        item.exceptions.contains(.receiptlessLimit)
                            == (!item.receipt && before.contains { !$0.receipt }),
                        "\(item.id): \(item.exceptions)"
                    )
                    #expect(
                        item.exceptions.contains(.customerVelocity)
                            == (before.map(\.quantity).reduce(item.quantity, +) > 3),
                        "\(item.id): \(item.exceptions)"
                    )
                }
            } catch {
                Issue.record(error)
            }
        }
    }
}
