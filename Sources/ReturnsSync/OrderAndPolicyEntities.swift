import Foundation
import ReturnsModel
import SyncEngine

/// How an order line is stored as a replicated record. HQ imports orders; each kiosk receives its own store's
/// lines sold within the return window, so it can verify returns offline.
public enum OrderEntity {
    /// The entity type of order-line records.
    public static let entityType = "order"

    /// Field names.
    public enum Field {
        public static let orderID = "orderId"
        public static let storeID = "storeId"
        public static let line = "line"
        public static let gtin = "gtin"
        public static let serial = "serial"
        public static let quantity = "quantity"
        public static let unitPriceCents = "unitPriceCents"
        /// Milliseconds since the Unix epoch.
        public static let soldAt = "soldAt"
        /// ISO 4217; absent for lines imported before currencies were recorded.
        public static let currency = "currency"
    }

    /// Only HQ writes orders; a re-import shows the latest.
    public static let policy = EntityPolicy(defaultPolicy: .latestStamp)

    /// The edit that writes every field of `line`: a new record's creation, or a re-import's update (fields that
    /// did not change are left out, so re-importing the same file writes nothing).
    public static func edit(for line: OrderLine, over current: OrderLine? = nil) -> RecordEdit {
        var edit = RecordEdit()
        func set(_ field: String, _ value: FieldValue, _ old: FieldValue?) {
            if value != old { edit.set(field, to: value) }
        }
        set(Field.orderID, .string(line.orderID.rawValue), current.map { .string($0.orderID.rawValue) })
        set(Field.storeID, .string(line.storeID.rawValue), current.map { .string($0.storeID.rawValue) })
        set(Field.line, .integer(Int64(line.line)), current.map { .integer(Int64($0.line)) })
        set(Field.gtin, .string(line.gtin.digits), current.map { .string($0.gtin.digits) })
        set(
            Field.serial,
            line.serial.map { .string($0.rawValue) } ?? .null,
            current.map { $0.serial.map { .string($0.rawValue) } ?? .null }
        )
        set(Field.quantity, .integer(Int64(line.quantity)), current.map { .integer(Int64($0.quantity)) })
        set(Field.unitPriceCents, .integer(line.unitPriceCents), current.map { .integer($0.unitPriceCents) })
        set(
            Field.soldAt,
            .integer(line.soldAt.millisecondsSince1970),
            current.map { .integer($0.soldAt.millisecondsSince1970) }
        )
        // Written only once known: a line stored before currencies were recorded keeps its record as it was.
        if line.currency != nil || current?.currency != nil {
            set(
                Field.currency,
                line.currency.map { .string($0.code) } ?? .null,
                current.map { $0.currency.map { .string($0.code) } ?? .null }
            )
        }
        return edit
    }
}

extension OrderLine {
    /// The order line a record holds.
    ///
    /// - Throws: ``ReturnsModelError`` when the record is not a valid order line.
    public init(record: VersionedRecord) throws {
        guard record.entityType == OrderEntity.entityType else {
            throw ReturnsModelError(code: .invalidValue, message: "record '\(record.id)' is not an order line")
        }
        func value(_ field: String) -> FieldValue? {
            record.visibleValue(of: field, policy: OrderEntity.policy)?.value
        }
        func required<T>(_ field: String, _ read: (FieldValue) -> T?) throws -> T {
            guard let found = value(field).flatMap(read) else {
                throw ReturnsModelError(code: .invalidValue, message: "order line '\(record.id)' lacks '\(field)'")
            }
            return found
        }
        try self.init(
            orderID: OrderID(required(OrderEntity.Field.orderID, \.stringValue)),
            storeID: StoreID(required(OrderEntity.Field.storeID, \.stringValue)),
            line: Int(required(OrderEntity.Field.line, \.integerValue)),
            gtin: GTIN(stored: required(OrderEntity.Field.gtin, \.stringValue)),
            serial: value(OrderEntity.Field.serial)?.stringValue.map { try ItemCode($0, kind: "serial") },
            quantity: Int(required(OrderEntity.Field.quantity, \.integerValue)),
            unitPriceCents: required(OrderEntity.Field.unitPriceCents, \.integerValue),
            soldAt: ReturnDates.validatedInstant(
                required(OrderEntity.Field.soldAt, \.integerValue),
                field: "soldAt of order line '\(record.id)'"
            ),
            currency: value(OrderEntity.Field.currency)?.stringValue.map(Currency.init)
        )
    }
}

/// How a return policy is stored as a replicated record. Policies are few and global: every kiosk receives all
/// of them and picks the ones that govern its store.
public enum PolicyEntity {
    /// The entity type of policy records.
    public static let entityType = "policy"

