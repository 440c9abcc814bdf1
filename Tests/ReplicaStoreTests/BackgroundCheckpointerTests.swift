import Foundation
import GRDBSQLite
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

    /// A large import's commit leaves the log's copy to the checkpoint thread, which runs while the writer builds the
    /// deferred indexes; the import still returns with everything copied into the database file — read here without
    /// the log (`immutable=1`), it holds every return and every index.
    @Test func aLargeImportsCopyRunsBesideItsIndexBuildAndEndsBeforeItReturns() throws {
        let directory = try TemporaryDirectory()
        var configuration = ReplicaStore.Configuration(checkpointPages: Self.pages)
        configuration.bulkLoadMinimum = 20
        let store = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-12"), kiosk: KioskID("kiosk-a")),
            configuration: configuration
        )
        store.checkpointer.waitUntilIdle()
        try store.importReturns(ndjson: SampleData.importLines(count: 400))
        #expect(store.checkpointer.commitsHandedOver == 1)
        #expect(store.checkpointer.writerCheckpointsRefused == 0)
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        let uri = "file:\(store.path)?immutable=1"
        try #require(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil) == SQLITE_OK)
        func count(_ sql: String) -> Int64 {
            var statement: OpaquePointer?
            defer { sqlite3_finalize(statement) }
            guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, sqlite3_step(statement) == SQLITE_ROW
            else { return -1 }
            return sqlite3_column_int64(statement, 0)
        }
        #expect(count("SELECT count(*) FROM returns") == 400)
        #expect(count("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'returns'") == 10)
        #expect(count("SELECT count(*) FROM deferred_indexes") == 0)
        // A small import after it asks for no hand-over, and none is left over for its commits.
        try store.importReturns(ndjson: SampleData.importLines(count: 5))
        #expect(store.checkpointer.commitsHandedOver == 1)
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

    /// How many frames the log holds now: those after the header whose salts, the header's (bytes 16–23), say they
    /// belong to it; frames left from before a restart hold the old salts.
    static func logFrames(_ store: ReplicaStore) throws -> Int {
        let log = try Data(contentsOf: URL(fileURLWithPath: store.path + "-wal"))
        let salts = log[log.startIndex + 16..<log.startIndex + 24]
        var frames = 0
        while case let start = log.startIndex + 32 + frames * (24 + 4_096), start + 24 <= log.endIndex,
            log[start + 8..<start + 16] == salts
        {
            frames += 1
        }
        return frames
    }

    /// How many times the log has restarted from its beginning: the checkpoint sequence number its header holds
    /// (bytes 12–15, big-endian), which SQLite counts up at each restart.
    static func logRestarts(_ store: ReplicaStore) throws -> UInt32 {
        let header = try Data(contentsOf: URL(fileURLWithPath: store.path + "-wal")).prefix(16)
        return header.suffix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Captures past the interval while the checkpoint thread is held, then its copy with the writer idle.
    static func copiedWithTheWriterIdle(_ store: ReplicaStore, captures: Range<Int>) throws {
        store.checkpointer.waitUntilIdle()
        store.checkpointer.queue.suspend()
        do {
            for index in captures { try capture(store, index) }
        } catch {
            store.checkpointer.queue.resume()
            throw error
        }
        store.checkpointer.queue.resume()
        store.checkpointer.waitUntilIdle()
    }

    /// The checkpoint thread copies again what was written during its copy until a pass finds next to nothing new,
    /// and then marks the log caught up, for the writer to copy the rest.
    @Test func theThreadMarksTheLogCaughtUpOnceAPassFindsNextToNothingNew() throws {
        let directory = try TemporaryDirectory()
        let store = try Self.kiosk(directory)
        try Self.copiedWithTheWriterIdle(store, captures: 0..<10)
        // The first pass copied the captures, the second found nothing new.
        #expect(store.checkpointer.caughtUpMark != nil)
    }

    /// A writer that went on while the checkpoint thread copied (a server in a sync, a kiosk in a pull): once the
    /// thread has found the log caught up, the writer's next commit copies what is left, and the write after it
    /// restarts the log. Without this such a writer restarts the log only at the hard limit, four intervals on,
    /// every frame in between going to a part of the file written for the first time (BENCHMARKS.md, issue 18's
    /// thirty-first part).
    @Test func aWriterThatWentOnCopiesWhatTheThreadLeftAndTheLogRestarts() throws {
        let directory = try TemporaryDirectory()
        // Intervals of 160 pages: the captures below stay under it, and the writer copies up to a quarter of it
        // (twice ``BackgroundCheckpointer/catchUpFrames``, 40 frames), more than two captures write.
        let store = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-12"), kiosk: KioskID("kiosk-a")),
            configuration: ReplicaStore.Configuration(checkpointPages: 160)
        )
        store.checkpointer.waitUntilIdle()
        store.checkpointer.queue.suspend()
        defer { store.checkpointer.queue.resume() }
        // Three captures, the first restarting the log (the thread had copied all of it); the thread is taken to
        // have copied the first two while the writer wrote the third.
        try Self.capture(store, 0)
        try Self.capture(store, 1)
        let copied = try Self.logFrames(store)
        try Self.capture(store, 2)
        store.checkpointer.noteCaughtUp(at: copied)
        let restarts = try Self.logRestarts(store)
        let catchUps = store.checkpointer.writerCatchUps
        try Self.capture(store, 3)
        #expect(store.checkpointer.writerCatchUps == catchUps + 1)
        #expect(store.checkpointer.caughtUpMark == nil)
        try Self.capture(store, 4)
        #expect(try Self.logRestarts(store) == restarts + 1, "the log was copied whole: the next write restarted it")
        #expect(try store.status().totalReturns == 5)
    }

    /// A writer that paused while the checkpoint thread copied (a kiosk between captures) restarts the log at its
    /// next write by itself: its commit copies nothing (a copy, with its two syncs, would only delay a capture).
    @Test func aWriterThatPausedWhileTheThreadCopiedCopiesNothing() throws {
        let directory = try TemporaryDirectory()
        let store = try Self.kiosk(directory)
        try Self.copiedWithTheWriterIdle(store, captures: 0..<10)
        #expect(store.checkpointer.caughtUpMark != nil)
        let restarts = try Self.logRestarts(store)
        let catchUps = store.checkpointer.writerCatchUps
        // The thread held meanwhile: the two captures pass the 16-page interval again, and a copy of its own between
        // or after them would restart the log once more or mark it caught up anew (CI caught the mark at 30 frames).
        store.checkpointer.queue.suspend()
        defer { store.checkpointer.queue.resume() }
        try Self.capture(store, 10)
        try Self.capture(store, 11)
        #expect(try Self.logRestarts(store) == restarts + 1)
        #expect(store.checkpointer.writerCatchUps == catchUps)
        #expect(store.checkpointer.caughtUpMark == nil)
        #expect(try store.status().totalReturns == 12)
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
