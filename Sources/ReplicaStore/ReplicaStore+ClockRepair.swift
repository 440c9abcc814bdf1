import Foundation
import GRDB
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What a replica's hybrid logical clock and its data look like next to its wall clock.
public struct ClockState: Hashable, Sendable {
    /// The latest stamp the replica issued or witnessed.
    public var latest: HLCTimestamp
    /// The wall clock, in milliseconds since the Unix epoch, corrected by ``correction``.
    public var wallClock: UInt64
    /// How far this kiosk's wall clock was from the server's at the last sync that measured it, in milliseconds
    /// (positive: behind), when a minute or more; 0 otherwise (``ReplicaStore/adoptServerClock(_:measuredAt:)``).
    public var correction: Int64 = 0
    /// Records holding a value stamped more than ``HybridLogicalClock/maximumDrift`` ahead of the wall clock, or
    /// a creation time outside ``ReturnDates/millisecondsRange``: what a stamp accepted before stamps were bounded
    /// left behind.
    public var futureRecords: [String]

    /// Creates a state.
    public init(latest: HLCTimestamp, wallClock: UInt64, futureRecords: [String]) {
        self.latest = latest
        self.wallClock = wallClock
        self.futureRecords = futureRecords
    }

    /// Whether the clock runs more than the drift bound ahead of the wall clock.
    public var isAhead: Bool { latest.physical > wallClock + HybridLogicalClock.maximumDrift }
}

/// What ``ReplicaStore/repairClock(supersede:)`` did.
public struct ClockRepair: Hashable, Sendable {
    /// The clock before and after.
    public var before: HLCTimestamp
    public var after: HLCTimestamp
    /// Records whose future-stamped values were written again with a sound stamp.
    public var rewritten: [String]
    /// Records that keep a future-stamped note (grow-only: it cannot be removed, only outdated).
    public var keptNotes: [String]

    /// Creates a repair's account.
    public init(before: HLCTimestamp, after: HLCTimestamp, rewritten: [String], keptNotes: [String]) {
        self.before = before
        self.after = after
        self.rewritten = rewritten
        self.keptNotes = keptNotes
    }
}

