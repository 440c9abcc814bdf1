import Dispatch
import Foundation
import GRDB
import GRDBSQLite

/// Copies the write-ahead log into the database on a connection and a thread of its own, so that the writer's
/// commits do not wait for it.
///
/// SQLite's automatic checkpoint runs inside the commit that makes the log pass its limit: a capture, a pulled
/// page or a group commit waited for every page of the log to be copied and the database synced (a fifth of a
/// kiosk's writer time during a pull, a tenth of the server's during a sync: BENCHMARKS.md, "Issue 18, sixth
/// part"). A checkpoint may run beside the writer (it takes its own lock, not the writer's), so this one runs on
/// its own thread whenever the log has grown by ``pages`` since the last request.
///
/// The log restarts from its beginning only when a checkpoint has copied all of it before the next write begins,
/// which a writer that never pauses does not allow: past ``hardLimit`` frames the writer itself checkpoints what
/// is left (SQLite's own behaviour, at a higher mark) — at its next commit when the thread is copying, and waiting
/// for that copy past twice the limit — so the log stays within twice ``hardLimit`` whatever the load.
final class BackgroundCheckpointer: @unchecked Sendable {
    /// How much the log grows between two checkpoints, in pages.
    let pages: Int32
    /// The log's size past which the writer checkpoints in its commit, in pages, unless the checkpoint thread is
    /// copying; past twice this it waits for that copy and checkpoints, so the log never holds much more.
    let hardLimit: Int32
    private let path: String
    /// Where the checkpoints run, one at a time; tests suspend it to stand for checkpoints that fall behind.
    let queue = DispatchQueue(label: "ReturnSync.ReplicaStore.checkpoint")
    // Guarded by `lock`: the writer's hook and the checkpoint thread both read and change them.
    private let lock = NSLock()
    private var requestedAt: Int32 = 0
    private var running = false
    private var requested = false
    private var completed = 0
    private var refused = 0
    /// The log's size in frames when the checkpoint thread had copied all of it, its last pass copying no more than
    /// ``catchUpFrames``: the writer's next commit copies the few frames written since, and the log restarts at the
    /// write after it. `nil` otherwise.
    private var caughtUpAt: Int?
    private var catchUpsRun = 0
    /// Whether the writer's next commit that passes ``hardLimit`` leaves its copy to the checkpoint thread
    /// (``handNextLargeCommitToThread()``).
    private var handingOver = false
    private var handedOver = 0
    /// Held while a checkpoint copies, by the checkpoint thread and by the writer at the hard limit. SQLite lets
    /// one checkpoint run at a time and refuses a second at once (`SQLITE_BUSY`, no busy handler): the writer's
    /// checkpoint, when the thread's happened to be running, did nothing, and the log grew past its bound.
    private let copying = NSLock()
    // Only touched on `queue`: opened at the first checkpoint, so a store that never fills its log (most command
    // line invocations) opens no second connection.
    private var connection: DatabaseQueue?

    init(path: String, pages: Int32) {
        self.path = path
        self.pages = max(pages, 1)
        self.hardLimit = Int32(clamping: Int64(self.pages) * 4)
    }

    /// How few frames the checkpoint thread's last pass may have copied for the writer to copy the rest: an eighth
    /// of the interval (1,250 frames at HQ, 125 on a kiosk). A pass takes at least its two syncs, during which a
    /// server in a sync writes about a thousand frames: fewer would rarely be met.
    var catchUpFrames: Int { Int(pages) / 8 }

