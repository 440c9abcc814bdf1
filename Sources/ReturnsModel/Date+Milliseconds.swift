import Foundation

extension Date {
    /// Whole milliseconds since 1970-01-01T00:00:00Z, the resolution of every time the returns model stores.
    ///
    /// Rounds to the nearest millisecond: a `Date` made from milliseconds can read back a hair below them in
    /// binary floating point, and truncating would lose one.
    public var millisecondsSince1970: Int64 {
        Int64((timeIntervalSince1970 * 1000).rounded())
    }

    /// The date `milliseconds` after 1970-01-01T00:00:00Z.
    public init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
