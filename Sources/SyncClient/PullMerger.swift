import NIOPosix
import ReplicaStore
import Synchronization

/// Merges a round's pulled pages on the storage threads while the connection reads the next ones: the pages that
/// arrive while one merge runs wait, and the next merge takes all of them in one transaction, stored with the last
/// one's cursor (``ReplicaStore/mergePulled(pages:cursor:peer:)``).
///
/// One transaction a page made the kiosk's writer commit, and rewrite the same index pages, for every 500 records
/// of a fresh kiosk's pull (BENCHMARKS.md, "Issue 18, seventh part"). Whatever the grouping, the stored cursor never
/// passes a page that was not merged: a merge that fails drops the pages waiting behind it and every later one, and
/// the round fails with its error when it next hands a page over or ends.
///
/// Not shared: one per round, driven by the round's task. ``finish()`` or ``settle()`` must be awaited before the
/// round returns, so that no merge outlives the sync that asked for it.
final class PullMerger: Sendable {
    /// A page handed over, and the cursor past it.
    struct Page: Sendable {
        var prepared: PreparingPull
        var cursor: String
    }

    private struct State {
        var waiting: [Page] = []
        var merging = false
        var failure: (any Error)?
        var outcome = PushOutcome(merged: 0, unchanged: 0, conflicts: [])
        /// The server's estimate of the round's records, from the first page that carried one: what the first
        /// merge decides on whether to build the projection's indexes at the end (ReplicaStore+BulkLoad).
        var incoming: Int?
        /// Whether the first merge was made (and so the decision taken).
        var started = false
        /// Whether the indexes were deferred: ``settle()`` re-creates them.
        var deferredIndexes = false
        /// Tasks waiting for room in ``waiting`` or for the merges to end; woken at every change, they look again.
        var watchers: [CheckedContinuation<Bool, Never>] = []

        mutating func wakeWatchers() {
            for watcher in watchers { watcher.resume(returning: false) }
            watchers = []
        }
    }

    /// How many pages may wait behind the merge under way: past it, the round stops reading until there is room,
    /// which bounds the memory a fast server and a slow disk can fill — a page is at most one frame (4 MiB) and its
    /// decoded records, typically 500 returns of ~0.5 KB on the wire.
    ///
    /// Twelve, not four: with four, the round stops reading whenever a merge holds the writer longer than four pages
    /// take to arrive (a commit, a checkpoint), and the preparing threads idle with it. In a fresh kiosk's pull of
    /// 100,000 returns twelve was faster in seven pairs of seven, for 55 MB more peak memory (BENCHMARKS.md, issue
    /// 18, twentieth part).
    let bound: Int
    private let store: ReplicaStore
    private let peer: String
    private let state = Mutex(State())
    /// Merges whose pages wait to be freed (``free(_:_:)``).
    private let freeing = Atomic<Int>(0)

    init(store: ReplicaStore, peer: String, bound: Int = 12) {
        self.store = store
        self.peer = peer
        self.bound = max(bound, 1)
    }

    /// Hands over a page (the next after those handed over before) to be merged; waits while ``bound`` pages wait.
    ///
    /// - Parameter estimate: the server's estimate of the round's records, when the page carries one.
    /// - Throws: the error of a merge that failed, after which nothing more is merged this round.
    func merge(_ prepared: PreparingPull, cursor: String, estimate: Int? = nil) async throws {
        let page = Page(prepared: prepared, cursor: cursor)
        if let estimate { state.withLock { $0.incoming = $0.incoming ?? estimate } }
        while true {
            enum Next {
                case wait, start, queued
                case fail(any Error)
            }
            let next = state.withLock { state -> Next in
                if let failure = state.failure { return .fail(failure) }
                guard state.waiting.count < bound else { return .wait }
                state.waiting.append(page)
                if state.merging { return .queued }
                state.merging = true
                return .start
            }
            switch next {
            case .fail(let error):
                throw error
            case .queued:
                return
            case .start:
                // Unstructured, so the round goes on reading while it runs; `finish` and `settle` wait for it.
                Task { await self.run() }
                return
            case .wait:
                await watch { $0.failure != nil || $0.waiting.count < self.bound }
            }
        }
    }

    /// Waits for every page handed over to be merged, and for the indexes deferred to be built.
    ///
    /// - Returns: what the merges did, summed.
    /// - Throws: the error of the merge that failed, or of building the indexes.
    func finish() async throws -> PushOutcome {
        await watch { !$0.merging }
        // A merge's failure says more than a failure to build the indexes after it (the next opening builds them).
        if state.withLock({ $0.failure }) == nil {
            try await restoreIndexes()
        } else {
            try? await restoreIndexes()
        }
        return try state.withLock { state in
            if let failure = state.failure { throw failure }
            return state.outcome
        }
    }

    /// Waits for the merge under way, if any, to end; what waits behind it is merged too unless one fails. Called
    /// when the round fails for another reason (the connection cut, say): what was received is kept, and the
    /// indexes deferred are built (if that fails too, the next opening of the database builds them).
    func settle() async {
        await watch { !$0.merging }
        try? await restoreIndexes()
    }

