import Foundation
import ReturnsModel

/// Valid sample values for tests and benchmarks.
public enum SampleData {
    /// A valid GTIN-13 built from `number`: twelve digits of it and the right check digit.
    public static func gtin(_ number: Int) -> String {
        let digits12 = String(number % 1_000_000_000_000)
        let payload = String(repeating: "0", count: 12 - digits12.count) + digits12
        let digits = payload.map { Int(String($0))! }
        return payload + String(GTIN.checkDigit(of: digits))
    }

    /// `count` NDJSON lines of new returns for store-less import: order, GTIN, reason, quantity, serial.
    public static func importLines(count: Int, offset: Int = 0) -> Data {
        var text = ""
        text.reserveCapacity(count * 110)
        let reasons = ReturnReason.allCases
        for index in offset..<(offset + count) {
            text += #"{"orderId":"ORD-\#(index)","gtin":"\#(gtin(4_006_381_000 + index))","#
            text += #""reason":"\#(reasons[index % reasons.count].rawValue)","quantity":\#(index % 3 + 1),"#
            text += #""serial":"SN\#(index)"}"# + "\n"
        }
        return Data(text.utf8)
    }
}
