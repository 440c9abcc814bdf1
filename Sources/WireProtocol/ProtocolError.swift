import ReturnSyncJSON

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
        case forbiddenField = "forbidden-field"
        case forgedClock = "forged-clock"
        case conflictingWrite = "conflicting-write"
        case clockSkew = "clock-skew"
        case invalidRecord = "invalid-record"
        case limitExceeded = "limit-exceeded"
        case serverBusy = "server-busy"
        case rateLimited = "rate-limited"
        case internalError = "internal-error"
        case unknownAttachment = "unknown-attachment"
        case chunkOutOfOrder = "chunk-out-of-order"
        case digestMismatch = "digest-mismatch"
        case attachmentUnavailable = "attachment-unavailable"
        case mediaTypeMismatch = "media-type-mismatch"

        /// Whether the same request may succeed later: the server's own trouble, or a limit that will lift.
        /// A `clock-skew` lifts once the kiosk's (or the server's) clock is set right.
        public var isRetryable: Bool {
            switch self {
            case .internalError, .serverBusy, .rateLimited, .clockSkew, .chunkOutOfOrder, .digestMismatch,
                .attachmentUnavailable:
                return true
            default: return false
            }
        }

        /// Whether the error refuses one pushed record for what it is, so resending it can never succeed: a kiosk
        /// sets that record aside (the `recordId` of the error) and pushes the rest.
        public var refusesRecord: Bool {
            switch self {
            case .invalidRecord, .forbiddenStore, .forbiddenField, .forgedClock, .conflictingWrite, .limitExceeded:
                return true
            default: return false
            }
        }

        /// Whether the connection is closed after this error: the stream or the peer can no longer be trusted.
        public var closesConnection: Bool {
            switch self {
            case .invalidRecord, .forbiddenStore, .forbiddenField, .forgedClock, .conflictingWrite, .clockSkew,
                .limitExceeded, .unknownAttachment, .chunkOutOfOrder, .digestMismatch, .attachmentUnavailable,
                .mediaTypeMismatch:
                return false
            default: return true
            }
        }
    }

    public var code: Code
    public var message: String
    /// The pushed record a refusal is about (`recordId` on the wire), so the kiosk can set it aside.
    public var recordID: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, recordID: String? = nil) {
        self.code = code
        // Messages quote what a peer sent; written visibly, they cannot forge log lines or reach a terminal raw.
        self.message = message.escapingControlCharacters()
        self.recordID = recordID
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
