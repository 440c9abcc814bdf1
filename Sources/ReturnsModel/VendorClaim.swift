import Foundation

/// A return sent back to its vendor under a return merchandise authorisation (RMA): the number, and the shipment.
public struct VendorShipment: Hashable, Sendable {
    /// The vendor's RMA number.
    public var rma: String
    /// Who carries it, and the tracking id, once shipped.
    public var carrier: String?
    public var tracking: String?
    /// The day it was shipped, `YYYY-MM-DD`; `nil` while it waits for pick-up.
    public var shippedOn: String?

    /// Creates a shipment record, validating it.
    ///
    /// - Throws: ``ReturnsModelError`` naming a blank or over-long text or a bad day.
    public init(rma: String, carrier: String? = nil, tracking: String? = nil, shippedOn: String? = nil) throws {
        for (name, text) in [("RMA number", rma), ("carrier", carrier), ("tracking id", tracking)] {
            guard let text else { continue }
            guard !text.allSatisfy(\.isWhitespace), text.count <= 200 else {
                throw ReturnsModelError(code: .invalidValue, message: "invalid \(name) '\(text)': 1-200 characters")
            }
        }
        self.rma = rma
        self.carrier = carrier
        self.tracking = tracking
        self.shippedOn = try shippedOn.map(ReturnDates.validatedDay)
    }
}

/// The credit a vendor gave for a returned unit: what it is worth to the business.
public struct VendorCredit: Hashable, Sendable {
    public var amountMinor: Int64
    public var currency: Currency
    /// The day it was received, `YYYY-MM-DD`.
    public var receivedOn: String

    /// Creates a credit record, validating it.
    ///
    /// - Throws: ``ReturnsModelError`` naming an amount outside 0…``Money/maximumMinorUnits`` or a bad day.
    public init(amountMinor: Int64, currency: Currency, receivedOn: String) throws {
        guard (0...Money.maximumMinorUnits).contains(amountMinor) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid vendor credit \(amountMinor): expected 0...\(Money.maximumMinorUnits) minor units"
            )
        }
        self.amountMinor = amountMinor
        self.currency = currency
        self.receivedOn = try ReturnDates.validatedDay(receivedOn)
    }
}

extension ProductReturn {
    /// Records the RMA and shipment of a return routed to its vendor; each update writes the whole record.
    ///
    /// - Throws: ``ReturnsModelError`` when the return is closed or voided, or not routed to the vendor.
    @discardableResult
    public mutating func recordVendorShipment(
        _ shipment: VendorShipment,
        note: String? = nil,
        by author: String,
        at date: Date
    ) throws -> ReturnUpdate {
        try ReturnRules.requireEditable(self)
        try requireRoutedToVendor()
        let update = try ReturnUpdate(addedNotes: Self.validatedNotes(note), vendorShipment: shipment)
        try apply(update, by: author, at: date)
        return update
    }

    /// Records the credit the vendor gave. Allowed on a closed return too: credits arrive weeks after the unit left.
    ///
    /// - Throws: ``ReturnsModelError`` when the return is voided or not routed to the vendor.
    @discardableResult
    public mutating func recordVendorCredit(
        _ credit: VendorCredit,
        note: String? = nil,
        by author: String,
        at date: Date
    ) throws -> ReturnUpdate {
        try requireKnownValues()
        guard status != .voided else {
            throw ReturnsModelError(code: .returnVoided, message: "return \(id) is voided: no vendor credit is due")
        }
        try requireRoutedToVendor()
        let update = try ReturnUpdate(addedNotes: Self.validatedNotes(note), vendorCredit: credit)
        try apply(update, by: author, at: date)
        return update
    }

    private func requireRoutedToVendor() throws {
        guard disposition == .returnToVendor else {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) is routed to \(disposition.rawValue), not return-to-vendor: "
                    + "route it to the vendor first"
            )
        }
    }
}
