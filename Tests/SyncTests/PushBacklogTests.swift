import Foundation
import GRDB
import NIOCore
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import SyncClient
import SyncCore
import Testing
import WireProtocol

/// A push that would wait behind more than the server can commit before the kiosk gives up is refused at once
/// (`server-busy`), instead of being cut by the timeouts while it waits and committed after the kiosk left.
@Suite struct PushBacklogTests {
    @Test func aPushBehindALongerBacklogThanTheLimitIsRefusedAtOnceAndGoesThroughLater() async throws {
        // A limit of nothing: any push that finds another waiting is refused.
        let server = try await TestServer(configure: { $0.pushBacklogLimit = .zero })
        let kiosks = try ["a", "b", "c"].map { try TestKiosk(store: "store-1", kiosk: $0, server: server) }
        // Until the writer committed a large group, it cannot tell how long a backlog takes: nothing is refused.
        // Small pushes (each paying a whole commit) do not measure it. Each kiosk is enrolled (a write) before the
        // writer is held below.
        #expect(server.storage.groupCommit.backlog == nil)
        for kiosk in kiosks {
            try kiosk.record(order: "ORD-0")
            #expect(try await kiosk.sync().pushed == 1)
        }
        #expect(server.storage.groupCommit.backlog == nil)
        // A full batch does.
        let batch = GroupCommitQueue.rateSampleRecords
        _ = try kiosks[0].store.importReturns(ndjson: SampleData.importLines(count: batch))
        #expect(try await kiosks[0].sync().pushed == batch)
        #expect(server.storage.groupCommit.backlog == .zero)

        let holder = try await GroupCommitQueueTests.holdWriteLock(of: server.store.path)
        for (index, kiosk) in kiosks.enumerated() { try kiosk.record(order: "ORD-\(index + 1)") }
        // A safety net against a queue that never gets there, not a timing: each wait ends as soon as its
        // condition holds.
        let deadline = ContinuousClock.now + .seconds(120)
        let queue = server.storage.groupCommit
        let transactions = queue.transactions
        // a's push takes the writer, which waits for the lock; b's then waits for the writer.
        let first = Task { try await kiosks[0].sync() }
        while queue.transactions == transactions && ContinuousClock.now < deadline { await Task.yield() }
        let second = Task { try await kiosks[1].sync() }
        while queue.waiting < 1 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(try #require(queue.backlog) > .zero)

        // c's push finds b's waiting: refused while the writer is still held, not after it.
        await #expect {
            try await kiosks[2].sync()
        } throws: { error in
            let refusal = (error as? SyncError)?.serverError
            return refusal?.code == .serverBusy && refusal?.code.isRetryable == true
                && refusal?.message.contains("nothing of batch 1 was stored") == true
        }
        #expect(queue.waiting == 1)

        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        #expect(try await first.value.pushed == 1)
        #expect(try await second.value.pushed == 1)
        // The refused kiosk kept its return, and its next sync delivers it.
        #expect(try await kiosks[2].sync().pushed == 1)
        #expect(try server.store.returnRecords().count == 3 + batch + 3)
        try await server.stop()
    }
}
