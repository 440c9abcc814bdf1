/// An error raised by the replica store. The message names the offending path, id or line.
public struct ReplicaStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case databaseMissing
            case alreadyInitialized
            case notInitialized
            case notFound
            case wrongStore
            case importRejected
            case storage
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// No database exists at the given path.
        public static let databaseMissing = Code(.databaseMissing)
        /// `init` was asked to initialise a database that already has a replica identity.
        public static let alreadyInitialized = Code(.alreadyInitialized)
        /// The file exists but holds no replica identity.
        public static let notInitialized = Code(.notInitialized)
        /// No record with the given id.
        public static let notFound = Code(.notFound)
        /// The record belongs to another store than this kiosk's.
        public static let wrongStore = Code(.wrongStore)
        /// An import file has a bad line; nothing was stored.
        public static let importRejected = Code(.importRejected)
        /// SQLite refused: locked, full, read-only, corrupt.
        public static let storage = Code(.storage)

        public var description: String { String(describing: wrapped) }
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, naming the offending value.
    public var message: String

    /// The error underneath (SQLite's, for ``Code-swift.struct/storage``), kept whole for logs and callers that look
    /// closer; ``message`` is the sentence for a person. Not part of equality.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    public static func == (lhs: ReplicaStoreError, rhs: ReplicaStoreError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}
