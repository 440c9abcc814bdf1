import Foundation

/// One line of a sales order, as HQ imports it from the point-of-sale system.
public struct OrderLine: Hashable, Sendable {
    /// The largest quantity one order line may hold.
    public static let maximumQuantity = 1_000_000

    public let orderID: OrderID
    /// The store that sold it.
    public let storeID: StoreID
    /// The line number within the order, from 1.
    public let line: Int
    public let gtin: GTIN
    /// The serial of the unit sold, for serialised products.
    public let serial: ItemCode?
    public let quantity: Int
    /// The price of one unit, in minor units (cents, for most currencies) of ``currency``.
    public let unitPriceCents: Int64
    public let soldAt: Date
    /// The currency it was sold in; `nil` for lines imported before currencies were recorded.
    public let currency: Currency?

    /// Creates an order line, validating it.
    ///
    /// - Throws: ``ReturnsModelError`` naming the bad value: a line number below 1, a quantity outside
    ///   1...``maximumQuantity``, a negative price.
    public init(
        orderID: OrderID,
        storeID: StoreID,
        line: Int,
        gtin: GTIN,
        serial: ItemCode? = nil,
        quantity: Int,
        unitPriceCents: Int64,
        soldAt: Date,
        currency: Currency? = nil
    ) throws {
        guard line >= 1 else {
            throw ReturnsModelError(code: .invalidValue, message: "invalid line number \(line): expected 1 or more")
        }
        guard (1...Self.maximumQuantity).contains(quantity) else {
            throw ReturnsModelError(
                code: .invalidQuantity,
                message: "invalid quantity \(quantity): expected 1...\(Self.maximumQuantity)"
            )
        }
        guard unitPriceCents >= 0 else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid unit price \(unitPriceCents) cents: expected 0 or more"
            )
        }
        self.orderID = orderID
        self.storeID = storeID
        self.line = line
        self.gtin = gtin
        self.serial = serial
        self.quantity = quantity
        self.unitPriceCents = unitPriceCents
        self.soldAt = soldAt
        self.currency = currency
    }

    /// The id of the replicated record holding this line: order id and line number.
    public var recordID: String { "\(orderID.rawValue)/\(line)" }
}

/// What checking a return against the orders found.
public enum PurchaseVerification: String, ReturnVocabulary {
    /// The product is on the order, within the return window, and not returned more often than sold.
    case verified
    /// The order is known but does not hold the product (or that serial); at HQ: no such order either.
    case notFound = "not-found"
    /// The product was sold longer ago than the return window allows.
    case outsideWindow = "outside-window"
    /// More units of the product were returned against the order than it sold.
    case quantityExceeded = "quantity-exceeded"
    /// The orders at hand cannot decide: a kiosk does not know the order (it may be newer than its last sync, or
    /// sold at another store). HQ decides after sync.
    case unverified

    public static let vocabularyName = "verification"
}

/// A reason a return needs a person at HQ to look at it: it breaks the return policy or looks like fraud.
public enum ReturnException: String, ReturnVocabulary, Comparable {
    case notFound = "not-found"
    case outsideWindow = "outside-window"
    case quantityExceeded = "quantity-exceeded"
    /// The policy requires a receipt and the customer had none.
    case noReceipt = "no-receipt"
    /// Another (earlier, not voided) return has the same GTIN and serial, at any store.
    case duplicateSerial = "duplicate-serial"
    /// The customer had more receipt-less returns within the policy's period than its limit allows.
    case receiptlessLimit = "receiptless-limit"
    /// The customer returned more units within the policy's period than its velocity threshold.
    case customerVelocity = "customer-velocity"

    public static let vocabularyName = "exception"

    public static func < (lhs: ReturnException, rhs: ReturnException) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// HQ's decision on a return that broke the policy.
public struct ReviewDecision: Hashable, Sendable {
    /// Approved (the return stands) or rejected (it should not have been taken back).
    public enum Outcome: String, ReturnVocabulary {
        case approved
        case rejected

