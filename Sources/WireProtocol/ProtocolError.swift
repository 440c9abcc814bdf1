/// An error on the wire: what an `error` frame carries.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Error codes, as spelled on the wire (Protocol/SPEC.md, "Errors").
    public enum Code: String, Hashable, Sendable, CaseIterable {
        case unsupportedVersion = "unsupported-version"
        case frameTooLarge = "frame-too-large"
        case malformedFrame = "malformed-frame"
        case unexpectedMessage = "unexpected-message"
        case authenticationFailed = "authentication-failed"
        case enrollmentRefused = "enrollment-refused"
        case forbiddenStore = "forbidden-store"
        case forgedClock = "forged-clock"
        case invalidRecord = "invalid-record"
        case limitExceeded = "limit-exceeded"
        case serverBusy = "server-busy"
        case rateLimited = "rate-limited"
        case internalError = "internal-error"

        /// Whether the same request may succeed later: the server's own trouble, or a limit that will lift.
        public var isRetryable: Bool { self == .internalError || self == .serverBusy || self == .rateLimited }

        /// Whether the connection is closed after this error: the stream or the peer can no longer be trusted.
        public var closesConnection: Bool {
            switch self {
            case .invalidRecord, .forbiddenStore, .forgedClock, .limitExceeded: return false
            default: return true
            }
        }
    }

    public var code: Code
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
