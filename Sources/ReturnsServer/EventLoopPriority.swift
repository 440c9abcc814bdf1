import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The scheduling priority of a server's event loops beside its writer.
///
/// With SQLite, every write of the server goes through one thread (``SQLiteServerStorage/writerThreadName``), and a
/// burst of syncs is bound by it. The event loops, which read and decode every frame as soon as it arrives, used to
/// compete with it for the cores as equals: a thousand kiosks syncing at once had all their pushes decoded first while
/// the writer got a third to three fifths of a core, then worked through the backlog with the other core mostly idle
/// (BENCHMARKS.md, issue 18, twenty-fifth part). Run at a lower priority, the loops take the cores the writer and the
/// pushes' preparation leave: the server finishes the pushes it has taken in before it reads more, and holds fewer
/// decoded frames waiting.
public enum EventLoopPriority {
    /// How many nice levels below the serving process's other threads `returns-server serve` runs its event loops
    /// by default when its storage is SQLite (`--event-loop-nice`). Chosen by measurement: +5 and +10 both helped,
    /// +10 slightly more.
    public static let sqliteServerIncrement: Int32 = 10

    /// Lowers the scheduling priority of each of `group`'s loop threads by `increment` nice levels (Linux: a nice
    /// value belongs to a thread), up to the lowest priority there is (19); the other threads keep theirs.
    ///
    /// Lowering a priority needs no privilege, but raising it again does: the loops keep it for the life of the
    /// process. Threads a loop starts later inherit it. Quietly does nothing where it cannot (another system, a loop
    /// already shut down): a priority is an aid, never a reason not to serve.
    public static func lower(_ group: any EventLoopGroup, by increment: Int32) async {
        guard increment > 0 else { return }
        for loop in group.makeIterator() {
            try? await loop.submit { lowerCurrentThread(by: increment) }.get()
        }
    }

    /// Lowers the calling thread's priority by `increment` nice levels.
    static func lowerCurrentThread(by increment: Int32) {
        #if os(Linux)
        // `getpriority` may return -1 as a nice value: only `errno` tells an error from it.
        errno = 0
        let now = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        guard errno == 0 else { return }
        // `who` 0 is the calling thread on Linux, not the whole process.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, min(19, now + increment))
        #endif
    }
}
