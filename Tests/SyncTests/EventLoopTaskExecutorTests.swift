import NIOCore
import NIOPosix
import SyncTransport
import Testing

/// A task preferring an ``EventLoopTaskExecutor`` runs on its loop: at its start, after an await that another
/// thread resumed, and in its child tasks (not in the unstructured tasks it starts) — where a kiosk's conversation
/// reads its frames and writes its messages.
@Suite struct EventLoopTaskExecutorTests {
    @Test func aTaskPreferringALoopRunsOnItAcrossAwaitsAndInItsChildren() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loop = group.next()
        let other = group.next()
        #expect(!loop.inEventLoop, "the test itself starts off the loop")
        try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            #expect(loop.inEventLoop)
            // Resumed by the other loop's thread: the task comes back to its own.
            let ranOnOther = try await other.submit { other.inEventLoop }.get()
            #expect(ranOnOther)
            #expect(loop.inEventLoop)
            // Resumed by a thread of Swift's global pool.
            let ranOnLoop = await Task.detached { loop.inEventLoop }.value
            #expect(!ranOnLoop)
            #expect(loop.inEventLoop)
            let children = await withTaskGroup(of: Bool.self) { children in
                for _ in 0..<8 { children.addTask { loop.inEventLoop } }
                return await children.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(children == Array(repeating: true, count: 8))
            // An unstructured task does not inherit the preference: a pulled page's decoding and the merges, started
            // from the conversation, run beside the loop, not on it.
            #expect(!(await Task { loop.inEventLoop }.value))
        }
        try await group.shutdownGracefully()
    }
}