        public static let vocabularyName = "review decision"
    }

    public var outcome: Outcome
    /// Why; required for a rejection.
    public var note: String?
    /// The exceptions the reviewer saw: a new exception later puts the return back in the queue.
    public var exceptions: [ReturnException]

    /// Creates a decision.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidNote`` when a rejection has no note, or the note is
    ///   blank or too long.
    public init(outcome: Outcome, note: String?, exceptions: [ReturnException]) throws {
        if let note { try ReturnNote.validate(note) }
        guard outcome == .approved || note != nil else {
            throw ReturnsModelError(code: .invalidNote, message: "a rejection needs a note saying why")
        }
        self.outcome = outcome
        self.note = note
        self.exceptions = exceptions.sorted()
    }
}

/// A return policy: how long after the sale a product can come back, and whether a receipt is required.
///
/// Policies are set at HQ per store (or for every store) and per GTIN prefix (or for every product), and every
/// kiosk applies them offline. The most specific policy wins: the longest matching GTIN prefix first, then a
/// store's own policy over the all-stores one.
public struct ReturnPolicy: Hashable, Sendable {
    /// The policy when HQ has set none: 30 days, no receipt required.
    public static let `default` = ReturnPolicy(store: nil, gtinPrefix: "", windowDays: 30, receiptRequired: false)

    /// The store it applies to; `nil`: every store.
    public let store: StoreID?
    /// The GTIN-14 prefix it applies to; empty: every product.
    public let gtinPrefix: String
    /// Days after the sale a return is accepted.
    public let windowDays: Int
    public let receiptRequired: Bool
    /// The restocking fee a refund keeps, unless the reason waives it (``RestockingFee/waivedFor``); `nil`: none.
    public let restockingFee: RestockingFee?
    /// At most this many receipt-less returns per customer within the period; `nil`: no limit.
    public let receiptlessLimit: CustomerLimit?
    /// More units than this per customer within the period go to review; `nil`: no threshold.
    public let customerVelocity: CustomerLimit?

    private init(
        store: StoreID?,
        gtinPrefix: String,
        windowDays: Int,
        receiptRequired: Bool,
        restockingFee: RestockingFee? = nil,
        receiptlessLimit: CustomerLimit? = nil,
        customerVelocity: CustomerLimit? = nil
    ) {
        self.store = store
        self.gtinPrefix = gtinPrefix
        self.windowDays = windowDays
        self.receiptRequired = receiptRequired
        self.restockingFee = restockingFee
        self.receiptlessLimit = receiptlessLimit
        self.customerVelocity = customerVelocity
    }

    /// Whether the policy limits what one customer returns, so a return's verification depends on the customer's
    /// other returns.
    public var limitsCustomers: Bool { receiptlessLimit != nil || customerVelocity != nil }

