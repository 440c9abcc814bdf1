import Foundation
import ReturnsModel
import ReturnsSync
import SyncEngine
import WireProtocol

/// What a storage backend offers the push rules, inside the one write transaction a push runs in.
///
/// Storage answers questions and writes versions; it decides nothing. The SQLite store implements it today, and
/// the PostgreSQL store will: the rules in ``PushRules`` then hold for both unchanged.
public protocol PushTransaction {
    /// The server's replica id now.
    var serverID: ReplicaID { get }

    /// Whether `replica` is the server, under its current id or one it had before a restore.
    func isServer(_ replica: ReplicaID) -> Bool

    /// Whether a kiosk of `store` may pass on writes of `replica` the server has not seen: an enrolled kiosk of the
    /// store, the server under a former id, or — once the server was restored — any kiosk of the store.
    mutating func mayPassOn(writesOf replica: ReplicaID, store: StoreID) throws -> Bool

    /// The version of a return the server holds, or `nil`.
    mutating func storedReturn(_ id: String) throws -> VersionedRecord?

    /// Says which returns ``storedReturn(_:)`` will be asked for next, so that storage can read them at once
    /// instead of one query each. Nothing is decided by it.
    mutating func prefetch(_ ids: [String]) throws

    /// Merges a pushed version into the stored one (`nil`: a new return), tagged with the kiosk that pushed it.
    ///
    /// - Throws: ``SyncEngineError`` for `conflicting-write` and `clock-skew`; anything else is the storage's.
    mutating func merge(
        _ pushed: VersionedRecord,
        into stored: VersionedRecord?,
        item: ProductReturn,
        source: ReplicaID
    ) throws -> MergeOutcome

    /// Re-verifies the purchases of the returns a push changed (HQ's own edits follow from it): each of `changed`
    /// holds its ``PreparedPush/Record/product``.
    ///
    /// The records, not copies of their returns: a copy retained each of a return's texts on the writer, which
    /// had not touched them since they were read on another thread (issue 18, thirty-sixth part).
    mutating func reverify(changed: [PreparedPush.Record]) throws
}

/// A pushed batch with the checks that need nothing stored already made (``PushRules/prepare(_:)``).
public struct PreparedPush: Sendable {
    /// One pushed record and the return it holds, or why it cannot be stored.
    ///
    /// A class: the writer's loop over a push and the preparing of its writes pass each record on, and a struct's
    /// copy retained every string of the return one by one (issue 18, twenty-third part).
    public final class Record: Sendable {
        public let record: VersionedRecord
        /// The return the record holds, `nil` when it cannot be stored (``rejection`` says why).
        ///
        /// An optional rather than a `Result`: the writer reads it in place, where taking a `Result`'s value out
        /// copied the whole return (issue 18, thirty-sixth part).
        public let product: ProductReturn?
        /// Why the record cannot be stored, `nil` when it holds a return.
        public let rejection: PushRejection?
        /// The write rules that need nothing stored, worked out with the rest (`nil` where there is no return).
        @usableFromInline let precheck: ReturnWriteRules.Precheck?

        /// A record holding `product`. Taken, not copied: a `Result` carrying the return here copied it out, a
        /// retain of each of its texts and a release with the `Result` (issue 18, thirty-seventh part).
        init(record: VersionedRecord, product: ProductReturn) {
            precheck = ReturnWriteRules.precheck(record, item: product)
            self.record = record
            self.product = product
            rejection = nil
        }

        /// A record refused with `rejection`.
        init(record: VersionedRecord, rejection: PushRejection) {
            self.record = record
            product = nil
            self.rejection = rejection
            precheck = nil
        }

        /// What a record with neither a return nor a refusal would be refused with; the initialisers make none.
        @usableFromInline
        static func unexplained(_ record: VersionedRecord) -> PushRejection {
            PushRejection(reason: .invalidRecord, message: "record \(record.id) holds no return", recordID: record.id)
        }
    }

    /// The records, in the order they were pushed.
    public let records: [Record]
}

extension PushTransaction {
    /// Reads nothing ahead.
    public mutating func prefetch(_ ids: [String]) throws {}
}

