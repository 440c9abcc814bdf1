import Synchronization

/// Wakes the connections that wait for their store's next change (the `watch` of protocol version 2).
///
/// Anything that may have changed a feed calls ``changed()``: a merged push in this process at once, and the
/// server's poll of the change log for writes by other processes (HQ commands write the database directly). A
/// woken connection checks its own store's feed, so one wake-up serves every store.
final class FeedWatch: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var closed = false
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// Counts changes: a connection reads it before checking its feed, then waits for it to move.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Whether the server is shutting down: watches end at once.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// How many connections wait now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Something changed: wakes every waiting connection.
    func changed() {
        let waiters = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The server is shutting down: wakes everyone, and later waits return at once.
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the generation is past `generation`, the watch is closed, or the task is cancelled.
    func wait(after generation: UInt64) async {
        let id = state.withLock { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    // Cancelled before registering: the cancellation handler found nothing to resume.
                    if state.generation != generation || state.closed || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
