import Foundation
import ReturnsModel
import ReturnsSync
import SyncEngine

/// A ``PushTransaction`` over what a backend read first — the stored versions of a batch's records, the kiosks of
/// the store — that keeps the writes the rules accept for the backend to store after: for storage that cannot
/// answer synchronously inside the rules (PostgreSQL), in the same database transaction, its reads locked.
///
/// ```swift
/// var transaction = BufferedPushTransaction(serverID: hq, kiosksOfStore: kiosks, stored: versions, wallClock: now)
/// let result = try PushRules.accept(records, from: pusher, store: store, in: &transaction)
/// for write in transaction.writes { … }  // store write.record; feed entry tagged write.source
/// ```
public struct BufferedPushTransaction: PushTransaction {
    /// A version to store, in the order the rules accepted it.
    public struct Write: Sendable {
        /// The version to store (the merge's result).
        public var record: VersionedRecord
        /// The kiosk that pushed it, when what is stored is exactly what it pushed: its feed need not send it back.
        public var source: ReplicaID?
        /// Whether no version of the record was stored before.
        public var isNew: Bool
        /// The conflicts this merge detected, for the conflict audit.
        public var detected: [FieldConflict]
        /// The return the stored version shows, for the backend's projection.
        public var item: ProductReturn
        /// The step writes the stored version held and this one replaced, for HQ's event log (``SupersededStep``).
        public var superseded: [SupersededStep] = []
    }

    public let serverID: ReplicaID
    /// The ids the server had before restores from backups: their writes, held by kiosks, are the server's own.
    public let formerServerIDs: Set<String>
    /// The replica ids of the store's enrolled kiosks: their writes may be passed on by another kiosk of the store.
    public let kiosksOfStore: Set<String>
    /// The stored versions the backend read, by record id, updated as the batch merges.
    public private(set) var stored: [String: VersionedRecord]
    /// The server's wall clock, milliseconds: a pushed stamp may not run too far ahead of it.
    public let wallClock: UInt64
    /// What to store, by record id, in the order first written.
    public private(set) var writes: [Write] = []
    private var writeIndex: [String: Int] = [:]

    /// Creates a transaction over what the backend read.
    public init(
        serverID: ReplicaID,
        formerServerIDs: Set<String> = [],
        kiosksOfStore: Set<String>,
        stored: [String: VersionedRecord],
        wallClock: UInt64
    ) {
        self.serverID = serverID
        self.formerServerIDs = formerServerIDs
        self.kiosksOfStore = kiosksOfStore
        self.stored = stored
        self.wallClock = wallClock
    }

    public func isServer(_ replica: ReplicaID) -> Bool {
        replica == serverID || formerServerIDs.contains(replica.rawValue)
    }

    public mutating func mayPassOn(writesOf replica: ReplicaID, store: StoreID) throws -> Bool {
        // As on SQLite: a restored server may have lost enrollments made after its backup, so once it was restored
        // it takes any kiosk of the pusher's store at its word.
        let ofStore = replica.rawValue.hasPrefix("\(store.rawValue)/")
        return formerServerIDs.contains(replica.rawValue)
            || (ofStore && (kiosksOfStore.contains(replica.rawValue) || !formerServerIDs.isEmpty))
    }

    public mutating func storedReturn(_ id: String) throws -> VersionedRecord? { stored[id] }

    public mutating func merge(
        _ pushed: VersionedRecord,
        into current: VersionedRecord?,
        item: ProductReturn,
        source: ReplicaID
    ) throws -> MergeOutcome {
        // Only writes new here are checked: a stamp stored earlier must not fail every later merge of its record.
        if let newest = pushed.writes(notCoveredBy: current?.clock ?? VectorClock()).map(\.value.stamp).max() {
            do {
                try HybridLogicalClock.checkDrift(newest, wallClock: wallClock)
            } catch let error as SyncEngineError {
                throw SyncEngineError(code: error.code, message: "\(pushed.entityType) \(pushed.id): \(error.message)")
            }
        }
        guard var merged = current else {
            let conflicts = pushed.hasOpenConflicts ? pushed.openConflicts(policy: ReturnEntity.policy) : []
            record(Write(record: pushed, source: source, isNew: true, detected: conflicts, item: item))
            return MergeOutcome(changed: true, detectedConflicts: conflicts.map(\.field))
        }
        let before = merged
        let outcome = try merged.merge(pushed)
        guard outcome.changed else { return outcome }
        let detected = Set(outcome.detectedConflicts)
        record(
            Write(
                record: merged,
                // Equal clocks mean equal versions: the pusher already holds exactly what is stored.
                source: merged.clock == pushed.clock ? source : nil,
                isNew: false,
                detected: merged.openConflicts(policy: ReturnEntity.policy).filter { detected.contains($0.field) },
                // The pushed item when the kiosk sent exactly what is stored; else what the merge shows.
                item: merged.clock == pushed.clock ? item : try ProductReturn(record: merged),
                superseded: SupersededStep.between(before, merged)
            )
        )
        return outcome
    }

    /// Nothing here: re-verification reads other returns and order lines, which the backend reads after the rules,
    /// in the same transaction, from ``writes`` (the PostgreSQL store's `reverify`).
    public mutating func reverify(changed: [PreparedPush.Record]) throws {}

    private mutating func record(_ write: Write) {
        stored[write.record.id] = write.record
        if let index = writeIndex[write.record.id] {
            // A record twice in one batch: one write, of the last result, new if the first one was.
            let previous = writes[index]
            writes[index] = write
            writes[index].isNew = previous.isNew
            writes[index].detected = previous.detected + write.detected
            writes[index].superseded = previous.superseded + write.superseded
        } else {
            writeIndex[write.record.id] = writes.count
            writes.append(write)
        }
    }
}
