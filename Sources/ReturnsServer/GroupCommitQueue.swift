import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ReplicaStore
import ReturnsModel
import SyncEngine

/// Commits the pushes, sync notes and enrollments of concurrent syncs together: while one transaction commits on the
/// writer thread, the writes that arrive wait, and the next transaction takes all of them — one fsync for the lot
/// instead of one each. Nothing waits on a timer: a write that finds the writer idle is committed at once, alone.
///
/// Each write is acknowledged (its `submit` returns) only after the transaction holding it has committed and the
/// log has been synced, so a group commit acknowledges nothing that is not durable. A refused push is rolled back
/// alone (``ReplicaStore/commitGroup(_:syncingLater:)``).
///
/// The sync is not the writer's: a group commits without it, and a thread of its own syncs the log and then answers
/// the writes, while the writer already runs the next group — one sync for every group committed meanwhile. The
/// writer waited for the disk at every commit before, a fifth of a large sync's time (BENCHMARKS.md, issue 18).
public final class GroupCommitQueue: Sendable {
    /// About how many pushed records one transaction holds at most by default: enough to share an fsync among a
    /// hundred syncs, few enough that the first of them is not kept waiting long.
    public static let defaultMaximumRecords = 10_000

    private struct Pending {
        let write: GroupedWrite
        /// Called once, with the write's result, after its transaction committed (or could not).
        let complete: @Sendable (Result<PushOutcome?, any Error>) -> Void
    }

    private struct State {
        var pending: [Pending] = []
        /// Whether a commit is scheduled or running on the writer: the writes that arrive meanwhile wait for the
        /// next one.
        var busy = false
        var transactions = 0
        /// Pushed records prepared (or being prepared) and not yet taken into a transaction.
        var admitted = 0
        /// Pushes waiting for room before they are prepared: their size and who to resume.
        var waitingForRoom: [(records: Int, continuation: CheckedContinuation<Void, Never>)] = []
        /// Pushed records in the large groups committed lately, and the writer's seconds for them, each decayed at
        /// every such group: their ratio is the rate the writer commits pushed records at under load.
        var recentRecords = 0.0
        var recentSeconds = 0.0
    }

    /// Where committed groups are freed, off the writer.
    private static let releaser = DispatchQueue(label: "ReturnSync.GroupCommitQueue.release")

    /// A committed group on its way to ``releaser``: the writer hands its only reference over, so whichever thread
    /// drops the box last, the group itself is freed by the releaser.
    private final class Committed: @unchecked Sendable {
        // Written once by the writer (init), then once by the releaser: never by both at once.
        private var group: [Pending]

        init(_ group: consuming [Pending]) { self.group = group }

        func release() { group = [] }
    }

    /// A committed write's answer: who to call, with what.
    private typealias Answer = (
        complete: @Sendable (Result<PushOutcome?, any Error>) -> Void, result: Result<PushOutcome?, any Error>
    )

    /// Writes committed and waiting for the log's sync before they are answered.
    private struct Syncing {
        var waiting: [Answer] = []
        /// Whether the sync thread is at work: the writes committed meanwhile wait for its next sync.
        var busy = false
        var syncs = 0
        /// Whether a failed sync is to be tried again (``syncRetryInterval``).
        var retrying = false
    }

    private let state = NIOLockedValueBox(State())
    private let syncing = NIOLockedValueBox(Syncing())
    private let store: ReplicaStore
    private let writer: NIOThreadPool
    private let maximumRecords: Int
    /// Syncs the log: ``ReplicaStore/syncLog()``; tests hold it to look at what is committed and not yet durable.
    private let syncLog: @Sendable () throws -> Void
    /// Where the log is synced, one sync at a time.
    private let syncer = DispatchQueue(label: "ReturnSync.GroupCommitQueue.sync")
    /// How long after a failed sync the log is synced again, pushes or not: until a sync succeeds, the change feed
    /// withholds the groups it did not cover, and everything after them, from every kiosk.
    private let syncRetryInterval: TimeAmount

