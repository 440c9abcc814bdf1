/// A hybrid logical clock stamp: wall-clock milliseconds plus a logical counter.
///
/// Stamps order first by their physical part, then by their logical part. A replica's
/// ``HybridLogicalClock`` never hands out the same stamp twice and never goes backwards, even when the wall clock
/// does, so stamps make a sound default for choosing which of several *concurrent* values to show. They never
/// decide causality: that is the vector clock's job.
public struct HLCTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z, as the writing replica's wall clock read them (or later).
    public let physical: UInt64
    /// Orders stamps that share a physical part.
    public let logical: UInt32

    /// The largest physical part accepted: 2^53 - 1, so stamps survive JSON parsers that read numbers as doubles.
    public static let maximumPhysical: UInt64 = (1 << 53) - 1

    /// The stamp before every other.
    public static let zero = HLCTimestamp(uncheckedPhysical: 0, logical: 0)

    /// Creates a stamp.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/invalidTimestamp`` when `physical` is out of range.
    public init(physical: UInt64, logical: UInt32 = 0) throws {
        guard physical <= Self.maximumPhysical else {
            throw SyncEngineError(
                code: .invalidTimestamp,
                message: "invalid timestamp \(physical): expected 0...\(Self.maximumPhysical) milliseconds"
            )
        }
        self.physical = physical
        self.logical = logical
    }

    init(uncheckedPhysical physical: UInt64, logical: UInt32) {
        self.physical = physical
        self.logical = logical
    }

    /// The smallest stamp greater than this one.
    public var successor: HLCTimestamp {
        logical == .max
            ? HLCTimestamp(uncheckedPhysical: physical + 1, logical: 0)
            : HLCTimestamp(uncheckedPhysical: physical, logical: logical + 1)
    }

    public static func < (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool {
        (lhs.physical, lhs.logical) < (rhs.physical, rhs.logical)
    }

    public var description: String { "\(physical).\(logical)" }
}

extension HLCTimestamp: Codable {
    /// Stamps encode as a two-element JSON array `[physical, logical]`.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let physical = try container.decode(UInt64.self)
        let logical = try container.decode(UInt32.self)
        guard container.isAtEnd else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "a timestamp is exactly [physical, logical]"
            )
        }
        do {
            try self.init(physical: physical, logical: logical)
        } catch let error as SyncEngineError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(physical)
        try container.encode(logical)
    }
}

/// A replica's hybrid logical clock (Kulkarni et al., 2014).
///
/// The clock follows the wall clock while it moves forward and falls back to counting when the wall clock stands
/// still or jumps back; after witnessing a stamp from another replica it never issues a smaller one. The wall
/// clock is read by the caller and passed in, so the clock is deterministic under test.
///
/// ```swift
/// var hlc = HybridLogicalClock()
/// let stamp = hlc.tick(wallClock: nowInMilliseconds)
/// ```
public struct HybridLogicalClock: Hashable, Sendable {
    /// The latest stamp issued or witnessed.
    public private(set) var latest: HLCTimestamp

    /// Creates a clock that has issued nothing yet, or resumes one from its last persisted stamp.
    public init(latest: HLCTimestamp = .zero) {
        self.latest = latest
    }

    /// How far ahead of a replica's wall clock a stamp it receives may be: 5 minutes, in milliseconds.
    ///
    /// This is the HLC's bound on clock drift (ε in Kulkarni et al.): a replica refuses data stamped further ahead
    /// than this (``checkDrift(_:wallClock:)``), so one replica with a wrong clock — or a forged stamp — cannot
    /// drag every other replica's clock towards the end of time. Five minutes is the skew Kerberos tolerates, and
    /// far more than NTP-synchronised machines drift.
    public static let maximumDrift: UInt64 = 5 * 60 * 1000

    /// Issues a new stamp, greater than every stamp issued or witnessed before.
    ///
    /// - Parameter wallClock: the current wall-clock time in milliseconds since the Unix epoch.
    /// - Throws: ``SyncEngineError/Code-swift.struct/invalidTimestamp`` when the clock has reached the largest
    ///   stamp (only a clock poisoned before stamps were bounded can): no stamp ever exceeds the maximum.
    public mutating func tick(wallClock: UInt64) throws -> HLCTimestamp {
        let physical = min(wallClock, HLCTimestamp.maximumPhysical)
        if physical > latest.physical {
            latest = HLCTimestamp(uncheckedPhysical: physical, logical: 0)
        } else {
            let next = latest.successor
            guard next.physical <= HLCTimestamp.maximumPhysical else {
                throw SyncEngineError(
                    code: .invalidTimestamp,
                    message: "the hybrid logical clock is at its largest stamp \(latest); no later one can be issued"
                )
            }
            latest = next
        }
        return latest
    }

    /// Checks that `stamp`, received from another replica, is at most ``maximumDrift`` ahead of `wallClock`.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/clockSkew`` saying how far ahead the stamp is.
    public static func checkDrift(_ stamp: HLCTimestamp, wallClock: UInt64) throws {
        guard stamp.physical > wallClock, stamp.physical - wallClock > maximumDrift else { return }
        let ahead = stamp.physical - wallClock
        let minutes = ahead / 60_000
        throw SyncEngineError(
            code: .clockSkew,
            message: "a write is stamped \(minutes > 0 ? "\(minutes) min" : "\(ahead / 1000) s") ahead of this "
                + "replica's clock (at most \(maximumDrift / 60_000) min are accepted): one of the two clocks is wrong"
        )
    }

    /// Takes note of a stamp seen in data from another replica, so later stamps from this clock exceed it.
    public mutating func witness(_ stamp: HLCTimestamp) {
        latest = max(latest, stamp)
    }
}
