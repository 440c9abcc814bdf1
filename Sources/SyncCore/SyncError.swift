import WireProtocol

/// Why a sync failed. Local data is untouched by a failed sync beyond what the server had acknowledged.
public struct SyncError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    /// The server's error, when it refused.
    public var serverError: ProtocolError?
    /// The error underneath, kept whole (a socket's, TLS's, the store's) for logs and callers that look closer;
    /// ``message`` is the sentence for a person. Not part of equality.
    public var cause: (any Error & Sendable)?

    public init(_ message: String, serverError: ProtocolError? = nil, cause: (any Error & Sendable)? = nil) {
        self.message = message
        self.serverError = serverError
        self.cause = cause
    }

    public var description: String { message }

    public static func == (lhs: SyncError, rhs: SyncError) -> Bool {
        lhs.message == rhs.message && lhs.serverError == rhs.serverError
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(message)
        hasher.combine(serverError)
    }
}

extension SyncError {
    /// The server refused: its error, as the kiosk's operator reads it, kept whole in ``serverError``.
    public static func refused(by error: ProtocolError) -> SyncError {
        SyncError("the server refused: \(error.message) (\(error.code.rawValue))", serverError: error)
    }
}
