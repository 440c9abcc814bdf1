import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What a kiosk did with the server's clock at the start of a sync (``ReplicaStore/adoptServerClock(_:measuredAt:)``).
public struct ClockAdjustment: Hashable, Sendable {
    /// How far the server's clock is from this kiosk's, in milliseconds (positive: the kiosk's is behind), as
    /// measured now.
    public var measured: Int64
    /// The correction in force from now on: `measured` when it is at least ``ReplicaStore/clockCorrectionThreshold``
    /// either way, 0 otherwise.
    public var correction: Int64
    /// The correction in force before.
    public var previous: Int64
    /// Records whose writes made here were stamped too far ahead for the server and were stamped again.
    public var restamped: [String]

    /// Creates an account of an adjustment.
    public init(measured: Int64, correction: Int64, previous: Int64, restamped: [String]) {
        self.measured = measured
        self.correction = correction
        self.previous = previous
        self.restamped = restamped
    }
}

extension ReplicaStore {
    /// How far a kiosk's wall clock may be from the server's before the kiosk corrects its own by it: a minute. NTP
    /// keeps clocks within milliseconds, and the measure's error is the `welcome`'s trip; a minute is far above
    /// both and well inside the five minutes of ``HybridLogicalClock/maximumDrift``.
    public static let clockCorrectionThreshold: Int64 = 60_000

    /// This machine's wall clock (the configuration's), before any correction: what a sync measures the server's
    /// clock against.
    public func uncorrectedWallClock() -> Date { now() }

    /// `wall` corrected by `offset` milliseconds, within what a stamp can hold.
    static func corrected(_ wall: Date, by offset: Int64) -> Date {
        guard offset != 0 else { return wall }
        let milliseconds = wall.millisecondsSince1970.addingReportingOverflow(offset)
        let clamped = milliseconds.overflow ? Int64.max : milliseconds.partialValue
        return Date(millisecondsSince1970: min(max(0, clamped), Int64(HLCTimestamp.maximumPhysical)))
    }

    /// Takes the server's clock, as its `welcome` told it (`serverTime`, milliseconds since the Unix epoch), read
    /// when this kiosk's own clock said `measuredAt`.
    ///
    /// A kiosk whose clock is wrong by hours or days must still sync (a dead clock battery, a wrong setting): the
    /// server refuses writes stamped more than ``HybridLogicalClock/maximumDrift`` ahead of its clock, and the
    /// kiosk refuses pulled writes that far ahead of its own. So:
    /// - the difference, when it is at least ``clockCorrectionThreshold``, becomes the kiosk's correction: every
    ///   stamp and every time it writes from now on (a capture's time included) is read from its clock corrected
    ///   by it, and pulled writes are judged against the corrected clock — until the next sync measures again;
    /// - writes made here that the server cannot hold — stamped beyond its clock plus the drift bound, which it
    ///   refuses — are stamped again, in place, with their time moved by the correction (and never beyond the
    ///   server's clock); a return's capture time moves with the stamp of the write that captured it. Nobody else
    ///   holds those writes, so no replica ever sees one write with two stamps. Their values, dots and clocks stay:
    ///   nothing is lost, and the server takes the next push;
    /// - the hybrid logical clock, if it ran ahead, is set back to the corrected clock.
    ///
    /// A server's time outside the years 1970–9999 is ignored (`nil`).
    public func adoptServerClock(_ serverTime: Int64, measuredAt: Date) throws -> ClockAdjustment? {
        // Most syncs change nothing: a read says so without taking the writer.
        switch try read({ db in try checkServerClock(serverTime, measuredAt: measuredAt, in: db) }) {
        case .ignored: return nil
        case .unchanged(let adjustment): return adjustment
        case .changes: break
        }
        let measured = serverTime - measuredAt.millisecondsSince1970
        let correction = abs(measured) >= Self.clockCorrectionThreshold ? measured : 0
        let bound = UInt64(serverTime) + HybridLogicalClock.maximumDrift
        return try write { context in
            let previous = try Int64.fetchOne(context.db, sql: "SELECT clock_offset_ms FROM replica") ?? 0
            try context.db.execute(sql: "UPDATE replica SET clock_offset_ms = ?", arguments: [correction])
            var adjustment = ClockAdjustment(
                measured: measured,
                correction: correction,
                previous: previous,
                restamped: []
            )
            guard context.hlc.latest.physical > bound else { return adjustment }
            // Only writes stamped beyond the bound can need it, and the hybrid logical clock is at or beyond every
            // stamp written here: it was beyond the bound, so look at what the server has not acknowledged.
            let pushed = try Self.pushedSeq(context.db)
            // Page by page, up to the last change as it stands: a season offline holds tens of thousands, and a
            // record stamped again is saved as a newer change, which this reading must not meet again.
            let last = try Int64.fetchOne(context.db, sql: "SELECT max(change_seq) FROM records") ?? 0
            let replica = context.replicaID
            var after = pushed
            while after < last {
                let rows = try Row.fetchAll(
                    context.db,
                    sql: """
                        SELECT change_seq, record FROM records WHERE change_seq > ? AND change_seq <= ?
                        ORDER BY change_seq LIMIT 500
                        """,
                    arguments: [after, last]
                )
                guard let end: Int64 = rows.last?["change_seq"] else { break }
                after = end
                for row in rows {
                    let record = try Self.decodeRecord(row["record"])
                    guard
                        let rewritten = Self.restamped(
                            record,
                            by: replica,
                            bound: bound,
                            shift: correction,
                            ceiling: serverTime
                        )
                    else { continue }
                    try context.save(rewritten, origin: .local, operation: "restamp")
                    adjustment.restamped.append(record.id)
                }
            }
            // Back to the server's time, which the corrected clock reads now: stamps decide only between concurrent
            // values; the vector clocks, which decide what is newer, are untouched.
            context.hlc = HybridLogicalClock(latest: HLCTimestamp(uncheckedPhysicalClamped: serverTime, logical: 0))
            return adjustment
        }
    }

