import Foundation
import NIOCore
import NIOPosix
import ReturnSyncTestSupport
import ReturnsServer
import Testing

/// `serve` on SQLite runs its event loops below its writer (``EventLoopPriority``), seen as an operator sees it: the
/// threads' nice values in `/proc`.
@Suite struct EventLoopPriorityTests {
    /// A thread's nice value, from `/proc/<pid>/task/<tid>/stat` (its nineteenth field; the name, second, may hold
    /// spaces and parentheses, so the fields are counted after its closing one).
    static func nice(_ statPath: String) throws -> Int32 {
        let stat = try String(contentsOfFile: statPath, encoding: .utf8)
        let fields = try #require(stat.range(of: ")", options: .backwards)).upperBound
        let rest = stat[fields...].split(separator: " ")
        return try #require(Int32(rest[16]), "\(stat)")
    }

    @Test func loweringALoopGroupLowersItsThreadsAndNoOtherOne() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let before = try await loop.submit { try Self.nice("/proc/thread-self/stat") }.get()
        let caller = try Self.nice("/proc/thread-self/stat")
        await EventLoopPriority.lower(group, by: 3)
        let after = try await loop.submit { try Self.nice("/proc/thread-self/stat") }.get()
        #expect(after == min(19, before + 3))
        await EventLoopPriority.lower(group, by: 0)
        #expect(try await loop.submit { try Self.nice("/proc/thread-self/stat") }.get() == after)
        #expect(try Self.nice("/proc/thread-self/stat") == caller, "the calling thread keeps its priority")
        try await group.shutdownGracefully()
    }

    /// The nice values of a process's main thread (its id the process's: the priority the writer and the readers
    /// start with), of its event loops and of its readers.
    static func nices(of pid: pid_t) throws -> (process: Int32, loops: [Int32], readers: [Int32]) {
        let tasks = "/proc/\(pid)/task"
        var loops: [Int32] = []
        var readers: [Int32] = []
        for thread in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let name = try? String(contentsOfFile: "\(tasks)/\(thread)/comm", encoding: .utf8) else { continue }
            if name.hasPrefix("NIO-SGLTN") { loops.append(try nice("\(tasks)/\(thread)/stat")) }
            if name.hasPrefix("TP-#") { readers.append(try nice("\(tasks)/\(thread)/stat")) }
        }
        return (try nice("\(tasks)/\(pid)/stat"), loops, readers)
    }

    @Test func serveOnSQLiteRunsItsEventLoopsBelowItsOtherThreads() async throws {
        let directory = try TemporaryDirectory()
        let (server, _) = try await AttachmentCommandTests.serve("hq.sqlite", in: directory)
        defer { server.process.send(SIGTERM) }
        // The loops are lowered before the server listens.
        let (process, loops, readers) = try Self.nices(of: server.process.processIdentifier)
        #expect(!loops.isEmpty && !readers.isEmpty, "loops \(loops), readers \(readers)")
        #expect(loops.allSatisfy { $0 == min(19, process + EventLoopPriority.sqliteServerIncrement) }, "\(loops)")
        #expect(readers.allSatisfy { $0 == process }, "\(readers)")
    }

    @Test func eventLoopNiceIsASettingAndZeroRunsTheLoopsAlike() async throws {
        let directory = try TemporaryDirectory()
        let server = try CrashSafetyTests.Child(
            "returns-server",
            ["serve", "--db", "hq.sqlite", "--port", "0", "--event-loop-nice", "0"],
            in: directory.path
        )
        defer { server.process.send(SIGTERM) }
        let listening = try await server.listening()
        try #require(listening.hasPrefix("listening on "), "\(listening)")
        let (process, loops, _) = try Self.nices(of: server.process.processIdentifier)
        #expect(!loops.isEmpty && loops.allSatisfy { $0 == process }, "process \(process), loops \(loops)")

        let shown = try await ConfigurationCommandTests.run(
            "returns-server",
            ["serve", "--db", directory.file("other.sqlite"), "--print-config"],
            environment: ["RETURNS_SERVER_EVENT_LOOP_NICE": "3"]
        )
        #expect(shown.0 == 0 && shown.1.contains("event-loop-nice = 3"), "\(shown.1)\(shown.2)")
        let bad = try await ConfigurationCommandTests.run(
            "returns-server",
            ["serve", "--db", directory.file("other.sqlite"), "--event-loop-nice", "20"],
            environment: [:]
        )
        #expect(bad.0 == 1 && bad.2.contains("invalid --event-loop-nice '20'"), "\(bad.2)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("other.sqlite")), "nothing started")
    }
}