/// Why the server refused a pushed batch: one kind per protocol error code a push can get.
public struct PushRejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of refusal; its wire spelling is the protocol error code it maps to (``ProtocolError/Code``).
    public enum Reason: Hashable, Sendable {
        case invalidRecord, forbiddenStore, forbiddenField, forgedClock, conflictingWrite, limitExceeded, clockSkew

        @usableFromInline
        init(_ rule: ReturnWriteRules.Violation.Reason) {
            switch rule {
            case .invalidRecord: self = .invalidRecord
            case .forbiddenStore: self = .forbiddenStore
            case .forbiddenField: self = .forbiddenField
            case .limitExceeded: self = .limitExceeded
            }
        }
    }

    public var reason: Reason
    /// What is wrong; it names the pushed record and field, and nothing about other stores.
    public var message: String
    /// The record at fault, so a kiosk can set it aside and push the rest.
    public var recordID: String?

    /// Creates a rejection.
    public init(reason: Reason, message: String, recordID: String? = nil) {
        self.reason = reason
        self.message = message
        self.recordID = recordID
    }

    public var description: String { message }
}

/// What the server did with a pushed batch.
public struct PushResult: Hashable, Sendable {
    /// Records that changed something on the server.
    public var merged: Int
    /// Records the server already knew.
    public var unchanged: Int
    /// Fields in which the merges detected conflicts.
    public var conflicts: [RecordConflict]

    /// Creates a result.
    public init(merged: Int = 0, unchanged: Int = 0, conflicts: [RecordConflict] = []) {
        self.merged = merged
        self.unchanged = unchanged
        self.conflicts = conflicts
    }
}

/// Who may push what (Protocol/SPEC.md §5.1), in one place, over any storage.
///
/// A batch is accepted whole or not at all: the first record at fault throws, and the caller's transaction rolls
/// back everything merged before it.
public enum PushRules {
    /// Checks every record of a batch pushed by kiosk `pusher` of store `store` and merges it.
    ///
    /// In order, for each record: a return (`invalid-record`), within the size limits (`limit-exceeded`), a valid
    /// return (`invalid-record`); the write rules of ``ReturnWriteRules`` against the stored version (store
    /// boundary, fixed and HQ-only fields, groups, every value); then its clock: a pusher may claim any number of
    /// its own writes, and writes by others beyond what the server holds only if ``PushTransaction/mayPassOn(writesOf:store:)``
    /// says so — never the server's own under its current id (`forged-clock`). The merge itself refuses a write
    /// held with other contents (`conflicting-write`) or stamped too far ahead (`clock-skew`).
    ///
    /// - Throws: ``PushRejection`` naming the first record at fault.
    public static func accept(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID,
        in transaction: inout some PushTransaction
    ) throws -> PushResult {
        try accept(prepare(records), from: pusher, store: store, in: &transaction)
    }

    /// The checks of a pushed batch that need nothing stored — what each record is, its size, the return it holds,
    /// the write rules that hold whatever is stored (``ReturnWriteRules/precheck(_:item:)``) — made before the
    /// transaction, so that a server can make them on another thread than its one writer.
    ///
    /// Nothing is refused here: a record at fault carries its refusal, which `accept` throws when it reaches the
    /// record, so the first record at fault is still the one named.
    public static func prepare(_ records: [VersionedRecord]) -> PreparedPush {
        PreparedPush(
            records: records.map { record in
                func reject(_ reason: PushRejection.Reason, _ message: String) -> PreparedPush.Record {
                    .init(
                        record: record,
                        rejection: PushRejection(reason: reason, message: message, recordID: record.id)
                    )
                }
                guard record.entityType == ReturnEntity.entityType else {
                    return reject(
                        .invalidRecord,
                        "record \(record.id) is a \(record.entityType); only returns are synced"
                    )
                }
                do {
                    try ReturnWriteRules.checkLimits(record)
                } catch let violation as ReturnWriteRules.Violation {
                    return reject(PushRejection.Reason(violation.reason), violation.message)
                } catch {
                    return reject(.invalidRecord, "record \(record.id): \(error)")
                }
                do {
                    return .init(record: record, product: try ProductReturn(record: record))
                } catch {
                    return reject(.invalidRecord, "record \(record.id): \(error)")
                }
            }
        )
    }