    /// Builds the projection's indexes the first merge deferred, once.
    private func restoreIndexes() async throws {
        let deferred = state.withLock { state in
            defer { state.deferredIndexes = false }
            return state.deferredIndexes
        }
        guard deferred else { return }
        let store = self.store
        _ = try await NIOThreadPool.singleton.runIfActive { try store.restoreDeferredIndexes() }
    }

    /// Returns once the merges took every page handed over: a test hands the next page over after it, to have it
    /// wait behind a merge under way.
    func untilTaken() async {
        await watch { $0.waiting.isEmpty }
    }

    /// Returns once `ready` holds: woken at each change of the state, it looks again.
    private func watch(_ ready: @escaping @Sendable (State) -> Bool) async {
        var satisfied = false
        while !satisfied {
            satisfied = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { state -> Bool in
                    if ready(state) { return true }
                    state.watchers.append(continuation)
                    return false
                }
                if now { continuation.resume(returning: true) }
            }
        }
    }

    /// Merges what waits, in one transaction, until nothing does.
    private func run() async {
        while true {
            // The oldest page waiting is taken once it is prepared, with those after it that are prepared too: a
            // merge that took every page waiting, the one just read with them, sat idle while it was prepared.
            if let oldest = state.withLock({ $0.failure == nil ? $0.waiting.first : nil }) {
                _ = try? await oldest.prepared.value  // a page that did not decode fails its merge, below
            }
            let pages = state.withLock { state -> [Page] in
                var count = 0
                if state.failure == nil {
                    while count < state.waiting.count, count == 0 || state.waiting[count].prepared.isReady {
                        count += 1
                    }
                }
                let pages = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
                if pages.isEmpty { state.merging = false }
                state.wakeWatchers()
                return pages
            }
            guard let last = pages.last else { return }
            let (store, peer) = (self.store, self.peer)
            // The round's first merge decides, from the server's estimate, whether the indexes wait for its end.
            let (started, incoming) = state.withLock { state -> (Bool, Int?) in
                defer { state.started = true }
                return (state.started, state.started ? nil : state.incoming)
            }
            var ready: [PreparedPull] = []
            do {
                // Prepared on other threads meanwhile; in order, so a page is merged only after those before it. A
                // page that did not decode fails the merge of all of them: the cursor stays before it.
                for page in pages { ready.append(try await page.prepared.value) }
                let prepared = ready
                let outcome = try await NIOThreadPool.singleton.runIfActive {
                    let deferred = try incoming.map { try store.deferProjectionIndexes(forIncoming: $0) } ?? false
                    if deferred {
                        self.state.withLock { $0.deferredIndexes = true }
                    } else if !started, try store.hasDeferredIndexes() {
                        // An earlier round could not build them (a full disk, say): this one does, first.
                        try store.restoreDeferredIndexes()
                    }
                    return try store.mergePulled(pages: prepared, cursor: last.cursor, peer: peer)
                }
                state.withLock { state in
                    state.outcome.merged += outcome.merged
                    state.outcome.unchanged += outcome.unchanged
                    state.outcome.conflicts += outcome.conflicts
                    state.outcome.quarantined += outcome.quarantined
                }
            } catch {
                // Pages handed over after this one are never merged, so the cursor stays before the failed page.
                state.withLock { state in state.failure = error }
            }
            free(pages, ready)
        }
    }

    /// Frees merged pages beside the next merge rather than before it: their decoded records, dictionaries and
    /// strings, freed by this loop, took it about a third as long again as the merge itself (issue 18, thirtieth
    /// part). A page's records are owned by its preparing task, which `pages` holds.
    ///
    /// At a low priority, which measured faster than the default (the freeing then does not take the preparing tasks'
    /// threads), but bounded: were the machine too busy to give it time, a large pull's pages would pile up, so once
    /// ``freeingBound`` merges' pages wait to be freed the loop frees the next ones itself.
    private func free(_ pages: consuming [Page], _ ready: consuming [PreparedPull]) {
        let spent = Spent(pages: pages, ready: ready)
        guard freeing.add(1, ordering: .relaxed).newValue <= Self.freeingBound else {
            freeing.subtract(1, ordering: .relaxed)
            return  // freed here, on return
        }
        Task.detached(priority: .background) { [self] in
            spent.drop()
            freeing.subtract(1, ordering: .relaxed)
        }
    }

    /// Merges whose pages may wait to be freed (``free(_:_:)``).
    static let freeingBound = 4

    /// Merged pages on their way to be freed, by whichever thread drops them.
    private final class Spent: @unchecked Sendable {
        private var pages: [Page]
        private var ready: [PreparedPull]

        init(pages: consuming [Page], ready: consuming [PreparedPull]) {
            self.pages = pages
            self.ready = ready
        }

        /// Frees them, on the calling thread (the one task that holds them calls it, once).
        func drop() {
            pages = []
            ready = []
        }
    }
}