    /// Creates a policy, validating it.
    ///
    /// - Parameter gtinPrefix: 0…14 digits, compared with the GTIN in its 14-digit form (a GTIN-13 `400638…` is
    ///   `0400638…`).
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming a bad prefix or window.
    public static func validated(
        store: StoreID?,
        gtinPrefix: String,
        windowDays: Int,
        receiptRequired: Bool,
        restockingFee: RestockingFee? = nil,
        receiptlessLimit: CustomerLimit? = nil,
        customerVelocity: CustomerLimit? = nil
    ) throws -> ReturnPolicy {
        guard gtinPrefix.utf8.count <= 14, gtinPrefix.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid GTIN prefix '\(gtinPrefix)': expected up to 14 digits of the GTIN-14"
            )
        }
        guard (0...3650).contains(windowDays) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid return window \(windowDays) days: expected 0...3650"
            )
        }
        let feeIsValid: Bool
        switch restockingFee {
        case .percent(let basisPoints)?: feeIsValid = (0...10_000).contains(basisPoints)
        case .fixed(let units)?: feeIsValid = (0...Money.maximumMinorUnits).contains(units)
        case nil: feeIsValid = true
        }
        guard feeIsValid else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid restocking fee \(restockingFee.map(String.init(describing:)) ?? ""): expected 0-100% "
                    + "or a fixed amount"
            )
        }
        return ReturnPolicy(
            store: store,
            gtinPrefix: gtinPrefix,
            windowDays: windowDays,
            receiptRequired: receiptRequired,
            restockingFee: restockingFee,
            receiptlessLimit: receiptlessLimit,
            customerVelocity: customerVelocity
        )
    }

    /// The id of the replicated record holding this policy: one per store (or `*`) and prefix (or `*`).
    public var recordID: String { "\(store?.rawValue ?? "*")/\(gtinPrefix.isEmpty ? "*" : gtinPrefix)" }

    /// Whether this policy covers `gtin` sold back at `store`.
    public func applies(to gtin: GTIN, at store: StoreID) -> Bool {
        (self.store == nil || self.store == store) && gtin.digits.hasPrefix(gtinPrefix)
    }

    /// How specific the policy is, for choosing among those that apply.
    fileprivate var specificity: (Int, Int) { (gtinPrefix.utf8.count, store == nil ? 0 : 1) }
}

extension Array where Element == ReturnPolicy {
    /// The policy that governs a return of `gtin` at `store`: the most specific that applies, else the default.
    public func governing(_ gtin: GTIN, at store: StoreID) -> ReturnPolicy {
        filter { $0.applies(to: gtin, at: store) }.max { $0.specificity < $1.specificity } ?? .default
    }
}

/// Checks a return against the orders and the policy. Pure functions: a kiosk and HQ give the same answer from the
/// same facts; HQ simply has more of them.
public enum PurchaseCheck {
    /// Verifies a return of `quantity` units of `gtin` (and `serial`) at `returnedAt`.
    ///
    /// - Parameters:
    ///   - lines: the lines of the order the return names; `nil` when the order is not known here.
    ///   - unitsReturnedBefore: units of `gtin` already returned against this order by earlier returns that are
    ///     not voided.
    ///   - orderIsAuthoritative: whether an unknown order means there is none (HQ, which holds every imported
    ///     order) or only that it is not known here (a kiosk).
    ///   - timeZone: the returning store's: the window runs to the end of the `windowDays`-th local day after the
    ///     day of the sale (a 30-day window of a sale on the 1st ends as the 31st does).
    /// - Returns: the first failing check, in the order not-found, outside-window, quantity-exceeded.
    public static func verify(
        gtin: GTIN,
        serial: ItemCode?,
        quantity: Int,
        returnedAt: Date,
        lines: [OrderLine]?,
        unitsReturnedBefore: Int,
        windowDays: Int,
        orderIsAuthoritative: Bool,
        timeZone: StoreTimeZone = .utc
    ) -> PurchaseVerification {
        guard let lines, !lines.isEmpty else { return orderIsAuthoritative ? .notFound : .unverified }
        var matching = lines.filter { $0.gtin == gtin }
        // A serialised line sold one particular unit: a return naming another serial is not that unit.
        if let serial { matching = matching.filter { $0.serial == nil || $0.serial == serial } }
        guard !matching.isEmpty else { return .notFound }
        let lastSale = matching.map(\.soldAt).max()!.millisecondsSince1970
        let lastDay = timeZone.day(of: lastSale) + windowDays
        guard timeZone.day(of: returnedAt.millisecondsSince1970) <= lastDay else { return .outsideWindow }
        let sold = lines.filter { $0.gtin == gtin }.map(\.quantity).reduce(0, +)
        guard unitsReturnedBefore + quantity <= sold else { return .quantityExceeded }
        return .verified
    }

