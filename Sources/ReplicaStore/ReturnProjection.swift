import ReturnsModel

/// A return's row in the `returns` projection — the columns lists and reports read instead of decoding records —
/// as every server backend stores it: the SQLite store binds these values, the PostgreSQL store sends them as JSON.
public struct ReturnProjection: Sendable {
    /// A column's value.
    public enum Value: Sendable, Hashable {
        case text(String?)
        case integer(Int64?)
        case flag(Bool)
    }

    /// The projection's columns, in order.
    public static let names = [
        "id", "store_id", "kiosk_id", "order_id", "gtin", "serial", "lot", "quantity", "reason", "status", "condition",
        "test_result", "disposition", "needs_review", "in_conflict", "created_at", "updated_at", "recall_campaign",
        "recall_match", "repair_vendor", "repair_status", "repair_turnaround_days", "receipt", "verification",
        "exceptions", "awaits_review", "review_outcome", "refund_amount", "refund_fee", "refund_currency",
        "refund_method", "rma_number", "rma_shipped_at", "vendor_credit_amount", "vendor_credit_currency",
        "repair_sent_at", "customer_ref",
    ]

    /// The start of a day `YYYY-MM-DD` in milliseconds since 1970 (UTC): what the projection stores for a day, so
    /// every backend computes ages with integer arithmetic.
    public static func dayStart(_ day: String) -> Int64? {
        ReturnDates.dayNumber(day).map { Int64($0) * 86_400_000 }
    }

    /// The values, in the order of ``names``.
    public let values: [Value]

    /// The row of `item`, the return a record shows.
    ///
    /// - Parameters:
    ///   - inConflict: whether the record holds an open conflict.
    ///   - updatedAt: the record's newest stamp, milliseconds (the return's creation when older or none).
    public init(_ item: ProductReturn, inConflict: Bool, updatedAt: Int64?) {
        let createdAt = item.createdAt.millisecondsSince1970
        var values: [Value] = [
            .text(item.id.rawValue), .text(item.storeID.rawValue), .text(item.kioskID.rawValue),
            .text(item.orderID.rawValue), .text(item.gtin.digits), .text(item.serial?.rawValue),
            .text(item.lot?.rawValue), .integer(Int64(item.quantity)), .text(item.reason.rawValue),
            .text(item.status.rawValue), .text(item.condition.rawValue), .text(item.testResult.rawValue),
            .text(item.disposition.rawValue), .flag(item.needsReview), .flag(inConflict), .integer(createdAt),
            .integer(max(updatedAt ?? 0, createdAt)), .text(item.recallCampaign), .text(item.recallMatch?.rawValue),
            .text(item.repair?.vendor), .text(item.repair?.status.rawValue),
            .integer(item.repair?.turnaroundDays.map(Int64.init)), .flag(item.receipt),
            .text(item.verification?.rawValue), .text(item.exceptions.map(\.rawValue).joined(separator: ",")),
            .flag(item.awaitsReview), .text(item.review?.outcome.rawValue),
            .integer(item.refund?.amountMinor), .integer(item.refund?.feeMinor), .text(item.refund?.currency.code),
            .text(item.refund?.method.rawValue), .text(item.vendorShipment?.rma),
            .integer(item.vendorShipment?.shippedOn.flatMap(Self.dayStart)), .integer(item.vendorCredit?.amountMinor),
            .text(item.vendorCredit?.currency.code), .integer(item.repair.flatMap { Self.dayStart($0.sentOn) }),
            .text(item.customerRef?.rawValue),
        ]
        // A newer release's value is stored as it is spelled, not as the value this release reads it as: reports
        // count it under its own name, and no query for a known value finds it.
        for (field, spelling) in item.newerValues {
            if let column = Self.vocabularyColumns[field], let index = Self.names.firstIndex(of: column) {
                values[index] = .text(spelling)
            }
        }
        self.values = values
    }

    /// The projection's column of each return field whose values are a vocabulary.
    static let vocabularyColumns = [
        "reason": "reason", "status": "status", "condition": "condition", "testResult": "test_result",
        "disposition": "disposition", "recallMatch": "recall_match", "repairStatus": "repair_status",
        "reviewOutcome": "review_outcome", "refundMethod": "refund_method", "verification": "verification",
    ]
}
