import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process for tests, started with `posix_spawn`.
///
/// Not `Foundation.Process`: on Linux its `run()` scans `/proc/self/fd` copying 256 bytes of every directory entry,
/// over-reading short entries, and now and then crashes the whole test process (swift-corelibs-foundation#5472,
/// Swift 6.3.1) — more often the more descriptors are open, as in a suite full of sockets. The child gets its own
/// pipes (close-on-exec in the parent), `/dev/null` for what is not piped, and no other descriptor of the parent.
public final class ChildProcess: Sendable {
    /// What one of the child's standard streams is connected to.
    public enum Stream: Sendable {
        /// A pipe the test reads (stdout, stderr) or writes (stdin).
        case pipe
        /// `/dev/null`.
        case discard
    }

    /// How a child ended.
    public struct Termination: Hashable, Sendable {
        /// The exit status, or the signal number when ``bySignal``.
        public var status: Int32
        /// Whether a signal ended it.
        public var bySignal: Bool

        /// Creates a termination.
        public init(status: Int32, bySignal: Bool) {
            self.status = status
            self.bySignal = bySignal
        }
    }

    /// The child's process id.
    public let processIdentifier: pid_t
    /// The read end of the child's standard output, when piped.
    public let standardOutput: FileHandle?
    /// The read end of the child's standard error, when piped.
    public let standardError: FileHandle?
    /// The write end of the child's standard input, when piped.
    public let standardInput: FileHandle?
    private let ended = Mutex<Termination?>(nil)

    /// Starts `executable` with `arguments`, in `directory` when given, with exactly `environment` when given
    /// (else this process's environment).
    ///
    /// - Throws: an error naming the executable when it cannot be started.
    public init(
        _ executable: String,
        _ arguments: [String],
        directory: String? = nil,
        environment: [String: String]? = nil,
        input: Stream = .discard,
        output: Stream = .pipe,
        error: Stream = .discard
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32: Int32] = [:]  // child fd -> the parent's end of its pipe
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        for (fd, stream) in [(Int32(0), input), (1, output), (2, error)] {
            switch stream {
            case .discard:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .pipe:
                var ends: [Int32] = [0, 0]
                guard pipe(&ends) == 0 else { throw ChildProcessError("pipe: errno \(errno)") }
                // Close-on-exec (pipe2 is not imported): children spawned meanwhile close all but 0–2 anyway.
                for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
                let (childEnd, parentEnd) = fd == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                childEnds.append(childEnd)
                parentEnds[fd] = parentEnd
                // dup2 clears close-on-exec on the copy: only fd 0, 1 or 2 survives into the child.
                posix_spawn_file_actions_adddup2(&actions, childEnd, fd)
            }
        }
        // Nothing else of the parent (its sockets, other children's pipes) leaks into the child.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        if let directory {
            guard let chdir = Self.addChdir else { throw ChildProcessError("cannot set a child's directory here") }
            _ = chdir(&actions, directory)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let envp = variables.map { $0.map { strdup($0) } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }
        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { argvBuffer in
            if let envp {
                return envp.withUnsafeBufferPointer { envBuffer in
                    posix_spawn(&pid, executable, &actions, nil, argvBuffer.baseAddress!, envBuffer.baseAddress!)
                }
            }
            return posix_spawn(&pid, executable, &actions, nil, argvBuffer.baseAddress!, environ)
        }
        guard result == 0 else {
            for fd in parentEnds.values { close(fd) }
            throw ChildProcessError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
        standardInput = parentEnds[0].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
        standardOutput = parentEnds[1].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
        standardError = parentEnds[2].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
    }

    /// Sends `signal` (SIGTERM, SIGKILL, ...) unless the child has ended and been waited for.
    public func send(_ signal: Int32) {
        ended.withLock { termination in
            if termination == nil { _ = kill(processIdentifier, signal) }
        }
    }

    /// Whether the child is still running (a child that ended is waited for here).
    public var isRunning: Bool {
        ended.withLock { termination in
            if termination != nil { return false }
            var status: Int32 = 0
            guard waitpid(processIdentifier, &status, WNOHANG) == processIdentifier else { return true }
            termination = Self.termination(status)
            return false
        }
    }

    /// Waits until the child ends. Blocks its thread: call it off the shared cooperative threads.
    @discardableResult
    public func waitUntilExit() -> Termination {
        if let known = ended.withLock({ $0 }) { return known }
        var status: Int32 = 0
        while waitpid(processIdentifier, &status, 0) == -1 && errno == EINTR {}
        return ended.withLock { termination in
            if let known = termination { return known }
            let result = Self.termination(status)
            termination = result
            return result
        }
    }

    private static func termination(_ status: Int32) -> Termination {
        // WIFSIGNALED / WTERMSIG / WEXITSTATUS, which Swift does not import as functions.
        let signal = status & 0x7F
        return signal != 0 && signal != 0x7F
            ? Termination(status: signal, bySignal: true) : Termination(status: (status >> 8) & 0xFF, bySignal: false)
    }

    private typealias FileActionInt = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias FileActionPath =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34) and `…_addchdir_np` (2.29), which Swift's Glibc
    /// module does not import: looked up at run time.
    private static let addCloseFrom: FileActionInt? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0),
        "posix_spawn_file_actions_addclosefrom_np"
    )
    .map { unsafeBitCast($0, to: FileActionInt.self) }
    private static let addChdir: FileActionPath? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0),
        "posix_spawn_file_actions_addchdir_np"
    )
    .map { unsafeBitCast($0, to: FileActionPath.self) }
}

/// A child process could not be started.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Runs blocking work (reading a process's pipe, waiting for it to exit) on a thread of its own.
///
/// Every test of a `swift test` run shares one pool of threads for its async work — two on a 2-core machine. A
/// test that waits seconds for a process on one of them stalls every other test's in-process clients and servers,
/// long enough for their deadlines to close connections (a server's 60 s idle timeout cut a sync this way in CI).
/// So every wait on a process in an async test goes through here.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