    /// Field names.
    public enum Field {
        /// The store id, or absent for every store.
        public static let storeID = "storeId"
        /// The GTIN-14 prefix; empty for every product.
        public static let gtinPrefix = "gtinPrefix"
        public static let windowDays = "windowDays"
        public static let receiptRequired = "receiptRequired"
        /// The restocking fee as hundredths of a percent, or a fixed amount in minor units; at most one is set.
        public static let restockingFeeBasisPoints = "restockingFeeBasisPoints"
        public static let restockingFeeFixed = "restockingFeeFixed"
        /// The receipt-less limit: at most `receiptlessLimitCount` per customer in `receiptlessLimitDays` days.
        public static let receiptlessLimitCount = "receiptlessLimitCount"
        public static let receiptlessLimitDays = "receiptlessLimitDays"
        /// The velocity threshold: more than `velocityUnits` units per customer in `velocityDays` days.
        public static let velocityUnits = "velocityUnits"
        public static let velocityDays = "velocityDays"
        /// `false` once HQ removed the policy: records are never deleted, so a removal must replicate too.
        public static let active = "active"
    }

    /// Only HQ writes policies; the latest setting shows.
    public static let policy = EntityPolicy(defaultPolicy: .latestStamp)

    /// The edit that sets `policy` (and makes it active again if it was removed).
    public static func edit(for policy: ReturnPolicy) -> RecordEdit {
        var edit = RecordEdit()
        edit.set(Field.storeID, to: policy.store.map { .string($0.rawValue) } ?? .null)
        edit.set(Field.gtinPrefix, to: .string(policy.gtinPrefix))
        edit.set(Field.windowDays, to: .integer(Int64(policy.windowDays)))
        edit.set(Field.receiptRequired, to: .bool(policy.receiptRequired))
        var basisPoints: FieldValue = .null
        var fixed: FieldValue = .null
        switch policy.restockingFee {
        case .percent(let points)?: basisPoints = .integer(Int64(points))
        case .fixed(let units)?: fixed = .integer(units)
        case nil: break
        }
        edit.set(Field.restockingFeeBasisPoints, to: basisPoints)
        edit.set(Field.restockingFeeFixed, to: fixed)
        edit.set(Field.receiptlessLimitCount, to: policy.receiptlessLimit.map { .integer(Int64($0.count)) } ?? .null)
        edit.set(Field.receiptlessLimitDays, to: policy.receiptlessLimit.map { .integer(Int64($0.days)) } ?? .null)
        edit.set(Field.velocityUnits, to: policy.customerVelocity.map { .integer(Int64($0.count)) } ?? .null)
        edit.set(Field.velocityDays, to: policy.customerVelocity.map { .integer(Int64($0.days)) } ?? .null)
        edit.set(Field.active, to: .bool(true))
        return edit
    }

    /// The edit that removes a policy.
    public static let removalEdit = RecordEdit(assignments: [Field.active: .bool(false)])

    /// The policy a record holds, or `nil` when it was removed.
    ///
    /// - Throws: ``ReturnsModelError`` when the record is not a valid policy.
    public static func returnPolicy(from record: VersionedRecord) throws -> ReturnPolicy? {
        guard record.entityType == entityType else {
            throw ReturnsModelError(code: .invalidValue, message: "record '\(record.id)' is not a return policy")
        }
        func value(_ field: String) -> FieldValue? { record.visibleValue(of: field, policy: Self.policy)?.value }
        guard value(Field.active)?.boolValue == true else { return nil }
        guard let prefix = value(Field.gtinPrefix)?.stringValue, let days = value(Field.windowDays)?.integerValue,
            let receipt = value(Field.receiptRequired)?.boolValue
        else {
            throw ReturnsModelError(code: .invalidValue, message: "return policy '\(record.id)' is missing a field")
        }
        // Absent in policies set before fees existed: no fee.
        let fee: RestockingFee? =
            if let points = value(Field.restockingFeeBasisPoints)?.integerValue {
                .percent(basisPoints: Int(clamping: points))
            } else if let units = value(Field.restockingFeeFixed)?.integerValue {
                .fixed(minorUnits: units)
            } else { nil }
        // Absent in policies set before customer limits existed: none.
        func limit(_ countField: String, _ daysField: String) throws -> CustomerLimit? {
            guard let count = value(countField)?.integerValue, let days = value(daysField)?.integerValue else {
                return nil
            }
            return try CustomerLimit(count: Int(clamping: count), days: Int(clamping: days))
        }
        return try ReturnPolicy.validated(
            store: value(Field.storeID)?.stringValue.map(StoreID.init),
            gtinPrefix: prefix,
            windowDays: Int(days),
            receiptRequired: receipt,
            restockingFee: fee,
            receiptlessLimit: limit(Field.receiptlessLimitCount, Field.receiptlessLimitDays),
            customerVelocity: limit(Field.velocityUnits, Field.velocityDays)
        )
    }
}
