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

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
