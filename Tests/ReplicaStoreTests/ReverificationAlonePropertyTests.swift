import Foundation
import PropertyBased
import ReturnsModel
import Testing

@testable import ReplicaStore

/// HQ's re-verification of a push whose returns share nothing — nearly every push of new returns — decides each
/// return alone (``PurchaseReverification/reverifyEachAlone(_:)``) instead of grouping them by purchase, unit and
/// customer first. Whatever the returns, policies and orders, that shortcut is taken exactly when no two returns
/// share an id, a purchase, a unit or (with customer limits) a customer, and then decides what the grouped
/// re-verification decides.
@Suite struct ReverificationAlonePropertyTests {
    static let created: Int64 = 1_790_000_000_000

    /// The facts one number describes: an id of 8, an order of 4, a GTIN of 2, a serial of 4 (or none), a customer
    /// of 3 (or none), a receipt or not, one of four creation times, verified earlier as found or not at all.
    static func facts(_ code: Int) throws -> ReturnFacts {
        ReturnFacts(
            id: "0192f5e0-7a3c-7def-8123-45678900000\(code & 7)",
            storeID: try StoreID("store-1"),
            orderID: try OrderID("ORD-\((code >> 3) & 3)"),
            gtin: try GTIN(["4006381333931", "96385074"][(code >> 5) & 1]),
            serial: try [nil, "S1", "S2", "S3"][(code >> 6) & 3].map { try ItemCode($0, kind: "serial") },
            quantity: 1 + (code >> 8) & 1,
            createdAt: created + Int64((code >> 9) & 3) * 86_400_000,
            receipt: (code >> 11) & 1 == 0,
            isCertainRecall: false,
            isVoided: false,
            verification: (code >> 12) & 1 == 0 ? nil : .verified,
            exceptions: [],
            customerRef: [nil, "c1", "c2", "c3"][(code >> 13) & 3]
        )
    }

    /// The plain definition: no two returns share an id, a purchase, a serialised unit or (with `byCustomer`) a
    /// customer.
    static func plainIsolated(_ returns: [ReturnFacts], byCustomer: Bool) -> Bool {
        for (index, one) in returns.enumerated() {
            for other in returns[..<index] {
                if one.id == other.id || (one.orderID == other.orderID && one.gtin == other.gtin) { return false }
                if one.serial != nil, one.gtin == other.gtin, one.serial == other.serial { return false }
                if byCustomer, one.customerRef != nil, one.customerRef == other.customerRef { return false }
            }
        }
        return true
    }

    @Test func eachAloneDecidesWhatTheGroupsDecide() async throws {
        let limit = try CustomerLimit(count: 1, days: 30)
        let policies = [
            [],
            [try ReturnPolicy.validated(store: nil, gtinPrefix: "", windowDays: 30, receiptRequired: true)],
            [
                try ReturnPolicy.validated(
                    store: nil,
                    gtinPrefix: "",
                    windowDays: 2,
                    receiptRequired: false,
                    receiptlessLimit: limit,
                    customerVelocity: limit
                )
            ],
        ]
        // An order of one unit of each GTIN for ORD-0 and ORD-1: some returns over-return it, some are outside the
        // window, some name an order HQ does not hold.
        var lines: [OrderLine] = []
        for order in 0...1 {
            for (line, gtin) in ["4006381333931", "96385074"].enumerated() {
                lines.append(
                    try OrderLine(
                        orderID: OrderID("ORD-\(order)"),
                        storeID: StoreID("store-1"),
                        line: line + 1,
                        gtin: GTIN(gtin),
                        quantity: 1,
                        unitPriceCents: 1_000,
                        soldAt: Date(millisecondsSince1970: Self.created - 86_400_000)
                    )
                )
            }
        }
        let cases = zip(Gen.int(in: 0...16383).array(of: 1...6), Gen.int(in: 0...2), Gen.bool)
        var alone = 0
        var grouped = 0
        var decided = 0
        await propertyCheck(count: 1_000, input: cases) { codes, policy, hasOrders in
            do {
                let seeds = try codes.map(Self.facts)
                let byCustomer = policies[policy].contains(where: \.limitsCustomers)
                let isolated = PurchaseReverification.isolated(seeds, seeds: seeds, byCustomer: byCustomer)
                #expect(isolated == Self.plainIsolated(seeds, byCustomer: byCustomer), "\(codes)")
                // The same facts read again (other objects): not the seeds themselves, never isolated.
                let readAgain = try codes.map(Self.facts)
                #expect(!PurchaseReverification.isolated(readAgain, seeds: seeds, byCustomer: byCustomer))
                guard isolated else {
                    grouped += 1
                    return
                }
                alone += 1
                var verification = PurchaseReverification(
                    returns: seeds,
                    lines: hasOrders ? lines : [],
                    policies: policies[policy],
                    hasOrders: hasOrders
                )
                let each = PurchaseReverification(
                    returns: [],
                    lines: hasOrders ? lines : [],
                    policies: policies[policy],
                    hasOrders: hasOrders
                ).reverifyEachAlone(seeds)
                let whole = verification.reverify(seeds.map(\.id))
                if !whole.isEmpty { decided += 1 }
                #expect(each.map(\.facts.id) == whole.map(\.facts.id), "\(codes)")
                #expect(each.map(\.verification) == whole.map(\.verification), "\(codes)")
                #expect(each.map(\.exceptions) == whole.map(\.exceptions), "\(codes)")
            } catch {
                Issue.record("\(error)")
            }
        }
        #expect(alone > 100 && grouped > 100, "both paths often: \(alone) alone, \(grouped) grouped")
        #expect(decided > 50, "returns whose verification changes: \(decided)")
    }
}
