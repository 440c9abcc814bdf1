import Foundation
import ReplicaStore
import SyncClient
import Synchronization
import Testing

/// A kiosk asks for the next pulled page before it decodes the records of the one it holds (``PullBatchEnvelope``):
/// a page whose records do not decode must still fail the sync, and nothing from it or after it may be kept.
@Suite struct PulledFrameTests {
    /// Changes the second page of records a relay passes on so that its envelope reads and one record does not.
    final class PageCorrupter: Sendable {
        private let pages = Mutex(0)

        var corrupted: Bool { pages.withLock { $0 >= 2 } }

        func rewrite(_ line: String) -> String {
            guard line.hasSuffix(#"],"type":"pull-batch"}"#), line.contains(#""records":[{"#) else { return line }
            let page = pages.withLock { pages in
                pages += 1
                return pages
            }
            guard page == 2, let range = line.range(of: #""type":"return""#) else { return line }
            return line.replacingCharacters(in: range, with: #""type":17"#)
        }
    }

    @Test func aPulledPageThatDoesNotDecodeFailsTheSyncAndNothingFromItIsKept() async throws {
        let server = try await TestServer()
        let capturing = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        for index in 0..<30 { try capturing.record(order: "ORD-\(index)") }
        try await capturing.sync()

        let fresh = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let corrupter = PageCorrupter()
        let relay = try await LineRelay(to: server, rewrite: corrupter.rewrite)
        let client = SyncClient(store: fresh.store, batchSize: 10)
        await #expect {
            try await client.sync(server: relay.address)
        } throws: { error in
            "\(error)".contains("the server sent a bad frame")
                && "\(error)".contains("key 'records[0]': invalid record.type")
        }
        #expect(corrupter.corrupted, "the relay changed a page")
        // The first page may have been merged before the bad one arrived, or with it (then not at all).
        let kept = try fresh.records.count
        #expect(kept == 0 || kept == 10, "only the page before the bad one may be kept, got \(kept)")

        // The next sync, straight to the server, brings every return, once.
        _ = try await client.sync()
        #expect(try fresh.records.count == 30)
        #expect(Set(try fresh.records.map(\.id)) == Set(try capturing.records.map(\.id)))
        try await server.stop()
    }
}
