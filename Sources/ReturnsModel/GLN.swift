/// A GS1 Global Location Number: 13 digits, the last a check digit (the GTIN-13 algorithm). A store's GLN names it
/// in the supply chain: EPCIS events place a return there.
public struct GLN: Hashable, Sendable, CustomStringConvertible {
    /// The 13 digits.
    public let digits: String

    /// A GLN from its 13 digits.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the text: not 13 digits, or a wrong
    ///   check digit.
    public init(_ text: String) throws {
        let values = text.utf8.map { Int($0) - 0x30 }
        guard values.count == 13, values.allSatisfy({ (0...9).contains($0) }) else {
            throw ReturnsModelError(code: .invalidValue, message: "invalid GLN '\(text)': expected 13 digits")
        }
        guard GTIN.checkDigit(of: values.dropLast()) == values.last else {
            throw ReturnsModelError(code: .invalidValue, message: "invalid GLN '\(text)': wrong check digit")
        }
        digits = text
    }

    public var description: String { digits }
}
