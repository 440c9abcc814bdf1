/// An error raised by the returns model: bad input, or an operation the return's lifecycle does not allow.
///
/// The message names the bad value and what is allowed, so it can be shown to store staff or an operator as it is.
/// New codes may be added without breaking callers.
public struct ReturnsModelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidGTIN
            case invalidIdentifier
            case invalidValue
            case invalidQuantity
            case invalidNote
            case invalidTransition
            case returnClosed
            case returnVoided
            case dispositionNotAllowed
            case newerValue
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A GTIN has the wrong length, a non-digit, or a wrong check digit.
        public static let invalidGTIN = Code(.invalidGTIN)
        /// An id (return, store, kiosk, order), serial or lot is malformed.
        public static let invalidIdentifier = Code(.invalidIdentifier)
        /// A value is not one of an enumeration's spellings.
        public static let invalidValue = Code(.invalidValue)
        /// A quantity is outside 1...``ProductReturn/maximumQuantity``.
        public static let invalidQuantity = Code(.invalidQuantity)
        /// A note is empty or too long.
        public static let invalidNote = Code(.invalidNote)
        /// The operation does not fit the return's status (closing a return that has no disposition, say).
        public static let invalidTransition = Code(.invalidTransition)
        /// The return is closed: it can no longer be edited.
        public static let returnClosed = Code(.returnClosed)
        /// The return is voided: it can no longer be edited.
        public static let returnVoided = Code(.returnVoided)
        /// The disposition is not allowed for the item's condition, test result or reason.
        public static let dispositionNotAllowed = Code(.dispositionNotAllowed)
        /// The return holds a value of a newer release (``ProductReturn/newerValues``): it is read-only here.
        public static let newerValue = Code(.newerValue)

        public var description: String { String(describing: wrapped) }
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, naming the offending value and what is allowed.
    public var message: String

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
