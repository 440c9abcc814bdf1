import CommandLineSupport
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

    /// This test process links jemalloc the same way (it links the executables' code): its answer, in process.
    @Test func theProcessMallocIsJemallocsWithItsVersion() {
        let inUse = MemoryAllocator.inUse
        #expect(inUse.hasPrefix("jemalloc ") && inUse.split(separator: " ").count == 2, "\(inUse)")
    }

    /// Both executables carry jemalloc in them, as the dynamic linker tells it (`LD_DEBUG`, every symbol bound as the
    /// process starts): they look for no `libjemalloc.so.2`, so a machine without it runs them, and the libraries they
    /// load — the C library, Swift's runtime, Foundation, SQLite — call the executable's `malloc` and `free`, not the C
    /// library's (memory allocated by one allocator and freed by the other would corrupt both).
    @Test(arguments: ["kiosk", "returns-server"])
    func theExecutablesCarryJemallocAndTheirLibrariesCallIt(tool: String) throws {
        let run = try ToolRun(tool, ["--version"], environment: ["LD_DEBUG": "libs,bindings", "LD_BIND_NOW": "1"])
        #expect(run.status == 0, "\(run.stderr.suffix(2_000))")
        #expect(run.line.hasPrefix(ReturnSyncVersion.release), "\(run.stdout)")
        let lines = run.stderr.split(separator: "\n")
        let loaded = lines.filter { $0.contains("find library=") }
        #expect(!loaded.isEmpty, "no LD_DEBUG output: \(run.stderr.prefix(2_000))")
        #expect(!loaded.contains { $0.contains("jemalloc") }, "\(loaded.joined(separator: "\n"))")
        let binary = ToolRun.binaries.appendingPathComponent(tool).path
        for library in ["libc.so.6", "libswiftCore.so", "libFoundation.so", "libsqlite3.so"] {
            for symbol in ["malloc", "free"] {
                let bindings = lines.filter {
                    $0.contains("binding file ") && $0.contains("/\(library)")
                        && $0.contains(": normal symbol `\(symbol)'")
                }
                #expect(!bindings.isEmpty, "\(library) binds no \(symbol)")
                #expect(
                    bindings.allSatisfy { $0.contains(" to \(binary) [0]:") },
                    "\(bindings.joined(separator: "\n"))"
                )
            }
        }
    }
}
#endif
