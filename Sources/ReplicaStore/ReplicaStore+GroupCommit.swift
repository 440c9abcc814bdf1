import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine

/// A kiosk's pushed batch made ready for the server's writer on another thread: the push rules' checks that need
/// nothing stored (``PushRules/prepare(_:)``) and, for each return, the texts and the projection it is stored with
/// if the server does not hold it yet — nearly every record of a large push.
///
/// The writer is the one thread a SQLite server cannot multiply; everything done here is work it does not do.
public struct PreparedServerPush: Sendable {
    /// The kiosk that pushed the batch.
    public let pusher: ReplicaID
    /// The kiosk's store.
    public let store: StoreID
    let rules: PreparedPush
    /// How many records the kiosk pushed.
    public var count: Int { rules.records.count }
    /// The write of each record holding a return, in the batch's order — the order in which the push rules read the
    /// returns ahead and ask for them (``PushTransaction/prefetch(_:)``): `nil` where it could not be prepared, and
    /// for an id the batch named before. The writer finds a record's write by its position, not by hashing its id
    /// (issue 18, thirty-eighth part).
    let writes: [PreparedWrite?]
    /// The positions in ``writes`` of ids the batch named before, in order; nearly always none. A return named again
    /// is merged into what its first merge stored.
    let repeated: [Int]

    /// Prepares the batch `records` pushed by kiosk `pusher` of store `store`. Pure: runs on any thread.
    public init(_ records: [VersionedRecord], from pusher: ReplicaID, store: StoreID) {
        self.pusher = pusher
        self.store = store
        rules = PushRules.prepare(records)
        var writes: [PreparedWrite?] = []
        var repeated: [Int] = []
        var ids = Set<String>(minimumCapacity: records.count)
        writes.reserveCapacity(records.count)
        for entry in rules.records {
            guard let item = entry.product else { continue }
            if ids.insert(entry.record.id).inserted {
                writes.append(try? PreparedWrite(entry.record, item: item))
            } else {
                repeated.append(writes.count)
                writes.append(nil)
            }
        }
        self.writes = writes
        self.repeated = repeated
    }
}

/// One write of a group commit (``ReplicaStore/commitGroup(_:)``).
public enum GroupedWrite: Sendable {
    /// A kiosk's pushed batch, merged by the push rules.
    case push(PreparedServerPush)
    /// A kiosk's completed sync, noted as its last sync time.
    case noteSync(replicaID: String, protocolVersion: Int)
    /// A kiosk's first handshake: its enrollment token redeemed and its key recorded
    /// (``ReplicaStore/redeemEnrollment(store:kiosk:publicKey:proves:)``). A fleet of new kiosks enrolling at once
    /// shares commits as their pushes do, instead of one transaction and one fsync each (1,000 kiosks enrolling at
    /// once: 0.69–0.70 s against 0.84–1.00 s; BENCHMARKS.md, issue 18, eleventh part).
    case redeemEnrollment(EnrollmentRedemption)

    /// Whether this is a sync note, which nobody waits on to be durable (``ReplicaStore/commitGroup(_:syncingLater:)``
    /// commits a group of notes alone without a sync).
    public var isSyncNote: Bool {
        if case .noteSync = self { true } else { false }
    }
}

/// What a kiosk's first handshake asks the server to store (``GroupedWrite/redeemEnrollment(_:)``).
public struct EnrollmentRedemption: Sendable {
    /// The kiosk's store.
    public var store: StoreID
    /// The kiosk, within its store.
    public var kiosk: KioskID
    /// The key the kiosk proved it holds.
    public var publicKey: Data
    /// Whether the kiosk's proof verifies with the token's public key.
    public var proves: @Sendable (_ tokenKey: Data) -> Bool

    /// What kiosk `kiosk` of store `store` asks for: `publicKey` recorded if `proves` accepts its token's key.
    public init(store: StoreID, kiosk: KioskID, publicKey: Data, proves: @escaping @Sendable (_ tokenKey: Data) -> Bool)
    {
        self.store = store
        self.kiosk = kiosk
        self.publicKey = publicKey
        self.proves = proves
    }
}

extension ReplicaStore {
    /// Runs the writes of several syncs in one transaction — one commit, one fsync for all — and returns each
    /// one's result in order: a push's outcome, `nil` for a noted sync or an enrollment, or the error that write
    /// alone failed with.
    ///
    /// Each push and each enrollment runs in a savepoint of its own: a refused push (``PushRejection``) or
    /// enrollment (``ReplicaStoreError``) is rolled back alone and the others are committed. Any other failure
    /// (the disk is full, say) abandons the whole transaction, and the writes are then run one transaction each, so
    /// that one write's failure is only its own. Results are returned only after the commit: nothing is reported
    /// done before it is durable — unless `syncingLater` says the caller makes it so.
    ///
    /// With `syncingLater` the transaction commits without syncing the log (`synchronous = NORMAL`), and nothing it
    /// wrote is durable until ``syncLog()`` has returned: the caller acknowledges the writes only then, while the
    /// writer goes on with the next group — the sync of one group overlaps the work of the next, instead of the
    /// writer waiting for the disk at every commit (BENCHMARKS.md, issue 18). Until that sync the change feed hands
    /// out none of the group's changes (``encodedFeed(store:after:limit:requester:)``), so no kiosk's cursor passes
    /// a change a power cut could take back.
    public func commitGroup(_ writes: [GroupedWrite], syncingLater: Bool = false) -> [Result<PushOutcome?, any Error>] {
        func alone(_ write: GroupedWrite) -> Result<PushOutcome?, any Error> {
            Result { try commitTogether([write], syncingLater: syncingLater)[0].get() }
        }
        guard writes.count > 1 else { return writes.map(alone) }
        do {
            return try commitTogether(writes, syncingLater: syncingLater)
        } catch {
            return writes.map(alone)
        }
    }

