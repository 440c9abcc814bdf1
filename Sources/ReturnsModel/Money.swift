/// An ISO 4217 currency: three upper-case letters, and how many digits its minor unit has.
///
/// Amounts are whole numbers of minor units (cents for EUR, yen for JPY, fils for KWD) — never floating point.
public struct Currency: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The code, such as `EUR`.
    public let code: String

    /// ISO 4217 currencies whose minor unit is not a hundredth: the rest have two decimals.
    static let minorDigitsByCode: [String: Int] = [
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
        "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3,
        "LYD": 3, "OMR": 3, "TND": 3,
    ]

    /// Reads a code, in either case.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the text.
    public init(_ text: String) throws {
        // Letters of ASCII only: upper-casing other text can turn it into three (`ßx` → `SSX`).
        let upper = text.uppercased()
        guard text.utf8.count == 3, text.utf8.allSatisfy({ $0 < 0x80 }),
            upper.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") })
        else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid currency '\(text)': expected an ISO 4217 code of three letters, such as EUR"
            )
        }
        code = upper
    }

    /// Digits after the decimal point: 2 for most currencies.
    public var minorDigits: Int { Self.minorDigitsByCode[code] ?? 2 }

    public var description: String { code }

    public static func < (lhs: Currency, rhs: Currency) -> Bool { lhs.code < rhs.code }

    /// `minorUnits` as a decimal amount, `1999` → `19.99` (EUR), `1999` → `1999` (JPY).
    public func format(_ minorUnits: Int64) -> String {
        guard minorDigits > 0 else { return String(minorUnits) }
        let scale = Int64(pow10(minorDigits))
        let (whole, fraction) = minorUnits.magnitude.quotientAndRemainder(dividingBy: UInt64(scale))
        let digits = String(fraction)
        return (minorUnits < 0 ? "-" : "") + "\(whole)."
            + String(repeating: "0", count: minorDigits - digits.count) + digits
    }

    /// A decimal amount typed by a person, in this currency's minor units: `19.99` → `1999`; at most
    /// ``minorDigits`` decimals, never negative, at most ``Money/maximumMinorUnits``.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the text.
    public func minorUnits(of text: String) throws -> Int64 {
        func invalid() -> ReturnsModelError {
            ReturnsModelError(
                code: .invalidValue,
                message: "invalid amount '\(text)': expected a number with at most \(minorDigits) decimals for "
                    + "\(code), such as \(format(19 * Int64(pow10(minorDigits)))), not negative"
            )
        }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.utf8.count <= 13,
            whole.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { throw invalid() }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.utf8.count <= minorDigits, fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            parts.count == 1 || !fraction.isEmpty
        else { throw invalid() }
        fraction += String(repeating: "0", count: minorDigits - fraction.utf8.count)
        guard let units = Int64(String(whole) + fraction), units <= Money.maximumMinorUnits else { throw invalid() }
        return units
    }

    private func pow10(_ digits: Int) -> Int { (0..<digits).reduce(1) { value, _ in value * 10 } }
}

/// Limits on amounts.
public enum Money {
    /// The largest amount, in minor units, a refund or fee may be: ten trillion, far above any return, well inside
    /// the 2^53 integers JSON carries exactly.
    public static let maximumMinorUnits: Int64 = 10_000_000_000_000
}

/// How a refund is paid.
public enum RefundMethod: String, ReturnVocabulary {
    /// Back to the card or account the customer paid with.
    case originalPayment = "original-payment"
    /// As credit to spend in the store.
    case storeCredit = "store-credit"
    /// Another unit instead of money: the replacement's GTIN is recorded.
    case exchange
    /// Nothing paid back (a recall swap done elsewhere, a return refused at the desk).
    case none

    public static let vocabularyName = "refund method"
}

/// A restocking fee a return policy charges: a share of the value returned, or a fixed amount.
public enum RestockingFee: Hashable, Sendable, CustomStringConvertible {
    /// Hundredths of a percent of the value: `1500` is 15 %.
    case percent(basisPoints: Int)
    /// A fixed amount in minor units of the refund's currency, at most the value.
    case fixed(minorUnits: Int64)

    /// The reasons for which no fee is charged: the customer is not at fault.
    public static let waivedFor: Set<ReturnReason> = [.defective, .recall, .wrongItem]

    /// Reads `15%`, `2.5%` or a fixed amount such as `4.50` (minor digits of the currency the fee is charged in
    /// are checked when it is charged; two decimals at most here).
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the text.
    public static func parse(_ text: String) throws -> RestockingFee {
        func invalid() -> ReturnsModelError {
            ReturnsModelError(
                code: .invalidValue,
                message: "invalid restocking fee '\(text)': expected a percentage such as 15% (0-100, two decimals "
                    + "at most) or a fixed amount such as 4.50"
            )
        }
        if text.hasSuffix("%") {
            let number = String(text.dropLast())
            guard let basisPoints = try? Currency("EUR").minorUnits(of: number), basisPoints <= 10_000 else {
                throw invalid()
            }
            return .percent(basisPoints: Int(basisPoints))
        }
        guard let units = try? Currency("EUR").minorUnits(of: text) else { throw invalid() }
        return .fixed(minorUnits: units)
    }

    /// The fee on `value` minor units: a percentage rounded half up to the minor unit, a fixed fee never more than
    /// the value.
    public func fee(on value: Int64) -> Int64 {
        switch self {
        case .percent(let basisPoints): return (value * Int64(basisPoints) + 5_000) / 10_000
        case .fixed(let units): return min(units, value)
        }
    }

