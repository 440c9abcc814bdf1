import NIOConcurrencyHelpers
import NIOPosix
import ReplicaStore

/// Commits the pushes and sync notes of concurrent syncs together: while one transaction commits on the writer
/// thread, the writes that arrive wait, and the next transaction takes all of them — one fsync for the lot instead
/// of one each. Nothing waits on a timer: a write that finds the writer idle is committed at once, alone.
///
/// Each write is acknowledged (its `submit` returns) only after the transaction holding it has committed, so a
/// group commit acknowledges nothing that is not durable. A refused push is rolled back alone
/// (``ReplicaStore/commitGroup(_:)``).
public final class GroupCommitQueue: Sendable {
    /// About how many pushed records one transaction holds at most by default: enough to share an fsync among a
    /// hundred syncs, few enough that the first of them is not kept waiting long.
    public static let defaultMaximumRecords = 10_000

    private struct Pending {
        let write: GroupedWrite
        let continuation: CheckedContinuation<PushOutcome?, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        /// Whether a commit is scheduled or running on the writer: the writes that arrive meanwhile wait for the
        /// next one.
        var busy = false
        var transactions = 0
    }

    private let state = NIOLockedValueBox(State())
    private let store: ReplicaStore
    private let writer: NIOThreadPool
    private let maximumRecords: Int

    /// A queue committing to `store` on `writer`, at most about `maximumRecords` pushed records a transaction (a
    /// larger push still goes, alone).
    public init(store: ReplicaStore, writer: NIOThreadPool, maximumRecords: Int = defaultMaximumRecords) {
        self.store = store
        self.writer = writer
        self.maximumRecords = max(1, maximumRecords)
    }

    /// How many writes wait for the next transaction (those in the one committing now not counted).
    public var waiting: Int { state.withLockedValue { $0.pending.count } }

    /// How many transactions the queue has run.
    public var transactions: Int { state.withLockedValue { $0.transactions } }

    /// Merges a prepared push; returns once it is durable.
    ///
    /// - Throws: ``PushRejection`` for a refused push, or the storage's error.
    public func push(_ push: PreparedServerPush) async throws -> PushOutcome {
        guard let outcome = try await submit(.push(push)) else {
            preconditionFailure("a push's group commit returned no outcome")
        }
        return outcome
    }

    /// Commits `write` with whatever else is waiting; returns its result once the transaction has committed.
    public func submit(_ write: GroupedWrite) async throws -> PushOutcome? {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLockedValue { state in
                state.pending.append(Pending(write: write, continuation: continuation))
                guard !state.busy else { return false }
                state.busy = true
                return true
            }
            if start { scheduleCommit() }
        }
    }

    private func scheduleCommit() {
        writer.submit { workState in
            guard case .active = workState else {
                // The storage is shutting down: nothing more is committed.
                let abandoned = self.state.withLockedValue { state in
                    defer {
                        state.pending = []
                        state.busy = false
                    }
                    return state.pending
                }
                for pending in abandoned {
                    pending.continuation.resume(throwing: NIOThreadPoolError.ThreadPoolInactive())
                }
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
        let results = store.commitGroup(group.map(\.write))
        for (pending, result) in zip(group, results) {
            pending.continuation.resume(with: result)
        }
        let more = state.withLockedValue { state in
            if state.pending.isEmpty { state.busy = false }
            return state.busy
        }
        if more { scheduleCommit() }
    }
}
