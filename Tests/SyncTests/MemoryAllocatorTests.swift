import Foundation
import ReturnSyncTestSupport
import ReturnsServer
import Testing

#if os(Linux)
/// `returns-server` allocates with jemalloc (``MemoryAllocator``), seen as an operator sees it: the serving
/// process's start-up log.
@Suite struct MemoryAllocatorTests {
    @Test func serveLogsThatItsMallocIsJemallocs() async throws {
        let directory = try TemporaryDirectory()
        let server = try CrashSafetyTests.Child(
            "returns-server",
            ["serve", "--db", "hq.sqlite", "--port", "0"],
            in: directory.path,
            keepsErrors: true
        )
        let listening = try await server.listening()
        try #require(listening.hasPrefix("listening on "), "\(listening)")
        server.process.send(SIGTERM)
        _ = try await server.finished()
        let log = server.errors()
        let line = try #require(log.split(separator: "\n").first { $0.contains("memory allocator") }, "\(log)")
        // Not merely loaded: `MemoryAllocator` names jemalloc only when its malloc is the one calls resolve to.
        #expect(line.contains("allocator=jemalloc 5."), "\(line)")
    }

    /// This test process links jemalloc the same way (it links `returns-server`'s code): its answer, in process.
    @Test func theProcessMallocIsJemallocsWithItsVersion() {
        let inUse = MemoryAllocator.inUse
        #expect(inUse.hasPrefix("jemalloc ") && inUse.split(separator: " ").count == 2, "\(inUse)")
    }
}
#endif
