import Synchronization
import Testing

@testable import ReturnsServer

/// Whether something happened, readable from another task.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

@Suite struct FeedWatchTests {
    /// Waits on `watch` for `store` in a task; the flag tells whether it returned.
    static func waiter(_ watch: FeedWatch, _ store: String) -> (Task<Void, Never>, Flag) {
        let done = Flag()
        let mark = watch.mark(for: store)
        let task = Task {
            await watch.wait(for: store, after: mark)
            done.set()
        }
        return (task, done)
    }

    /// Yields until `count` waiters are registered.
    static func untilWaiting(_ watch: FeedWatch, _ count: Int) async {
        while watch.waiting < count { await Task.yield() }
    }

    @Test func aStoresChangeWakesOnlyThatStoresWatchersAndAGlobalOneWakesAll() async {
        let watch = FeedWatch()
        let (a, aDone) = Self.waiter(watch, "store-a")
        let (b, bDone) = Self.waiter(watch, "store-b")
        await Self.untilWaiting(watch, 2)
        watch.changed(store: "store-a")
        await a.value
        #expect(aDone.isSet)
        #expect(!bDone.isSet)
        #expect(watch.waiting == 1)
        watch.changed()
        await b.value
        #expect(bDone.isSet)
        #expect(watch.waiting == 0)
    }

    @Test func aChangeBetweenTheMarkAndTheWaitIsNotMissed() async {
        let watch = FeedWatch()
        let mark = watch.mark(for: "store-a")
        watch.changed(store: "store-a")
        await watch.wait(for: "store-a", after: mark)  // returns at once
        #expect(watch.waiting == 0)
    }

    @Test func closingAndCancellingEndWaits() async {
        let watch = FeedWatch()
        let (cancelled, _) = Self.waiter(watch, "store-a")
        let (closed, closedDone) = Self.waiter(watch, "store-b")
        await Self.untilWaiting(watch, 2)
        cancelled.cancel()
        await cancelled.value
        #expect(watch.waiting == 1)
        watch.close()
        await closed.value
        #expect(closedDone.isSet)
        #expect(watch.isClosed)
        await watch.wait(for: "store-c", after: watch.mark(for: "store-c"))  // closed: returns at once
    }
}
