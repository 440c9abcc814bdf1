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

    @Test func serveOnSQLiteRunsItsEventLoopsBelowItsOtherThreads() async throws {
        let directory = try TemporaryDirectory()
        let (server, _) = try await AttachmentCommandTests.serve("hq.sqlite", in: directory)
        defer { server.process.send(SIGTERM) }
        // The loops are lowered before the server listens; the main thread (its id the process's) keeps the
        // process's priority, which the writer and the readers start with.
        let pid = server.process.processIdentifier
        let tasks = "/proc/\(pid)/task"
        let process = try Self.nice("\(tasks)/\(pid)/stat")
        var loops: [Int32] = []
        var readers: [Int32] = []
        for thread in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let name = try? String(contentsOfFile: "\(tasks)/\(thread)/comm", encoding: .utf8) else { continue }
            if name.hasPrefix("NIO-SGLTN") { loops.append(try Self.nice("\(tasks)/\(thread)/stat")) }
            if name.hasPrefix("TP-#") { readers.append(try Self.nice("\(tasks)/\(thread)/stat")) }
        }
        #expect(!loops.isEmpty && !readers.isEmpty, "loops \(loops), readers \(readers)")
        #expect(loops.allSatisfy { $0 == min(19, process + EventLoopPriority.sqliteServerIncrement) }, "\(loops)")
        #expect(readers.allSatisfy { $0 == process }, "\(readers)")
    }
}