    /// Installs the hook that watches the log's size after each of the writer's commits. SQLite's automatic
    /// checkpoint is a hook of the same kind, which this one replaces.
    func install(on db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, walHook, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Has the writer's next commit that passes ``hardLimit`` — a bulk load's, with more work of the writer's to
    /// follow — leave its copy to the checkpoint thread, which copies it while the writer goes on, instead of
    /// copying it in the commit. The writer's next commit after that still copies whatever is left (waiting for the
    /// thread's pass past twice the limit), so the log stays bounded and is copied before that commit returns.
    /// Cleared by that commit or by ``cancelHandOver()``.
    func handNextLargeCommitToThread() {
        lock.withLock { handingOver = true }
    }

    /// Forgets a hand-over asked for and not used (the transaction failed, or its log stayed under the limit).
    func cancelHandOver() {
        lock.withLock { handingOver = false }
    }

    /// How many commits past the hard limit left their copy to the checkpoint thread.
    var commitsHandedOver: Int { lock.withLock { handedOver } }

    /// Called by the writer after each commit with the log's size in frames.
    fileprivate func committed(frames: Int32, db: OpaquePointer?, name: UnsafePointer<CChar>?) {
        if frames >= hardLimit {
            let start = lock.withLock { () -> Bool? in
                guard handingOver else { return nil }
                handingOver = false
                handedOver += 1
                return requestPass(at: frames)
            }
            if let start {
                if start { queue.async { self.run() } }
                return
            }
            // The checkpoints on the other thread cannot keep up, or the log never restarts under this load:
            // copy what is left now, so the next write starts the log afresh. When the thread's checkpoint is
            // running, the writer goes on and tries again at its next commit (waiting cost a pull about a
            // twentieth of its speed); only past twice the limit does it wait for it — a short wait, since that
            // checkpoint never waits for the writer, and the log stays within twice the limit.
            let result: Int32
            if Int64(frames) >= 2 * Int64(hardLimit) {
                copying.lock()
            } else if !copying.try() {
                return
            }
            result = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            copying.unlock()
            lock.withLock {
                requestedAt = 0
                if result == SQLITE_BUSY { refused += 1 }
            }
            return
        }
        // The thread has copied nearly all of the log while this writer went on: copy the rest here, so the next
        // write restarts the log instead of growing it to the hard limit. Not when the log has restarted since (a
        // writer that paused, as a kiosk between captures does: its first write after a whole copy restarted it).
        // When it grew by more than a few commits meanwhile (a group commit of many pushes), the thread copies
        // again at once rather than at the next interval: this copy is on the writer's time.
        let caughtUp = lock.withLock { () -> Int? in
            defer { caughtUpAt = nil }
            return caughtUpAt
        }.flatMap { Int(frames) > $0 ? $0 : nil }
        if let caughtUp, Int(frames) - caughtUp <= 2 * catchUpFrames, copying.try() {
            _ = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            copying.unlock()
            lock.withLock {
                requestedAt = 0
                catchUpsRun += 1
            }
            return
        }
        let start = lock.withLock { () -> Bool in
            // A smaller log than at the last request: it restarted.
            if frames < requestedAt { requestedAt = 0 }
            guard caughtUp != nil || frames - requestedAt >= pages else { return false }
            return requestPass(at: frames)
        }
        if start { queue.async { self.run() } }
    }

    /// Asks the checkpoint thread for a pass over the log as it is at `frames`; called with `lock` held. Returns
    /// whether the caller is to start the thread's run (none is running; a running one takes the request after its
    /// pass).
    private func requestPass(at frames: Int32) -> Bool {
        requestedAt = frames
        if running {
            requested = true
            return false
        }
        running = true
        return true
    }

    /// How many checkpoints have run on the checkpoint thread (failed ones included).
    var checkpointsRun: Int { lock.withLock { completed } }

    /// How many of the writer's hard-limit checkpoints SQLite refused because another was running (another
    /// process's: this one's own thread waits for the writer's and the writer for it).
    var writerCheckpointsRefused: Int { lock.withLock { refused } }

    /// Returns once every checkpoint requested so far has run.
    func waitUntilIdle() {
        queue.sync {}
    }

    /// Waits for a checkpoint that is running and closes this thread's connection, so that once the store is gone
    /// no connection of it remains: a checkpoint left running after the store went away closed its connection
    /// later, the last one of the file, and that close (which checkpoints and deletes the log under an exclusive
    /// lock) refused another process's write with `SQLITE_BUSY` ("database is locked") after the store had gone.
    func close() {
        queue.sync { connection = nil }
    }

    /// Whether the checkpoint thread's connection is open (it opens at the first checkpoint).
    var hasConnection: Bool { queue.sync { connection != nil } }

    /// How many times the writer has copied what the checkpoint thread left (``catchUpFrames``).
    var writerCatchUps: Int { lock.withLock { catchUpsRun } }

    /// The log's size when the checkpoint thread last found it caught up, until the writer's next commit.
    var caughtUpMark: Int? { lock.withLock { caughtUpAt } }

    /// Notes that the checkpoint thread has copied the log's first `frames` frames, and the pass that ended there
    /// found only a few new ones.
    func noteCaughtUp(at frames: Int) {
        lock.withLock { caughtUpAt = frames }
    }

    private func run() {
        repeat {
            lock.withLock { requested = false }
            // A pass copies the log as it was when the pass began, while the writer goes on: the next pass copies
            // what was written meanwhile, less each time (copying a page is cheaper than making it). Once a pass
            // found only a few new frames, the writer copies what is left (`committed(frames:)`) — otherwise a
            // writer that never pauses restarts the log only at the hard limit, four intervals on, and every frame
            // of those goes to a part of the file written for the first time: the kernel allocates and zeroes its
            // pages (a fifth of a server's writer in a sync on a slow day; BENCHMARKS.md, thirty-first part).
            // Six passes at most: a pass takes at least its two syncs, and a writer that outpaces even that is left
            // to the next interval (and, at worst, the hard limit). A pass that a reader kept from copying the end
            // of the log (a read begun before it) counts as one finding the rest new.
            var copiedBefore: Int?
            for _ in 0..<6 {
                guard let (frames, copied) = checkpoint() else { break }
                if copied == frames, let copiedBefore, frames - copiedBefore <= catchUpFrames {
                    noteCaughtUp(at: frames)
                    break
                }
                copiedBefore = copied
            }
            lock.withLock { completed += 1 }
        } while lock.withLock({
            if requested { return true }
            running = false
            return false
        })
    }

    /// Runs one PASSIVE checkpoint: the log's size in frames and how many of them are copied, `nil` if it failed.
    private func checkpoint() -> (frames: Int, copied: Int)? {
        do {
            if connection == nil {
                var configuration = GRDB.Configuration()
                configuration.label = "ReturnSync.checkpoint"
                configuration.prepareDatabase { db in
                    // The checkpoint syncs the log before copying it and the database after, as the writer would.
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                }
                connection = try DatabaseQueue(path: path, configuration: configuration)
            }
            // PASSIVE: copies what no reader still needs, never waits for one, never blocks the writer.
            let log = try copying.withLock {
                try connection?.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            }
            return log.map { (frames: $0.walFrameCount, copied: $0.checkpointedFrameCount) }
        } catch {
            // A failure (a full disk, say) leaves the log to the writer's own checkpoint at the hard limit, which
            // reports nothing either: what was committed is safe in the log whatever happens to a checkpoint.
            return nil
        }
    }
}

/// SQLite's write-ahead-log hook: called on the writer's thread after each commit, with the log's size in frames.
private func walHook(
    _ context: UnsafeMutableRawPointer?,
    _ db: OpaquePointer?,
    _ name: UnsafePointer<CChar>?,
    _ frames: Int32
) -> Int32 {
    guard let context else { return SQLITE_OK }
    Unmanaged<BackgroundCheckpointer>.fromOpaque(context).takeUnretainedValue()
        .committed(frames: frames, db: db, name: name)
    return SQLITE_OK
}