    /// The exceptions of a return: what its verification and the policy say, a duplicate serial, and the
    /// customer's limits.
    ///
    /// A certain recall match waives the purchase and customer checks: every recalled unit must come back, bought
    /// here or not, however many a customer brings.
    ///
    /// - Parameters:
    ///   - quantity: the units of this return.
    ///   - customer: the customer's earlier returns within the policy's periods; `nil` when the return names no
    ///     customer.
    public static func exceptions(
        verification: PurchaseVerification,
        receipt: Bool,
        policy: ReturnPolicy,
        isRecall: Bool,
        duplicateSerial: Bool,
        quantity: Int = 1,
        customer: CustomerActivity? = nil
    ) -> [ReturnException] {
        var found: [ReturnException] = []
        if !isRecall {
            switch verification {
            case .notFound: found.append(.notFound)
            case .outsideWindow: found.append(.outsideWindow)
            case .quantityExceeded: found.append(.quantityExceeded)
            case .verified, .unverified: break
            }
            if policy.receiptRequired && !receipt { found.append(.noReceipt) }
            if let customer {
                if let limit = policy.receiptlessLimit, !receipt, customer.receiptlessReturns + 1 > limit.count {
                    found.append(.receiptlessLimit)
                }
                if let threshold = policy.customerVelocity, customer.units + quantity > threshold.count {
                    found.append(.customerVelocity)
                }
            }
        }
        if duplicateSerial { found.append(.duplicateSerial) }
        return found.sorted()
    }
}

/// A per-customer limit of a return policy: a count within a period of days.
///
/// The period is rolling: the `days` × 24 hours up to the return's capture, so it reads the same in every time zone
/// and at every hour of the day.
public struct CustomerLimit: Hashable, Sendable, CustomStringConvertible {
    /// The largest count a limit may name.
    public static let maximumCount = 1_000_000
    /// The longest period, in days.
    public static let maximumDays = 3650

    /// How many returns (the receipt-less limit) or units (velocity) the period allows.
    public let count: Int
    /// The period, in days of 24 hours.
    public let days: Int

    /// Creates a limit, validating it.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming a count or period out of range.
    public init(count: Int, days: Int) throws {
        guard (0...Self.maximumCount).contains(count), (1...Self.maximumDays).contains(days) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid customer limit \(count)/\(days): expected 0...\(Self.maximumCount) per "
                    + "1...\(Self.maximumDays) days"
            )
        }
        self.count = count
        self.days = days
    }

    /// Parses `COUNT/DAYS`, as `policy set` takes it: `3/30` is three within 30 days.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the text.
    public static func parse(_ text: String) throws -> CustomerLimit {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let dayText = parts.count == 2 && parts[1].hasSuffix("d") ? parts[1].dropLast() : parts.last ?? ""
        guard parts.count == 2, parts[0].allSatisfy(\.isASCII), dayText.allSatisfy(\.isASCII),
            let count = Int(parts[0]), let days = Int(dayText)
        else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid customer limit '\(text)': expected COUNT/DAYS, such as 3/30"
            )
        }
        return try CustomerLimit(count: count, days: days)
    }

    /// `COUNT/DAYS`, as ``parse(_:)`` reads it.
    public var description: String { "\(count)/\(days)" }

    /// The first instant (milliseconds since 1970) of the period ending at `capturedAt`, excluded: a return
    /// captured exactly `days` days earlier no longer counts.
    public func periodStart(endingAt capturedAt: Int64) -> Int64 {
        capturedAt - Int64(days) * 86_400_000
    }
}

/// What a customer returned before a return, within the periods of the policy that governs it: the inputs of the
/// customer checks. Voided returns and certain recall matches do not count.
public struct CustomerActivity: Hashable, Sendable {
    /// Earlier receipt-less returns within the receipt-less limit's period.
    public var receiptlessReturns: Int
    /// Units of earlier returns within the velocity threshold's period.
    public var units: Int

    /// Activity; none by default.
    public init(receiptlessReturns: Int = 0, units: Int = 0) {
        self.receiptlessReturns = receiptlessReturns
        self.units = units
    }
}
