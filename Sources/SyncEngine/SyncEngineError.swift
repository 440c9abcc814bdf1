/// An error thrown by the sync engine.
///
/// Errors carry a ``Code`` that callers can switch on and a message that names the bad value, so it can be shown
/// to an operator as it is. New codes may be added without breaking callers.
public struct SyncEngineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidReplicaID
            case invalidDot
            case invalidTimestamp
            case emptyEdit
            case fieldKindMismatch
            case recordMismatch
            case invalidRecord
            case clockSkew
            case conflictingWrite
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A replica identifier is empty, too long, or holds characters outside the allowed set.
        public static let invalidReplicaID = Code(.invalidReplicaID)
        /// A dot has a counter of zero or above ``VectorClock/maximumCounter``.
        public static let invalidDot = Code(.invalidDot)
        /// A hybrid logical clock stamp is out of range.
        public static let invalidTimestamp = Code(.invalidTimestamp)
        /// An edit sets no field and adds no element: it would advance the clock for nothing.
        public static let emptyEdit = Code(.emptyEdit)
        /// A field is used as a register in one place and as a grow-only set in another.
        public static let fieldKindMismatch = Code(.fieldKindMismatch)
        /// Two versions of different records (entity type or id) were asked to merge.
        public static let recordMismatch = Code(.recordMismatch)
        /// A decoded record breaks an invariant, such as holding a value its own clock does not cover.
        public static let invalidRecord = Code(.invalidRecord)
        /// A received write is stamped further ahead of this replica's wall clock than
        /// ``HybridLogicalClock/maximumDrift``.
        public static let clockSkew = Code(.clockSkew)
        /// Two versions hold the same write (dot) with different contents: one of them is forged or corrupt, and
        /// merging them would leave replicas with equal clocks and different values.
        public static let conflictingWrite = Code(.conflictingWrite)

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
