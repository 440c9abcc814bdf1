import Foundation
import ReplicaStore
import ReturnsModel

/// An order line in `orders list --json`.
public struct OrderLineDocument: Encodable {
    var orderId: String
    var line: Int
    var storeId: String
    var gtin: String
    var serial: String?
    var quantity: Int
    public var unitPrice: String
    var soldAt: Date
    var currency: String?

    public init(_ line: OrderLine) {
        orderId = line.orderID.rawValue
        self.line = line.line
        storeId = line.storeID.rawValue
        gtin = line.gtin.digits
        serial = line.serial?.rawValue
        quantity = line.quantity
        unitPrice = Self.price(line.unitPriceCents, line.currency)
        soldAt = line.soldAt
        currency = line.currency?.code
    }

    /// Minor units as a decimal in the currency's places (two without a currency), as the orders file writes prices.
    public static func price(_ cents: Int64, _ currency: Currency?) -> String {
        if let currency { return currency.format(cents) }
        let fraction = String(cents % 100)
        return "\(cents / 100).\(fraction.count == 1 ? "0" + fraction : fraction)"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(orderId, forKey: .orderId)
        try container.encode(line, forKey: .line)
        try container.encode(storeId, forKey: .storeId)
        try container.encode(gtin, forKey: .gtin)
        try container.encode(serial, forKey: .serial)
        try container.encode(quantity, forKey: .quantity)
        try container.encode(unitPrice, forKey: .unitPrice)
        try container.encode(soldAt, forKey: .soldAt)
        try container.encode(currency, forKey: .currency)
    }

    enum CodingKeys: String, CodingKey {
        case orderId, line, storeId, gtin, serial, quantity, unitPrice, soldAt, currency
    }
}

/// An enrolled kiosk in `kiosks list --json` and the console's `/kiosks.json`: times ISO 8601, `null` where there is
/// none.
public struct KioskDocument: Encodable {
    var replicaId: String
    var storeId: String
    var kioskId: String
    var enrolledAt: Date
    var lastSyncAt: Date?
    var revokedAt: Date?
    var protocolVersion: Int?

    public init(_ kiosk: KioskEnrollment) {
        replicaId = kiosk.replicaID
        storeId = kiosk.storeID
        kioskId = kiosk.kioskID
        enrolledAt = kiosk.enrolledAt
        lastSyncAt = kiosk.lastSyncAt
        revokedAt = kiosk.revokedAt
        protocolVersion = kiosk.protocolVersion
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replicaId, forKey: .replicaId)
        try container.encode(storeId, forKey: .storeId)
        try container.encode(kioskId, forKey: .kioskId)
        try container.encode(enrolledAt, forKey: .enrolledAt)
        try container.encode(lastSyncAt, forKey: .lastSyncAt)
        try container.encode(revokedAt, forKey: .revokedAt)
        try container.encode(protocolVersion, forKey: .protocolVersion)
    }

    enum CodingKeys: String, CodingKey {
        case replicaId, storeId, kioskId, enrolledAt, lastSyncAt, revokedAt, protocolVersion
    }
}
