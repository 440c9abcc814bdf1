import Foundation
import PropertyBased
import ReturnsModel
import Testing

@testable import ReplicaStore

/// ``PurchaseReverification/unread(_:seeds:byCustomer:)`` tells which of the returns found beside a push's own must
/// have their purchases, units and customers searched too. It skips building its sets when the returns found are the
/// seeds themselves; whatever it skips, the answer must be the plain filter's.
@Suite struct UnreadFactsPropertyTests {
    /// The plain filter: a return found whose purchase, unit or (with `byCustomer`) customer no seed has.
    static func plainUnread(_ affected: [ReturnFacts], seeds: [ReturnFacts], byCustomer: Bool) -> [ReturnFacts] {
        affected.filter { facts in
            !seeds.contains { $0.orderID == facts.orderID && $0.gtin == facts.gtin }
                || (facts.serial != nil && !seeds.contains { $0.gtin == facts.gtin && $0.serial == facts.serial })
                || (byCustomer
                    && facts.customerRef.map { reference in !seeds.contains { $0.customerRef == reference } }
                        ?? false)
        }
    }

    /// The facts one number describes: an id of 4, an order of 2, a GTIN of 2, a serial of 3 (or none), a customer of
    /// 2 (or none).
    static func facts(_ code: Int) throws -> ReturnFacts {
        let created = Date(timeIntervalSince1970: 1_790_000_000)
        let facts = ReturnFacts(
            try ProductReturn(
                id: ReturnID("0192f5e0-7a3c-7def-8123-45678900000\(code & 3)"),
                storeID: StoreID("store-1"),
                kioskID: KioskID("k"),
                orderID: OrderID("ORD-\((code >> 2) & 1)"),
                gtin: GTIN(["4006381333931", "96385074"][(code >> 3) & 1]),
                reason: .defective,
                createdAt: created
            )
        )
        return facts.with(
            serial: try [nil, "S1", "S2", "S3"][(code >> 4) & 3].map { try ItemCode($0, kind: "serial") },
            customerRef: [nil, "c1", "c2"][(code >> 6) % 3]
        )
    }

    @Test func unreadIsThePlainFilterWhateverWasFound() async throws {
        // Seeds, then returns found beside them: half the time the seeds themselves, some of them changed, the rest
        // any returns. Small vocabularies, so that shared purchases, units and customers are common.
        let cases = Gen.int(in: 0...1023).array(of: 1...6).array(of: 3...3)
        var fastPathTaken = 0
        await propertyCheck(count: 400, input: cases) { lists in
            do {
                let seeds = try lists[0].map(Self.facts)
                var affected = seeds
                if lists[1][0] & 1 == 0 {
                    // The seeds, one of them perhaps changed (the same id, another unit or customer).
                    if lists[1][0] & 2 == 0 {
                        let index = lists[1].count % affected.count
                        let changed = try Self.facts(lists[1][lists[1].count - 1])
                        affected[index] = affected[index].with(serial: changed.serial, customerRef: changed.customerRef)
                    }
                    affected.shuffle()
                } else {
                    affected = try lists[2].map(Self.facts)
                }
                for byCustomer in [false, true] {
                    let unread = PurchaseReverification.unread(affected, seeds: seeds, byCustomer: byCustomer)
                    #expect(
                        unread == Self.plainUnread(affected, seeds: seeds, byCustomer: byCustomer),
                        "seeds \(lists[0]), affected \(affected.map(\.id)), by customer \(byCustomer)"
                    )
                    if affected.count == seeds.count, unread.isEmpty { fastPathTaken += 1 }
                }
            } catch {
                Issue.record("\(error)")
            }
        }
        #expect(fastPathTaken > 50, "the seeds alone should often be what was found")
    }
}