extension ReplicaStore {
    /// The replica's clock next to its wall clock, and the records that carry stamps from the future.
    public func clockState() throws -> ClockState {
        try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT hlc_physical, hlc_logical, clock_offset_ms FROM replica")
            let latest = HLCTimestamp(
                uncheckedPhysicalClamped: row?["hlc_physical"] ?? Int64(0),
                logical: row?["hlc_logical"] ?? Int64(0)
            )
            let correction: Int64 = row?["clock_offset_ms"] ?? 0
            let wall = UInt64(max(0, Self.corrected(now(), by: correction).millisecondsSince1970))
            var future: [String] = []
            let records = try Row.fetchAll(db, sql: "SELECT record FROM records ORDER BY entity_type, id")
            for row in records {
                let record = try Self.decodeRecord(row["record"])
                if Self.isFromTheFuture(record, wallClock: wall) { future.append(record.id) }
            }
            var state = ClockState(latest: latest, wallClock: wall, futureRecords: future)
            state.correction = correction
            return state
        }
    }

    /// Sets the replica's hybrid logical clock back to the wall clock, the way out after a stamp from the future
    /// got in before stamps were bounded (Protocol/SPEC.md §6). With `supersede` (the server), every register
    /// holding a value stamped beyond the drift bound is written again — same value, a sound stamp — so the
    /// future stamp leaves the record and kiosks stop receiving it; a return's creation time outside the year
    /// 1970–9999 range is replaced by the time in its id (or its earliest sound stamp).
    ///
    /// Stamps decide only which of several concurrent values shows; the vector clocks, which decide what is
    /// newer, are untouched, so nothing is lost.
    public func repairClock(supersede: Bool) throws -> ClockRepair {
        try write { context in
            let before = context.hlc.latest
            let wall = UInt64(max(0, context.wallClock.millisecondsSince1970))
            context.hlc = HybridLogicalClock(latest: HLCTimestamp(uncheckedPhysicalClamped: Int64(wall), logical: 0))
            var repair = ClockRepair(before: before, after: context.hlc.latest, rewritten: [], keptNotes: [])
            guard supersede else { return repair }
            let rows = try Row.fetchAll(context.db, sql: "SELECT record FROM records ORDER BY change_seq")
            for row in rows {
                var record = try Self.decodeRecord(row["record"])
                guard Self.isFromTheFuture(record, wallClock: wall) else { continue }
                let (edit, keepsNote) = Self.clockRepairEdit(for: record, wallClock: wall)
                if keepsNote { repair.keptNotes.append(record.id) }
                guard !edit.isEmpty else { continue }
                try record.apply(edit, by: context.replicaID, stamp: try context.stamp())
                try context.save(record, origin: .local, operation: "clock-repair")
                repair.rewritten.append(record.id)
            }
            repair.after = context.hlc.latest
            return repair
        }
    }

    /// The edit that repairs a record from the future (``isFromTheFuture(_:wallClock:)``): every register holding a
    /// value stamped beyond the drift bound written again with the value it shows, a creation time outside the
    /// years 1970–9999 replaced by the time in the return's id (or its earliest sound stamp). Every backend repairs
    /// with this.
    ///
    /// - Returns: the edit (empty when nothing can be rewritten), and whether the record keeps a future-stamped
    ///   note (grow-only: it cannot be removed, only outdated).
    public static func clockRepairEdit(
        for record: VersionedRecord,
        wallClock wall: UInt64
    ) -> (edit: RecordEdit, keepsFutureNote: Bool) {
        let bound = wall + HybridLogicalClock.maximumDrift
        let policy = Self.policy(for: record.entityType)
        var edit = RecordEdit()
        for (field, values) in record.registers where values.contains(where: { $0.stamp.physical > bound }) {
            if let shown = record.visibleValue(of: field, policy: policy) { edit.set(field, to: shown.value) }
        }
        if record.entityType == ReturnEntity.entityType,
            let created = record.visibleValue(of: ReturnEntity.Field.createdAt, policy: policy)?.value.integerValue,
            !ReturnDates.millisecondsRange.contains(created)
        {
            let sound = record.registers.values.joined().map(\.stamp.physical).filter { $0 <= bound }.min()
            let fromID = (try? ReturnID(record.id))?.timestamp?.millisecondsSince1970
            let replacement =
                fromID.flatMap { ReturnDates.millisecondsRange.contains($0) ? $0 : nil }
                ?? sound.map { Int64($0) } ?? Int64(wall)
            edit.set(ReturnEntity.Field.createdAt, to: .integer(replacement))
        }
        return (edit, record.sets.values.joined().contains(where: { $0.stamp.physical > bound }))
    }

    /// Whether a record holds a value stamped beyond the drift bound, or a return's creation time outside the years
    /// 1970–9999.
    public static func isFromTheFuture(_ record: VersionedRecord, wallClock: UInt64) -> Bool {
        let bound = wallClock + HybridLogicalClock.maximumDrift
        if record.latestStamp.map({ $0.physical > bound }) ?? false { return true }
        guard record.entityType == ReturnEntity.entityType,
            let created = record.visibleValue(of: ReturnEntity.Field.createdAt, policy: ReturnEntity.policy)?.value
                .integerValue
        else { return false }
        return !ReturnDates.millisecondsRange.contains(created)
    }

    static func policy(for entityType: String) -> EntityPolicy {
        switch entityType {
        case ReturnEntity.entityType: return ReturnEntity.policy
        case RecallEntity.entityType: return RecallEntity.policy
        case OrderEntity.entityType: return OrderEntity.policy
        case StoreEntity.entityType: return StoreEntity.policy
        default: return PolicyEntity.policy
        }
    }
}

extension HLCTimestamp {
    /// A stamp from stored numbers, clamped into range: reading a damaged clock must not fail the repair of it.
    public init(uncheckedPhysicalClamped physical: Int64, logical: Int64) {
        let clampedPhysical = min(UInt64(max(0, physical)), HLCTimestamp.maximumPhysical)
        self = (try? HLCTimestamp(physical: clampedPhysical, logical: UInt32(clamping: logical))) ?? .zero
    }
}
