import CMemoryAllocator

/// Which `malloc` the running process allocates with.
///
/// `returns-server` and `kiosk` link jemalloc in (Debian's `libjemalloc_pic.a`; nothing to install where they run):
/// their memory is allocated on one thread and freed on another all the time — a frame decoded on an event loop, its
/// records prepared on the concurrency pool, written and released on the writer — and the C library's allocator pays
/// for that in CPU. Measured on a fleet of a thousand kiosks syncing at once, jemalloc took 2–12 % less of the
/// server's CPU (BENCHMARKS.md, issue 18, twenty-sixth part); a kiosk's first pull kept ~50 MB less (thirty-third
/// part). The executable exports jemalloc's `malloc`, so it is the one every library in the process calls, Swift's
/// runtime and SQLite included; this tells an operator, in the server's start-up log, that it is.
public enum MemoryAllocator {
    /// The allocator's name and version (`jemalloc 5.3.0-0-g…`) when the process's `malloc` is jemalloc's, or
    /// `"the C library's malloc"` when it is not (another system, a process that does not link jemalloc).
    public static var inUse: String {
        guard let version = returnsync_jemalloc_version() else { return cLibrary }
        let text = String(cString: version)
        return text.isEmpty ? "jemalloc" : "jemalloc \(text)"
    }

    static let cLibrary = "the C library's malloc"
}
