#if canImport(Glibc)
import Glibc
#endif

/// Which `malloc` the running process allocates with.
///
/// `returns-server` links jemalloc (`libjemalloc2`): a server's memory is allocated on one thread and freed on
/// another all the time — a frame decoded on an event loop, its pushed records prepared on the concurrency pool,
/// written and released on the writer — and the C library's allocator pays for that in CPU. Measured on a fleet of a
/// thousand kiosks syncing at once, jemalloc took 2–12 % less of the server's CPU (BENCHMARKS.md, issue 18,
/// twenty-sixth part). Linking makes its `malloc` the one every library in the process calls, Swift's runtime and
/// SQLite included; this tells an operator, in the server's start-up log, that it did.
public enum MemoryAllocator {
    /// The allocator's name and version (`jemalloc 5.3.0-0-g…`) when the process's `malloc` is jemalloc's, or
    /// `"the C library's malloc"` when it is not (another system, a process that does not link jemalloc).
    public static var inUse: String {
        #if os(Linux)
        // Loaded already or not at all: RTLD_NOLOAD never loads it just to ask.
        guard let jemalloc = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD) else { return cLibrary }
        defer { dlclose(jemalloc) }
        // Loaded is not enough: its `malloc` must be the one a call resolves to (RTLD_DEFAULT, the null handle),
        // which holds only when it comes before the C library in the process's search order.
        guard let own = dlsym(jemalloc, "malloc"), own == dlsym(nil, "malloc") else { return cLibrary }
        typealias MallocControl =
            @convention(c) (
                UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?,
                Int
            ) -> Int32
        guard let symbol = dlsym(jemalloc, "mallctl") else { return "jemalloc" }
        let mallctl = unsafeBitCast(symbol, to: MallocControl.self)
        var version: UnsafePointer<CChar>? = nil
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return "jemalloc" }
        return "jemalloc \(String(cString: version))"
        #else
        return cLibrary
        #endif
    }

    static let cLibrary = "the C library's malloc"
}
