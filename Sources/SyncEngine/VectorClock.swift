/// How two vector clocks relate.
public enum ClockOrdering: Sendable, Hashable {
    /// Both clocks have seen exactly the same writes.
    case equal
    /// The left clock has seen a strict subset of the right clock's writes: it is older.
    case before
    /// The left clock has seen a strict superset of the right clock's writes: it is newer.
    case after
    /// Each clock has seen a write the other has not: the versions are concurrent.
    case concurrent
}

/// A vector clock: for each replica that wrote a record, how many of its writes have been seen.
///
/// Clocks only hold entries for replicas that actually wrote; a missing entry means zero. Comparing two clocks
/// tells whether one version causally follows the other or whether they are concurrent, which wall-clock time
/// can never tell reliably.
///
/// ```swift
/// var clock = VectorClock()
/// let dot = clock.increment(kiosk)      // kiosk:1
/// clock.compare(VectorClock())           // .after
/// ```
public struct VectorClock: Hashable, Sendable, CustomStringConvertible {
    /// The largest counter accepted: 2^53 - 1, so counters survive JSON parsers that read numbers as doubles.
    public static let maximumCounter: UInt64 = (1 << 53) - 1

    /// The entries, replica to counter; never holds a zero counter.
    public private(set) var counters: [ReplicaID: UInt64]

    /// Creates an empty clock: nothing seen.
    public init() {
        self.counters = [:]
    }

    /// Creates a clock from entries, validating each counter; zero entries are dropped.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/invalidDot`` naming a counter above ``maximumCounter``.
    public init(_ counters: [ReplicaID: UInt64]) throws {
        var zeros = false
        for (replica, counter) in counters {
            guard counter <= Self.maximumCounter else {
                throw SyncEngineError(
                    code: .invalidDot,
                    message:
                        "invalid counter \(counter) for replica '\(replica)': expected 0...\(Self.maximumCounter)"
                )
            }
            zeros = zeros || counter == 0
        }
        // Kept as given unless a zero must go: copying it entry by entry was a dictionary allocated and filled again
        // for every record decoded (issue 18).
        self.counters = zeros ? counters.filter { $0.value != 0 } : counters
    }

    /// The number of `replica`'s writes this clock has seen (zero when it has none).
    public subscript(replica: ReplicaID) -> UInt64 {
        // A record's clock names a kiosk or two and HQ: comparing that few names is several times cheaper than
        // hashing one (SipHash over the name), and every value a pushed record holds asks its clock once when the
        // record is checked (issue 18: ~1 % of a fleet's server CPU went to hashing these names).
        if counters.count <= Self.scannedEntries {
            for (entry, counter) in counters where entry == replica { return counter }
            return 0
        }
        return counters[replica] ?? 0
    }

    /// Up to how many entries a look-up compares names rather than hashing one (BENCHMARKS.md, twenty-sixth part:
    /// 4–18 ns against 28–42 ns for one to three entries).
    static let scannedEntries = 4

    /// Whether the clock has seen nothing.
    public var isEmpty: Bool { counters.isEmpty }

    /// The entries ordered by replica, for stable display and encoding.
    public var sortedEntries: [(replica: ReplicaID, counter: UInt64)] {
        counters.sorted { $0.key < $1.key }.map { (replica: $0.key, counter: $0.value) }
    }

    /// Records one more write by `replica` and returns that write's dot.
    ///
    /// - Precondition: the counter is below ``maximumCounter`` (that is 9·10^15 writes by one replica).
    @discardableResult
    public mutating func increment(_ replica: ReplicaID) -> Dot {
        let next = self[replica] + 1
        precondition(next <= Self.maximumCounter, "counter of replica '\(replica)' overflowed")
        counters[replica] = next
        return Dot(unchecked: replica, counter: next)
    }

    /// Whether this clock has seen the write identified by `dot`.
    public func covers(_ dot: Dot) -> Bool {
        self[dot.replica] >= dot.counter
    }

    /// Whether this clock has seen every write `other` has seen (it is equal or after).
    public func dominates(_ other: VectorClock) -> Bool {
        other.counters.allSatisfy { self[$0.key] >= $0.value }
    }

    /// How this clock relates to `other`.
    public func compare(_ other: VectorClock) -> ClockOrdering {
        switch (self.dominates(other), other.dominates(self)) {
        case (true, true): return .equal
        case (true, false): return .after
        case (false, true): return .before
        case (false, false): return .concurrent
        }
    }

    /// Takes the pointwise maximum with `other`: afterwards this clock has seen everything either had seen.
    public mutating func merge(_ other: VectorClock) {
        counters.merge(other.counters, uniquingKeysWith: max)
    }

    /// The pointwise maximum of this clock and `other`.
    public func merging(_ other: VectorClock) -> VectorClock {
        var copy = self
        copy.merge(other)
        return copy
    }

    public var description: String {
        "{" + sortedEntries.map { "\($0.replica):\($0.counter)" }.joined(separator: ", ") + "}"
    }
}

extension VectorClock: ExpressibleByDictionaryLiteral {
    /// Creates a clock from a literal; meant for tests and examples, so invalid input traps.
    public init(dictionaryLiteral elements: (ReplicaID, UInt64)...) {
        // A literal is written by a programmer: a bad counter is a bug, not input to report.
        try! self.init(Dictionary(elements, uniquingKeysWith: max))
    }
}

extension VectorClock: Codable {
    /// Clocks encode as a JSON object, replica id to counter: `{"kiosk-1": 3, "hq": 1}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode([String: UInt64].self)
        var counters: [ReplicaID: UInt64] = [:]
        counters.reserveCapacity(raw.count)
        do {
            for (key, counter) in raw {
                counters[try ReplicaID(key)] = counter
            }
            try self.init(counters)
        } catch let error as SyncEngineError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        var raw: [String: UInt64] = [:]
        raw.reserveCapacity(counters.count)
        for (replica, counter) in counters { raw[replica.rawValue] = counter }
        try container.encode(raw)
    }
}