    /// A queue committing to `store` on `writer`, at most about `maximumRecords` pushed records a transaction (a
    /// larger push still goes, alone).
    ///
    /// - Parameters:
    ///   - syncLog: makes the groups committed so far durable; `store`'s ``ReplicaStore/syncLog()`` unless a test
    ///     stands in for it.
    ///   - syncRetryInterval: how long after a failed sync the log is synced again, whether or not more is pushed.
    public init(
        store: ReplicaStore,
        writer: NIOThreadPool,
        maximumRecords: Int = defaultMaximumRecords,
        syncLog: (@Sendable () throws -> Void)? = nil,
        syncRetryInterval: TimeAmount = .seconds(1)
    ) {
        self.store = store
        self.writer = writer
        self.maximumRecords = max(1, maximumRecords)
        self.syncLog = syncLog ?? { [store] in try store.syncLog() }
        self.syncRetryInterval = syncRetryInterval
    }

    /// How many syncs of the log the queue has run for committed groups, failed ones and retries included.
    public var syncs: Int { syncing.withLockedValue { $0.syncs } }

    /// How many writes wait for the next transaction (those in the one committing now not counted).
    public var waiting: Int { state.withLockedValue { $0.pending.count } }

    /// How many pushes wait for room before they are prepared.
    public var waitingForRoom: Int { state.withLockedValue { $0.waitingForRoom.count } }

    /// The smallest group whose commit measures the writer's rate (``backlog``): a full push batch.
    public static let rateSampleRecords = 500

    /// How many transactions the queue has run.
    public var transactions: Int { state.withLockedValue { $0.transactions } }

    /// About how long the writer needs to commit the pushed records waiting now (prepared, or waiting for room),
    /// at the rate it committed the last large groups; `nil` before it committed any.
    ///
    /// Only groups of at least ``rateSampleRecords`` records are measured: a trickle of single captures, each
    /// paying a whole commit, would make the writer look slower than it is when a fleet comes back online and its
    /// pushes share commits, and refuse the very burst the group commit absorbs best.
    ///
    /// A push that arrives behind a long backlog would wait longer than a kiosk waits for its answer (and than
    /// the server waits on a silent connection): the server refuses it at once instead (`server-busy`).
    public var backlog: TimeAmount? {
        state.withLockedValue { state in
            guard state.recentRecords > 0, state.recentSeconds > 0 else { return nil }
            let records = state.admitted + state.waitingForRoom.reduce(0) { $0 + $1.records }
            return .nanoseconds(Int64(Double(records) / state.recentRecords * state.recentSeconds * 1e9))
        }
    }

    /// Prepares a kiosk's pushed batch on the caller's thread (``PreparedServerPush``: work the writer then does not
    /// do) and merges it; returns once it is durable.
    ///
    /// A push is prepared only when there is room: at most about twice ``defaultMaximumRecords`` pushed records wait
    /// prepared for the writer. A thousand syncs arriving at once would otherwise hold a thousand prepared pushes,
    /// whose fresh memory cost the server more (the kernel zeroing pages) than preparing them saved.
    ///
    /// - Throws: ``PushRejection`` for a refused push, or the storage's error.
    public func push(_ records: [VersionedRecord], from pusher: ReplicaID, store: StoreID) async throws -> PushOutcome {
        Self.pushOutcome(try await submit(await prepared(records, from: pusher, store: store)))
    }

