import Foundation
import ReturnSyncTestSupport
import ReturnsModel
import SyncEngine
import Testing

@testable import ReplicaStore

/// The write-ahead log is copied into the database off the writer's commits, and stays bounded whether or not
/// those copies keep up.
@Suite struct BackgroundCheckpointerTests {
    /// A small interval, so a few hundred captures pass it many times.
    static let pages = 16

    static func kiosk(_ directory: TemporaryDirectory) throws -> ReplicaStore {
        try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-12"), kiosk: KioskID("kiosk-a")),
            configuration: ReplicaStore.Configuration(checkpointPages: pages)
        )
    }

    static func capture(_ store: ReplicaStore, _ index: Int) throws {
        _ = try store.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-\(index)"), gtin: GTIN("4006381333931"), reason: .defective)
        )
    }

    /// The largest the log may get: `limits` times the hard limit (twice while the checkpoint thread copies: the
    /// writer goes on to that; once when it never does), plus the last transaction that passed it (a capture
    /// changes a handful of pages; 64 is far above), each frame a page and its 24-byte header, after the 32-byte
    /// file header.
    static func bound(_ store: ReplicaStore, limits: Int32) -> Int {
        32 + Int(limits * store.checkpointer.hardLimit + 64) * (4_096 + 24)
    }

    static func logSize(_ store: ReplicaStore) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: store.path + "-wal")
        return (attributes[.size] as? Int) ?? 0
    }

    @Test func checkpointsRunOnTheirOwnThreadAndTheLogStaysBounded() throws {
        let directory = try TemporaryDirectory()
        let store = try Self.kiosk(directory)
        store.checkpointer.waitUntilIdle()
        let before = store.checkpointer.checkpointsRun
        for index in 0..<300 { try Self.capture(store, index) }
        store.checkpointer.waitUntilIdle()
        // SQLite's own checkpoint is gone from the writer; without these the log would hold every capture (several
        // MB here), and the file never shrinks.
        #expect(store.checkpointer.checkpointsRun > before)
        // The writer's checkpoint at the hard limit is never refused by SQLite (which it was, now and then, when
        // it met the thread's: the log then grew past the bound): it tries again at its next commit, and past
        // twice the limit waits for the thread's.
        #expect(store.checkpointer.writerCheckpointsRefused == 0)
        #expect(try Self.logSize(store) <= Self.bound(store, limits: 2))
        #expect(try store.status().totalReturns == 300)
    }

    /// How many times the log has restarted from its beginning: the checkpoint sequence number its header holds
    /// (bytes 12–15, big-endian), which SQLite counts up at each restart.
    static func logRestarts(_ store: ReplicaStore) throws -> UInt32 {
        let header = try Data(contentsOf: URL(fileURLWithPath: store.path + "-wal")).prefix(16)
        return header.suffix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Once the checkpoint thread has copied the log with next to nothing written during its last pass, the writer's
    /// next commit copies what it wrote, and the log restarts at the write after that. Without this a writer that
    /// never pauses restarts the log only at the hard limit, four intervals on, every frame in between going to a
    /// part of the file written for the first time (BENCHMARKS.md, issue 18's thirty-first part).
    @Test func afterTheThreadsCopyTheWritersNextCommitLetsTheLogRestart() throws {
        let directory = try TemporaryDirectory()
        let store = try Self.kiosk(directory)
        // Captures past the interval while the thread is held, then its copy with the writer idle: its last pass
        // finds nothing new.
        store.checkpointer.waitUntilIdle()
        store.checkpointer.queue.suspend()
        for index in 0..<10 { try Self.capture(store, 100 + index) }
        store.checkpointer.queue.resume()
        store.checkpointer.waitUntilIdle()
        let restarts = try Self.logRestarts(store)
        let catchUps = store.checkpointer.writerCatchUps
        // The first capture restarts the log (all of it was copied); its commit copies its own frames at once ...
        try Self.capture(store, 0)
        #expect(store.checkpointer.writerCatchUps == catchUps + 1)
        // ... so the second restarts the log again, where it would have gone on growing.
        try Self.capture(store, 1)
        #expect(try Self.logRestarts(store) == restarts + 2)
        // Once only: the next captures grow the log until the thread has copied it again.
        try Self.capture(store, 2)
        #expect(store.checkpointer.writerCatchUps == catchUps + 1)
        #expect(try Self.logRestarts(store) == restarts + 2)
        #expect(try store.status().totalReturns == 13)
    }

    /// Checkpoints that never run (a stalled thread, a failing disk) leave the writer to checkpoint at the hard
    /// limit, as SQLite would have at the lower one: the log restarts, and nothing committed is lost.
    @Test func theWriterCheckpointsItselfAtTheHardLimitWhenTheThreadFallsBehind() throws {
        let directory = try TemporaryDirectory()
        let store = try Self.kiosk(directory)
        // Creating the store (its migrations) has filled the log past the interval already.
        store.checkpointer.waitUntilIdle()
        let before = store.checkpointer.checkpointsRun
        store.checkpointer.queue.suspend()
        do {
            for index in 0..<300 { try Self.capture(store, index) }
        } catch {
            store.checkpointer.queue.resume()
            throw error
        }
        #expect(store.checkpointer.checkpointsRun == before)
        // No copy of the thread's is ever under way: the writer checkpoints at the limit itself, every time.
        #expect(try Self.logSize(store) <= Self.bound(store, limits: 1))
        store.checkpointer.queue.resume()
        store.checkpointer.waitUntilIdle()
        #expect(try ReplicaStore.open(at: store.path).status().totalReturns == 300)
    }

    /// A store released leaves nothing of it open, the checkpoint thread's connection included: the last connection
    /// to close copies the log into the database and deletes it, and another process may write at once. (The
    /// thread's connection, closed later when its checkpoint ended, once refused the `sqlite3` shell's write with
    /// "database is locked" right after a test had released its store.)
    @Test func aReleasedStoreLeavesNoConnectionOpenAndItsLogDeleted() throws {
        let directory = try TemporaryDirectory()
        var store: ReplicaStore? = try Self.kiosk(directory)
        for index in 0..<100 { try Self.capture(store!, index) }
        let checkpointer = try #require(store?.checkpointer)
        let path = directory.file("kiosk.sqlite")
        checkpointer.waitUntilIdle()
        #expect(checkpointer.hasConnection, "a hundred captures have passed the interval")
        store = nil
        #expect(!checkpointer.hasConnection)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the last connection deleted the log")
        #expect(try ReplicaStore.open(at: path).status().totalReturns == 100)
    }
}
