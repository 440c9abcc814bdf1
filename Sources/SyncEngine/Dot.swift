/// The identity of one write: the replica that made it and that replica's counter at the time.
///
/// Every edit at a replica increments the replica's entry in the record's ``VectorClock`` once; the new
/// `(replica, counter)` pair is the edit's dot, and every value the edit writes is tagged with it. A clock *covers*
/// a dot when its entry for the dot's replica is at least the dot's counter: the holder of that clock has seen the
/// write.
public struct Dot: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The replica that made the write.
    public let replica: ReplicaID
    /// The replica's counter for this write, from 1 up to ``VectorClock/maximumCounter``.
    public let counter: UInt64

    /// Creates a dot.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/invalidDot`` when `counter` is 0 or above the maximum.
    public init(replica: ReplicaID, counter: UInt64) throws {
        guard counter >= 1, counter <= VectorClock.maximumCounter else {
            throw SyncEngineError(
                code: .invalidDot,
                message:
                    "invalid counter \(counter) for replica '\(replica)': expected 1...\(VectorClock.maximumCounter)"
            )
        }
        self.replica = replica
        self.counter = counter
    }

    // Used where the counter is known to be in range (it came from a valid clock).
    init(unchecked replica: ReplicaID, counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    /// Dots order by replica, then counter; this is the deterministic order of values inside a field.
    public static func < (lhs: Dot, rhs: Dot) -> Bool {
        if lhs.replica != rhs.replica { return lhs.replica < rhs.replica }
        return lhs.counter < rhs.counter
    }

    public var description: String { "\(replica):\(counter)" }
}

extension Dot: Codable {
    private enum CodingKeys: String, CodingKey {
        case replica
        case counter
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let replica = try container.decode(ReplicaID.self, forKey: .replica)
        let counter = try container.decode(UInt64.self, forKey: .counter)
        do {
            try self.init(replica: replica, counter: counter)
        } catch let error as SyncEngineError {
            throw DecodingError.dataCorruptedError(forKey: .counter, in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replica, forKey: .replica)
        try container.encode(counter, forKey: .counter)
    }
}
