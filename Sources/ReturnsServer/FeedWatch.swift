import Synchronization

/// Wakes the connections that wait for their store's next change (the `watch` of protocol version 2).
///
/// Anything that may have changed a feed calls ``changed(store:)``: a merged push in this process at once, for its
/// store only, and the server's poll of the change log for writes by other processes (HQ commands write the
/// database directly), for every store. A woken connection checks its own store's feed; a push wakes only the
/// kiosks of its store, so a fleet's watchers cost a feed check per change of their own store.
final class FeedWatch: Sendable {
    /// What a waiter saw before it checked its feed: a change after that wakes it.
    struct Mark: Sendable, Equatable {
        var everyStore: UInt64
        var store: UInt64
    }

    private struct Waiter {
        var store: String
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var everyStore: UInt64 = 0
        var byStore: [String: UInt64] = [:]
        var closed = false
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]

        func mark(_ store: String) -> Mark { Mark(everyStore: everyStore, store: byStore[store] ?? 0) }
    }

    private let state = Mutex(State())

    /// The current mark for `store`: read it before checking the feed, then wait for a change after it.
    func mark(for store: String) -> Mark { state.withLock { $0.mark(store) } }

    /// Whether the server is shutting down: watches end at once.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// How many connections wait now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Something changed for `store`, or for every store when `nil`: wakes the connections waiting for it.
    func changed(store: String? = nil) {
        let woken = state.withLock { state in
            if let store {
                state.byStore[store, default: 0] &+= 1
            } else {
                state.everyStore &+= 1
            }
            let ids = state.waiters.filter { store == nil || $0.value.store == store }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0)?.continuation }
        }
        for continuation in woken { continuation.resume() }
    }

    /// The server is shutting down: wakes everyone, and later waits return at once.
    func close() {
        let woken = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once `store` (or every store) changed after `mark`, the watch is closed, or the task is cancelled.
    func wait(for store: String, after mark: Mark) async {
        let id = state.withLock { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    // Cancelled before registering: the cancellation handler found nothing to resume.
                    if state.mark(store) != mark || state.closed || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(store: store, continuation: continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }
}