    /// `15%`, `2.5%` or `4.50` (the fixed amount as two decimals).
    public var description: String {
        switch self {
        case .percent(let basisPoints):
            let text = Currency.twoDecimals(Int64(basisPoints))
            return
                (text.hasSuffix(".00")
                ? String(text.dropLast(3)) : text.hasSuffix("0") ? String(text.dropLast()) : text)
                + "%"
        case .fixed(let units): return Currency.twoDecimals(units)
        }
    }
}

extension Currency {
    /// `units` with two decimals: percentages, fixed fees, and amounts whose currency is unknown (order lines
    /// imported before currencies).
    public static func twoDecimals(_ units: Int64) -> String {
        (try! Currency("EUR")).format(units)
    }
}

/// What a return refunds: decided once, at the kiosk or at HQ.
public struct Refund: Hashable, Sendable {
    /// What the customer gets back, in minor units of ``currency``.
    public let amountMinor: Int64
    /// The restocking fee kept, in minor units of ``currency``.
    public let feeMinor: Int64
    public let currency: Currency
    public let method: RefundMethod
    /// The replacement's GTIN, for an exchange.
    public let exchangeGTIN: GTIN?
    /// Why the amount differs from what the order line and the policy give; `nil` when it does not.
    public let reason: String?
    /// The replica (kiosk or HQ) that decided it; `nil` until it is recorded on a return. Two places refunding one
    /// return concurrently always differ here, so the merge sees a conflict even when the amounts agree.
    public internal(set) var decidedBy: String?

    /// Creates a refund, validating it.
    ///
    /// - Throws: ``ReturnsModelError`` naming the bad value: an amount or fee outside 0…``Money/maximumMinorUnits``,
    ///   an exchange without a replacement GTIN (or a GTIN without an exchange), a method `none` refunding money, a
    ///   blank or over-long reason.
    public init(
        amountMinor: Int64,
        feeMinor: Int64,
        currency: Currency,
        method: RefundMethod,
        exchangeGTIN: GTIN? = nil,
        reason: String? = nil,
        decidedBy: String? = nil
    ) throws {
        for (name, value) in [("amount", amountMinor), ("fee", feeMinor)]
        where !(0...Money.maximumMinorUnits).contains(value) {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid refund \(name) \(value): expected 0...\(Money.maximumMinorUnits) minor units"
            )
        }
        guard (method == .exchange) == (exchangeGTIN != nil) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: method == .exchange
                    ? "an exchange needs the replacement's GTIN (--exchange GTIN)"
                    : "a replacement GTIN is for an exchange, not a refund by \(method.rawValue)"
            )
        }
        guard method != .none || amountMinor == 0 else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "a refund by 'none' pays nothing back: amount \(currency.format(amountMinor)) given"
            )
        }
        if let reason { try ReturnNote.validate(reason) }
        self.amountMinor = amountMinor
        self.feeMinor = feeMinor
        self.currency = currency
        self.method = method
        self.exchangeGTIN = exchangeGTIN
        self.reason = reason
        self.decidedBy = decidedBy
    }

    /// `33.98 EUR by original-payment, restocking fee 6.00 kept`: what was paid back and how, an exchange's
    /// replacement, the fee — as the refund commands and `show` print it.
    public var summary: String {
        "\(currency.format(amountMinor)) \(currency) by \(method.rawValue)"
            + (exchangeGTIN.map { " for \($0.digits)" } ?? "")
            + (feeMinor > 0 ? ", restocking fee \(currency.format(feeMinor)) kept" : "")
    }

    /// The refund a return gets by default: its value (the order line's unit price × quantity), less the
    /// restocking fee of the governing policy unless the reason waives it; an exchange or `none` pays nothing back
    /// and charges no fee.
    ///
    /// - Parameters:
    ///   - unitPriceMinor: the order line's unit price, in minor units of `currency`.
    ///   - override: an amount typed instead, with the reason it differs (required).
    public static func decide(
        for item: ProductReturn,
        unitPriceMinor: Int64?,
        currency: Currency,
        fee policyFee: RestockingFee?,
        method: RefundMethod,
        exchangeGTIN: GTIN?,
        override: (amountMinor: Int64, reason: String)?
    ) throws -> Refund {
        let paysBack = method == .originalPayment || method == .storeCredit
        var value: Int64?
        if let unitPriceMinor {
            let (product, overflow) = unitPriceMinor.multipliedReportingOverflow(by: Int64(item.quantity))
            guard !overflow, product <= Money.maximumMinorUnits else {
                throw ReturnsModelError(
                    code: .invalidValue,
                    message: "return \(item.id) is worth more than \(Money.maximumMinorUnits) minor units "
                        + "(unit price \(unitPriceMinor) × \(item.quantity)): give the amount (--amount X --reason TEXT)"
                )
            }
            value = product
        }
        let waived = RestockingFee.waivedFor.contains(item.reason) || item.recallMatch == .certain
        let fee = paysBack && !waived ? (value.flatMap { policyFee?.fee(on: $0) } ?? 0) : 0
        if let override {
            return try Refund(
                amountMinor: override.amountMinor,
                feeMinor: fee,
                currency: currency,
                method: method,
                exchangeGTIN: exchangeGTIN,
                reason: override.reason
            )
        }
        guard paysBack else {
            return try Refund(
                amountMinor: 0,
                feeMinor: 0,
                currency: currency,
                method: method,
                exchangeGTIN: exchangeGTIN
            )
        }
        guard let value else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "return \(item.id) has no known order line price for \(item.gtin) on order \(item.orderID): "
                    + "give the amount (--amount X --reason TEXT)"
            )
        }
        return try Refund(
            amountMinor: value - fee,
            feeMinor: fee,
            currency: currency,
            method: method,
            exchangeGTIN: exchangeGTIN
        )
    }
}
