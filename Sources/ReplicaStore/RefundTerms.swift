import Foundation
import GRDB
import ReturnsModel
import ReturnsSync

/// What a store knows that decides a return's refund: the price and currency of the unit on its order line, and
/// the restocking fee of the return policy governing it.
public struct RefundTerms: Hashable, Sendable {
    /// The order line's unit price, in minor units of ``currency``; `nil` when no line of the order holds the product.
    public var unitPriceMinor: Int64?
    /// The order line's currency, when it states one.
    public var currency: Currency?
    /// The governing policy's restocking fee, if any.
    public var restockingFee: RestockingFee?

    /// Creates terms.
    public init(unitPriceMinor: Int64?, currency: Currency?, restockingFee: RestockingFee?) {
        self.unitPriceMinor = unitPriceMinor
        self.currency = currency
        self.restockingFee = restockingFee
    }

    /// The terms of `item` from its order's lines (the first line of its product) and the policies known.
    public init(of item: ProductReturn, lines: [OrderLine], policies: [ReturnPolicy]) {
        let line = lines.filter { $0.orderID == item.orderID && $0.gtin == item.gtin }.min { $0.line < $1.line }
        self.init(
            unitPriceMinor: line?.unitPriceCents,
            currency: line?.currency,
            restockingFee: policies.governing(item.gtin, at: item.storeID).restockingFee
        )
    }
}

extension ReplicaStore {
    /// The refund terms of a stored return, from the order lines and policies this replica holds.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id.
    public func refundTerms(of id: ReturnID) throws -> RefundTerms {
        let item = try ProductReturn(record: returnRecord(id))
        let lines = try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM orders WHERE order_id = ?", arguments: [item.orderID.rawValue])
                .map(Self.orderLine(from:))
        }
        return RefundTerms(of: item, lines: lines, policies: try returnPolicies())
    }
}
