import Foundation
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync

/// The GS1 identifiers of a returned unit as GS1 Digital Link URIs, which need no company prefix length (an EPC URN
/// does, and a GTIN alone does not say it).
enum EPCISIdentifiers {
    static let resolver = "https://id.gs1.org"

    /// `epcList` with the unit's own id when it has a serial; otherwise a `quantityList` of its class (GTIN and lot,
    /// or the GTIN alone).
    static func product(of item: ProductReturn) -> [String: JSONValue] {
        let gtin = "\(resolver)/01/\(item.gtin.digits)"
        if let serial = item.serial {
            return ["epcList": .array([.string("\(gtin)/21/\(encoded(serial.rawValue))")])]
        }
        let epcClass = item.lot.map { "\(gtin)/10/\(encoded($0.rawValue))" } ?? gtin
        return [
            "quantityList": .array([
                .object(["epcClass": .string(epcClass), "quantity": .integer(Int64(item.quantity))])
            ])
        ]
    }

    /// An RMA number as a `bizTransaction` URI of this deployment.
    static func rma(_ number: String) -> String {
        "urn:returnsync:rma:\(encoded(number))"
    }

    /// A value percent-encoded as GS1 Digital Link requires: unreserved characters as they are, every other byte
    /// as `%XX`.
    static func encoded(_ value: String) -> String {
        var result = ""
        for byte in value.utf8 {
            let isUnreserved =
                (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            result += isUnreserved ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
        }
        return result
    }
}

/// Event times with the store's UTC offset, as EPCIS wants them.
enum EPCISTime {
    /// `2026-12-04T00:30:00.000+01:00`: the local time at the store, and its offset.
    static func format(milliseconds: Int64, in zone: StoreTimeZone) -> String {
        let seconds = zone.timeZone.secondsFromGMT(for: Date(millisecondsSince1970: milliseconds))
        let local = ISO8601Milliseconds.format(Date(millisecondsSince1970: milliseconds + Int64(seconds) * 1000))
        return String(local.dropLast()) + offset(seconds: seconds)
    }

    /// `+01:00`, the zone's offset at that instant.
    static func offset(at milliseconds: Int64, in zone: StoreTimeZone) -> String {
        offset(seconds: zone.timeZone.secondsFromGMT(for: Date(millisecondsSince1970: milliseconds)))
    }

    static func offset(seconds: Int) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let minutes = abs(seconds) / 60
        return sign + String(format: "%02d:%02d", minutes / 60, minutes % 60)
    }
}
