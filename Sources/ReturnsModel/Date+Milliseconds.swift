import Foundation

extension Date {
    /// Whole milliseconds since 1970-01-01T00:00:00Z, the resolution of every time the returns model stores.
    ///
    /// Rounds to the nearest millisecond: a `Date` made from milliseconds can read back a hair below them in
    /// binary floating point, and truncating would lose one.
    ///
    /// Saturates at `Int64`'s bounds rather than trapping: stored times are range-checked where they are decoded
    /// (``ReturnDates/validatedInstant(_:field:)``), and a date beyond them must still not stop a process.
    public var millisecondsSince1970: Int64 {
        let milliseconds = (timeIntervalSince1970 * 1000).rounded()
        // 2^63 is exactly representable as a Double; Int64.max is not, and converting it traps.
        guard milliseconds < 9_223_372_036_854_775_808.0 else { return .max }
        guard milliseconds >= -9_223_372_036_854_775_808.0 else { return .min }
        return milliseconds.isNaN ? 0 : Int64(milliseconds)
    }

    /// The date `milliseconds` after 1970-01-01T00:00:00Z.
    public init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