    /// Makes durable every group ``commitGroup(_:syncingLater:)`` committed without syncing before this call
    /// started (`fdatasync` of the write-ahead log), and lets the change feed hand out their changes.
    ///
    /// - Throws: ``ReplicaStoreError`` (`storage`) naming the log when it cannot be synced; the groups then stay out
    ///   of the feed until a later sync succeeds, and their writes must not be acknowledged.
    public func syncLog() throws {
        let covered = unsyncedCommits.endedThrough
        try logFile.sync()
        if let covered { unsyncedCommits.synced(through: covered) }
    }

    /// The newest change the change feed may hand out: the latest change, or — while a group committed by
    /// ``commitGroup(_:syncingLater:)`` waits for its sync — the last one before that group's. It grows as changes
    /// are committed and as syncs return, so a server that watches it learns when a change held back from a kiosk
    /// (``encodedFeed(store:after:limit:requester:)``) can be handed out.
    public func feedFrontier() throws -> Int64 {
        try read { db in
            let newest = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM change_log")) ?? 0
            // Read once the snapshot has begun, as the feed does.
            return min(newest, (unsyncedCommits.feedBound ?? .max) - 1)
        }
    }

    private func commitTogether(
        _ writes: [GroupedWrite],
        syncingLater: Bool
    ) throws -> [Result<PushOutcome?, any Error>] {
        // A group of sync notes only — the syncs of idle kiosks — stores nothing a kiosk relies on: a power cut
        // that lost it would show an older last sync time. Its commit is not synced on its own; the next push's
        // (or checkpoint's) sync carries it.
        let onlyNotes = writes.allSatisfy(\.isSyncNote)
        var unsynced: Int?
        defer { if let unsynced { unsyncedCommits.end(unsynced) } }
        return try write(durability: onlyNotes || syncingLater ? .deferred : .synced) { context in
            if syncingLater && !onlyNotes {
                // Before anything is written, so that a reader that sees the group also sees it unsynced. The group's
                // entries are numbered after the newest one in the log (AUTOINCREMENT never goes lower).
                let newest = try Int64.fetchOne(
                    context.db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM change_log")
                )
                unsynced = unsyncedCommits.begin(firstChange: (newest ?? 0) + 1)
            }
            var results: [Result<PushOutcome?, any Error>] = []
            results.reserveCapacity(writes.count)
            for write in writes {
                switch write {
                case .noteSync(let replicaID, let protocolVersion):
                    try context.noteSync(of: replicaID, protocolVersion: protocolVersion)
                    results.append(.success(nil))
                case .redeemEnrollment(let redemption) where writes.count == 1:
                    try context.redeemEnrollment(redemption)
                    results.append(.success(nil))
                case .redeemEnrollment(let redemption):
                    do {
                        try context.db.inSavepoint {
                            try context.redeemEnrollment(redemption)
                            return .commit
                        }
                        results.append(.success(nil))
                    } catch let refusal as ReplicaStoreError {
                        results.append(.failure(refusal))
                    }
                case .push(let push) where writes.count == 1:
                    // Alone, the transaction is the savepoint: a refusal rolls it back and is thrown.
                    results.append(.success(try context.accept(push)))
                case .push(let push):
                    do {
                        var outcome: PushOutcome?
                        try context.db.inSavepoint {
                            outcome = try context.accept(push)
                            return .commit
                        }
                        results.append(.success(outcome))
                    } catch let rejection as PushRejection {
                        // What the rolled-back push read or wrote may be cached: read it again.
                        context.cachedPolicies = nil
                        context.cachedHasOrders = nil
                        results.append(.failure(rejection))
                    }
                }
            }
            return results
        }
    }
}

extension WriteContext {
    /// Merges a prepared push by the push rules, in this transaction.
    mutating func accept(_ push: PreparedServerPush) throws -> PushOutcome {
        // The push's new records are written many to a statement (``WriteContext/NewRecords``), all by its end.
        newRecords = NewRecords()
        var transaction = try SQLitePushTransaction(context: self, push: push)
        defer {
            // A refused push's savepoint rolls back what it wrote; what it still held goes with it.
            transaction.context.newRecords?.discard()
            transaction.context.newRecords = nil
            self = transaction.context
        }
        let result = try PushRules.accept(push.rules, from: push.pusher, store: push.store, in: &transaction)
        try transaction.context.writeNewRecords()
        return PushOutcome(merged: result.merged, unchanged: result.unchanged, conflicts: result.conflicts)
    }

    func redeemEnrollment(_ redemption: EnrollmentRedemption) throws {
        try redeemEnrollment(
            store: redemption.store,
            kiosk: redemption.kiosk,
            publicKey: redemption.publicKey,
            proves: redemption.proves
        )
    }

    /// Notes that kiosk `replicaID` completed a sync, speaking protocol version `protocolVersion`.
    func noteSync(of replicaID: String, protocolVersion: Int) throws {
        try db.cachedStatement(sql: "UPDATE kiosks SET last_sync_at = ?, protocol_version = ? WHERE replica_id = ?")
            .execute(arguments: [wallClock.millisecondsSince1970, protocolVersion, replicaID])
    }
}