    /// What ``adoptServerClock(_:measuredAt:)`` would do with the server's clock, as `db` tells: nothing to take
    /// (not a kiosk, or a time outside the years 1970–9999), nothing to write (nearly every sync), or a change.
    enum ServerClockCheck {
        case ignored
        case unchanged(ClockAdjustment)
        case changes
    }

    /// Checks the server's clock against the correction and the hybrid logical clock `db` holds; reads only.
    func checkServerClock(_ serverTime: Int64, measuredAt: Date, in db: Database) throws -> ServerClockCheck {
        guard identity.role == .kiosk, ReturnDates.millisecondsRange.contains(serverTime) else { return .ignored }
        let measured = serverTime - measuredAt.millisecondsSince1970
        let correction = abs(measured) >= Self.clockCorrectionThreshold ? measured : 0
        let bound = UInt64(serverTime) + HybridLogicalClock.maximumDrift
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT clock_offset_ms, hlc_physical FROM replica"))
        let previous: Int64 = row?["clock_offset_ms"] ?? 0
        let latest: Int64 = row?["hlc_physical"] ?? 0
        guard previous == correction && latest <= Int64(bound) else { return .changes }
        return .unchanged(
            ClockAdjustment(measured: measured, correction: correction, previous: previous, restamped: [])
        )
    }

    /// `record` with `replica`'s writes stamped beyond `bound` stamped again: moved by `shift` milliseconds, at most
    /// to `ceiling`; a return's `createdAt` written by such a write moves with its stamp. `nil` when no write needs it.
    static func restamped(
        _ record: VersionedRecord,
        by replica: ReplicaID,
        bound: UInt64,
        shift: Int64,
        ceiling: Int64
    ) -> VersionedRecord? {
        func needs(_ value: DottedValue) -> Bool { value.dot.replica == replica && value.stamp.physical > bound }
        let writes =
            record.registers.values.joined().contains(where: needs)
            || record.sets.values.joined().contains(where: needs)
            || record.conflictHistory.contains { needs($0.resolution) || $0.replaced.contains(where: needs) }
        guard writes else { return nil }
        func newPhysical(_ stamp: HLCTimestamp) -> UInt64 {
            let moved = Int64(stamp.physical).addingReportingOverflow(shift)
            return UInt64(max(0, min(moved.overflow ? ceiling : moved.partialValue, ceiling)))
        }
        return record.rewritingWrites(of: replica) { field, value in
            guard value.stamp.physical > bound,
                let stamp = try? HLCTimestamp(physical: newPhysical(value.stamp), logical: value.stamp.logical)
            else { return value }
            var written = value.value
            // The capture's time was read from the same wrong clock as its stamp, at the same moment.
            if record.entityType == ReturnEntity.entityType, field == ReturnEntity.Field.createdAt,
                let created = value.value.integerValue
            {
                let moved = created + (Int64(stamp.physical) - Int64(value.stamp.physical))
                if ReturnDates.millisecondsRange.contains(moved) { written = .integer(moved) }
            }
            return DottedValue(value: written, dot: value.dot, stamp: stamp)
        }
    }
}