    /// Prepares a kiosk's pushed batch on the caller's task, as ``push(_:from:store:)`` does, and queues it for the
    /// next transaction; returns once it is queued, and calls `completion` once it is durable (or refused).
    ///
    /// The pushes one caller queues one after the other are committed in that order — in one transaction when the
    /// writer is busy meanwhile — so a connection's pipelined pushes still merge in the order they were sent.
    public func enqueuePush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID,
        completion: @escaping @Sendable (Result<PushOutcome, any Error>) -> Void
    ) async {
        enqueue(await prepared(records, from: pusher, store: store)) { completion($0.map(Self.pushOutcome)) }
    }

    /// A pushed batch prepared once there is room for it (``admit(_:)``), on the caller's task.
    private func prepared(_ records: [VersionedRecord], from pusher: ReplicaID, store: StoreID) async -> GroupedWrite {
        await admit(records.count)
        return .push(PreparedServerPush(records, from: pusher, store: store))
    }

    /// A push's outcome: the group commit answers every push it took with one.
    private static func pushOutcome(_ outcome: PushOutcome?) -> PushOutcome {
        guard let outcome else { preconditionFailure("a push's group commit returned no outcome") }
        return outcome
    }

    /// Waits until `records` more pushed records may be prepared; a push is always let in when none wait.
    private func admit(_ records: Int) async {
        let limit = 2 * maximumRecords
        let admitted = state.withLockedValue { state in
            guard state.admitted == 0 || (state.waitingForRoom.isEmpty && state.admitted + records <= limit) else {
                return false
            }
            state.admitted += records
            return true
        }
        if admitted { return }
        await withCheckedContinuation { continuation in
            let now = state.withLockedValue { state in
                // Room may have been made between the two locks.
                if state.admitted == 0 || (state.waitingForRoom.isEmpty && state.admitted + records <= limit) {
                    state.admitted += records
                    return true
                }
                state.waitingForRoom.append((records, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Gives back the room of `records` records taken into a transaction, letting in the pushes that now fit.
    private func release(_ records: Int) {
        guard records > 0 else { return }
        let limit = 2 * maximumRecords
        let admitted = state.withLockedValue { state in
            state.admitted -= records
            var letIn: [CheckedContinuation<Void, Never>] = []
            while let next = state.waitingForRoom.first,
                state.admitted == 0 || state.admitted + next.records <= limit
            {
                state.waitingForRoom.removeFirst()
                state.admitted += next.records
                letIn.append(next.continuation)
            }
            return letIn
        }
        for continuation in admitted { continuation.resume() }
    }

    /// Commits `write` with whatever else is waiting; returns its result once the transaction has committed.
    public func submit(_ write: GroupedWrite) async throws -> PushOutcome? {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(write) { continuation.resume(with: $0) }
        }
    }

    /// Queues `write` for the next transaction, now; `complete` is called once that transaction committed.
    private func enqueue(_ write: GroupedWrite, complete: @escaping @Sendable (Result<PushOutcome?, any Error>) -> Void)
    {
        let start = state.withLockedValue { state in
            state.pending.append(Pending(write: write, complete: complete))
            guard !state.busy else { return false }
            state.busy = true
            return true
        }
        if start { scheduleCommit() }
    }

    private func scheduleCommit() {
        writer.submit { workState in
            guard case .active = workState else {
                // The storage is shutting down: nothing more is committed.
                let (abandoned, waitingForRoom) = self.state.withLockedValue { state in
                    defer {
                        state.pending = []
                        state.waitingForRoom = []
                        state.admitted = 0
                        state.busy = false
                    }
                    return (state.pending, state.waitingForRoom)
                }
                for pending in abandoned {
                    pending.complete(.failure(NIOThreadPoolError.ThreadPoolInactive()))
                }
                // Those waiting for room go on, and fail in turn when they submit: none is left waiting for ever.
                for waiting in waitingForRoom { waiting.continuation.resume() }
                return
            }
            self.commitNextGroup()
        }
    }

    /// Commits the writes waiting now (up to the record limit), answers them, and schedules the next group if
    /// more arrived meanwhile — through the writer's queue, so that other writes (HQ's) take their turn.
    private func commitNextGroup() {
        let group = state.withLockedValue { state in
            var records = 0
            var count = 0
            for pending in state.pending {
                let size = if case .push(let push) = pending.write { push.count } else { 0 }
                if count > 0 && records + size > maximumRecords { break }
                records += size
                count += 1
            }
            defer {
                state.pending.removeFirst(count)
                state.transactions += 1
            }
            return Array(state.pending.prefix(count))
        }
        let records = group.reduce(0) { total, pending in
            if case .push(let push) = pending.write { total + push.count } else { total }
        }
        release(records)
        let started = ContinuousClock.now
        // A group of sync notes only is committed without a sync and answered at once, as before (nobody relies on
        // it being durable); any other group is answered once the sync thread has synced the log.
        let onlyNotes = group.allSatisfy(\.write.isSyncNote)
        let results = store.commitGroup(group.map(\.write), syncingLater: !onlyNotes)
        if records >= Self.rateSampleRecords {
            let elapsed = (ContinuousClock.now - started).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
            state.withLockedValue { state in
                // The last few groups count most: a rate from the server's start would hide a disk slowed now.
                state.recentRecords = state.recentRecords * 0.8 + Double(records)
                state.recentSeconds = state.recentSeconds * 0.8 + seconds
            }
        }
        if onlyNotes {
            for (pending, result) in zip(group, results) { pending.complete(result) }
        } else {
            answerOnceSynced(zip(group, results).map { ($0.complete, $1) })
        }
        // The group's prepared pushes (every record, its JSON and projection rows) are freed by whoever lets go of
        // them last: a twentieth of the writer's time in a large sync went to freeing them, and the writer is the
        // one thread every push waits for. Another thread does it — and the writer must let go first: a closure
        // that merely captured the group could run and drop its copy before this function dropped its own, leaving
        // the freeing here after all (45 of the writer's ~2,100 samples in a profiled fleet were that race). The box
        // takes the group's only reference, and the releaser empties it.
        let committed = Committed(consume group)
        Self.releaser.async { committed.release() }
        let more = state.withLockedValue { state in
            if state.pending.isEmpty { state.busy = false }
            return state.busy
        }
        if more { scheduleCommit() }
    }

    /// Answers `writes`, committed, once a sync that started after their commit has returned: the sync thread takes
    /// the writes waiting when it starts a sync, so those that arrive during one wait for the next.
    private func answerOnceSynced(_ writes: [Answer]) {
        let start = syncing.withLockedValue { syncing in
            syncing.waiting += writes
            guard !syncing.busy else { return false }
            syncing.busy = true
            return true
        }
        if start { syncer.async { self.syncAndAnswer() } }
    }

    /// Syncs the log again after ``syncRetryInterval``, and so on until a sync succeeds (one retry pending at a time):
    /// without it, a failed sync followed by no push would leave the feed withholding its groups for good.
    private func retrySync() {
        let schedule = syncing.withLockedValue { syncing in
            defer { syncing.retrying = true }
            return !syncing.retrying
        }
        guard schedule else { return }
        // Weakly: a queue let go of (its server stopped) stops trying.
        syncer.asyncAfter(deadline: .now() + .nanoseconds(Int(syncRetryInterval.nanoseconds))) { [weak self] in
            guard let self else { return }
            self.syncing.withLockedValue { $0.retrying = false }
            _ = self.syncCounted()
        }
    }

    /// Syncs the log once, on the sync thread, counts it, and has a failed sync tried again (``retrySync()``).
    private func syncCounted() -> Result<Void, any Error> {
        let synced = Result { try syncLog() }
        syncing.withLockedValue { $0.syncs += 1 }
        if case .failure = synced { retrySync() }
        return synced
    }

    /// Syncs the log and answers the writes that waited for it, until none wait.
    private func syncAndAnswer() {
        while true {
            let writes = syncing.withLockedValue { syncing in
                defer { syncing.waiting = [] }
                if syncing.waiting.isEmpty { syncing.busy = false }
                return syncing.waiting
            }
            guard !writes.isEmpty else { return }
            // Taken before the sync starts: every write here committed before it, so the sync covers them all.
            let synced = syncCounted()
            for (complete, result) in writes {
                switch synced {
                case .success: complete(result)
                // Committed, perhaps not durable: not acknowledged. The kiosk pushes again, and what is stored
                // merges as unchanged.
                case .failure(let error): complete(.failure(error))
                }
            }
        }
    }
}