    /// Checks and merges a batch prepared by ``prepare(_:)``, as the other `accept` does.
    ///
    /// Inlinable, so that a backend's module specializes it for its transaction: called as a generic function from
    /// another module, it reached the transaction through its witness table and copied each record and return to
    /// pass them on (issue 18, thirty-sixth part).
    @inlinable
    public static func accept(
        _ prepared: PreparedPush,
        from pusher: ReplicaID,
        store: StoreID,
        in transaction: inout some PushTransaction
    ) throws -> PushResult {
        var result = PushResult()
        var changed: [PreparedPush.Record] = []
        var mayPassOn: [ReplicaID: Bool] = [:]
        try transaction.prefetch(prepared.records.compactMap { $0.product?.id.rawValue })
        for entry in prepared.records {
            if try accept(entry, from: pusher, store: store, mayPassOn: &mayPassOn, result: &result, in: &transaction) {
                changed.append(entry)
            }
        }
        // HQ re-verifies what changed, with every store's returns and all orders: the edits it makes travel back to
        // the stores with their next pull.
        try transaction.reverify(changed: changed)
        return result
    }

    /// Checks and merges one record of a prepared batch; returns whether the merge changed what is stored.
    ///
    /// A function of its own so that `entry` is an argument: the record and the return it holds are then read where
    /// the push holds them. Read from a loop's variable, each was copied for every call it was passed to — a retain
    /// of each of its parts, on the writer, which had not touched them since they were read on another thread (4.5 %
    /// of a sync's writer; issue 18, thirty-sixth part).
    @inlinable
    static func accept(
        _ entry: PreparedPush.Record,
        from pusher: ReplicaID,
        store: StoreID,
        mayPassOn: inout [ReplicaID: Bool],
        result: inout PushResult,
        in transaction: inout some PushTransaction
    ) throws -> Bool {
        func reject(_ reason: PushRejection.Reason, _ message: String) -> PushRejection {
            PushRejection(reason: reason, message: message, recordID: entry.record.id)
        }
        guard let item = entry.product else {
            throw entry.rejection ?? PreparedPush.Record.unexplained(entry.record)
        }
        let stored: VersionedRecord?
        do {
            stored = try transaction.storedReturn(item.id.rawValue)
            try ReturnWriteRules.check(
                entry.record,
                item: item,
                stored: stored,
                pusher: pusher,
                store: store,
                // A closure over the transaction itself: `transaction.isServer` would copy the whole
                // transaction into a box for every record (1 % of a SQLite server's writer, issue 18).
                isServer: { transaction.isServer($0) },
                precheck: entry.precheck
            )
        } catch let violation as ReturnWriteRules.Violation {
            throw reject(PushRejection.Reason(violation.reason), violation.message)
        }
        for (replica, counter) in entry.record.clock.counters where replica != pusher {
            guard counter > stored?.clock[replica] ?? 0 else { continue }
            if replica != transaction.serverID {
                let allowed = try mayPassOn[replica] ?? transaction.mayPassOn(writesOf: replica, store: store)
                mayPassOn[replica] = allowed
                if allowed { continue }
            }
            // Says nothing of how far the server has seen the replica, nor whether it is another store's.
            throw reject(
                .forgedClock,
                "return \(entry.record.id) claims write \(replica):\(counter), which kiosk \(pusher) cannot hold: "
                    + "the server did not send it, and \(replica) is not a kiosk of store '\(store)'"
            )
        }
        let merge: MergeOutcome
        do {
            merge = try transaction.merge(entry.record, into: stored, item: item, source: pusher)
        } catch let error as SyncEngineError where error.code == .conflictingWrite {
            throw reject(.conflictingWrite, error.message)
        } catch let error as SyncEngineError where error.code == .clockSkew {
            throw reject(.clockSkew, error.message + "; check the kiosk's clock")
        }
        if merge.changed {
            result.merged += 1
        } else {
            result.unchanged += 1
        }
        result.conflicts += merge.detectedConflicts.map { RecordConflict(recordID: entry.record.id, field: $0) }
        return merge.changed
    }
}

extension ProtocolError.Code {
    /// The protocol error a push refusal is answered with.
    public init(_ reason: PushRejection.Reason) {
        switch reason {
        case .invalidRecord: self = .invalidRecord
        case .forbiddenStore: self = .forbiddenStore
        case .forbiddenField: self = .forbiddenField
        case .forgedClock: self = .forgedClock
        case .conflictingWrite: self = .conflictingWrite
        case .limitExceeded: self = .limitExceeded
        case .clockSkew: self = .clockSkew
        }
    }
}
