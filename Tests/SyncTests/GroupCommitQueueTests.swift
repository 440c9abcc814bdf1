import Dispatch
import Foundation
import GRDB
import NIOCore
import NIOPosix
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import SyncEngine
import Synchronization
import Testing

/// The SQLite server's writer: a kiosk's handshake never waits on other kiosks' writes, and writes that wait for the
/// writer are committed together, each acknowledged only once durable.
@Suite struct GroupCommitQueueTests {
    final class Acknowledged: Sendable {
        let count = Atomic(0)
    }

    static let storeID = try! StoreID("store-1")
    static let kiosk = try! ReplicaID("store-1/a")

    /// The store of a test that holds the write lock (``holdWriteLock(of:)``) while it waits for pushes or
    /// enrollments to queue: the writer waits for the lock at least as long as the test's own safety net
    /// (``patience``). With the default 30 s, a full CI run loaded enough that queueing took longer (these tests ran
    /// 110–190 s there, 0.2 s alone) had the held writer give up, and the test fail for a reason it does not test.
    static let patient = ReplicaStore.Configuration(busyTimeout: 900)

    /// How long a test waits for a queue to get where it expects before it checks and lets the writer go: a safety
    /// net against a queue that never gets there, not a timing — each wait ends as soon as its condition holds.
    static let patience: Duration = .seconds(600)

    /// Another connection holding SQLite's write lock, as a long HQ command or a slow disk would; `ROLLBACK` on it
    /// lets the writer go.
    static func holdWriteLock(of path: String) async throws -> DatabaseQueue {
        var configuration = GRDB.Configuration()
        configuration.allowsUnsafeTransactions = true
        let holder = try DatabaseQueue(path: path, configuration: configuration)
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        return holder
    }

    /// `count` returns captured by the kiosk, each new to the server.
    static func newReturns(_ count: Int) throws -> [VersionedRecord] {
        try (0..<count).map { index in
            try SampleData.capturedReturn(
                by: kiosk,
                at: Date().addingTimeInterval(-60 + Double(index)),
                orderID: "ORD-\(index)"
            )
        }
    }

    /// A new server store at `path` where kiosks `k0` … `k<count - 1>` of store-1 each have an enrollment token, the
    /// token of `k<index>` with the key of 32 bytes `keyByte(index)`.
    static func server(at path: String, tokens count: Int, keyByte: (Int) -> Int) throws -> ReplicaStore {
        let store = try ReplicaStore.create(
            at: path,
            identity: .server(replicaID: ReplicaID("hq")),
            configuration: patient
        )
        for index in 0..<count {
            try store.createEnrollment(
                tokenHash: "token-\(index)",
                tokenKey: Data(repeating: UInt8(keyByte(index)), count: 32),
                store: storeID,
                kiosk: KioskID("k\(index)"),
                expiresAt: Date().addingTimeInterval(3_600)
            )
        }
        return store
    }

    /// Kiosk `k<index>` of store-1 enrolling with key `100 + index` (32 such bytes), its proof checked by `proves`:
    /// "enrolled", or the refusal as text.
    static func redeem(
        kiosk index: Int,
        in storage: SQLiteServerStorage,
        proves: @escaping @Sendable (_ tokenKey: Data) -> Bool
    ) -> Task<String, Never> {
        Task {
            do {
                try await storage.redeemEnrollment(
                    store: storeID,
                    kiosk: KioskID("k\(index)"),
                    publicKey: Data(repeating: UInt8(100 + index), count: 32),
                    proves: proves
                )
                return "enrolled"
            } catch {
                return "\(error)"
            }
        }
    }

    /// The one writer carries a name of its own (NIO names every pool's threads `TP-#N`), so that `top -H`, `perf`
    /// and `returns-bench`'s `serverWriterCPUMicrosecondsPerReturn` find it.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/task")))
    func theWriterThreadIsNamedForOperators() async throws {
        let directory = try TemporaryDirectory()
        let store = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let storage = SQLiteServerStorage(store)
        // A write runs on the writer after the naming, which was the first work submitted to it.
        try await storage.noteSync(of: "store-1/a", protocolVersion: 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { thread in
            try? String(contentsOfFile: "/proc/self/task/\(thread)/comm", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
        }
        #expect(names.contains(SQLiteServerStorage.writerThreadName), "\(Set(names).sorted())")
    }

    @Test func readsGoOnAndWritesWaitTogetherWhileTheWriterIsHeld() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hq.sqlite")
        let store = try ReplicaStore.create(
            at: path,
            identity: .server(replicaID: ReplicaID("hq")),
            configuration: Self.patient
        )
        try store.createEnrollment(
            tokenHash: "token",
            tokenKey: Data(repeating: 1, count: 32),
            store: Self.storeID,
            kiosk: KioskID("a"),
            expiresAt: Date().addingTimeInterval(3_600)
        )
        try store.redeemEnrollment(
            store: Self.storeID,
            kiosk: KioskID("a"),
            publicKey: Data(repeating: 2, count: 32),
            proves: { _ in true }
        )
        let storage = SQLiteServerStorage(store)

        let holder = try await Self.holdWriteLock(of: path)

        let acknowledged = Acknowledged()
        let records = try Self.newReturns(8)
        func push(_ record: VersionedRecord) -> Task<Int, any Error> {
            Task {
                let outcome = try await storage.acceptPush([record], from: Self.kiosk, store: Self.storeID)
                acknowledged.count.add(1, ordering: .sequentiallyConsistent)
                return outcome.merged
            }
        }
        // One push takes the writer, which waits for the lock; the other seven then wait for the writer.
        let deadline = ContinuousClock.now + Self.patience
        let first = push(records[0])
        while storage.groupCommit.transactions < 1 && ContinuousClock.now < deadline { await Task.yield() }
        let others = records.dropFirst().map(push)
        while storage.groupCommit.waiting < 7 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(storage.groupCommit.transactions == 1 && storage.groupCommit.waiting == 7)

        // A handshake's read is answered meanwhile, and nothing has been acknowledged: nothing is durable yet.
        let enrollment = try await storage.enrolledKiosk(Self.kiosk.rawValue)
        #expect(enrollment?.storeID == Self.storeID.rawValue)
        #expect(try await storage.lastChangeSeq() == 0)
        #expect(acknowledged.count.load(ordering: .sequentiallyConsistent) == 0)

        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        var merged = try await first.value
        for push in others { merged += try await push.value }
        #expect(merged == 8)
        #expect(acknowledged.count.load(ordering: .sequentiallyConsistent) == 8)
        // The seven that waited were committed in one transaction.
        #expect(storage.groupCommit.transactions == 2)
        #expect(try store.returnRecords().count == 8)
    }

    /// A fleet of new kiosks enrolling at once shares commits as pushes do: the enrollments that wait for the writer
    /// are committed in one transaction, each answered only after it, and a refused one (a wrong proof, no token)
    /// is refused alone.
    @Test func enrollmentsThatWaitForTheWriterShareOneCommitAndARefusalIsItsOwn() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hq.sqlite")
        // Kiosks k0…k6 have tokens; k7 has none. k3's proof will not verify.
        let store = try Self.server(at: path, tokens: 7) { $0 }
        let storage = SQLiteServerStorage(store)
        let holder = try await Self.holdWriteLock(of: path)

        func enroll(_ index: Int) -> Task<String, Never> {
            Self.redeem(kiosk: index, in: storage) { _ in index != 3 }
        }
        let deadline = ContinuousClock.now + Self.patience
        let first = enroll(0)
        while storage.groupCommit.transactions < 1 && ContinuousClock.now < deadline { await Task.yield() }
        let others = (1..<8).map(enroll)
        while storage.groupCommit.waiting < 7 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(storage.groupCommit.transactions == 1 && storage.groupCommit.waiting == 7)
        #expect(try await storage.enrolledKiosk("store-1/k0") == nil, "nothing is enrolled before it is durable")

        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        var answers = [await first.value]
        for task in others { answers.append(await task.value) }
        #expect(
            answers == [
                "enrolled", "enrolled", "enrolled",
                "the enrollment proof of kiosk store-1/k3 does not match its token",
                "enrolled", "enrolled", "enrolled",
                "no enrollment token is waiting for kiosk store-1/k7 (unknown, used or replaced)",
            ]
        )
        // The seven that waited were committed in one transaction.
        #expect(storage.groupCommit.transactions == 2)
        let enrolled = try store.enrolledKiosks()
        #expect(enrolled.map(\.kioskID).sorted() == ["k0", "k1", "k2", "k4", "k5", "k6"])
        #expect(
            enrolled.allSatisfy {
                $0.publicKey == Data(repeating: UInt8(100 + Int($0.kioskID.dropFirst())!), count: 32)
            }
        )
        // k3's token was left unused by its refusal: a right proof redeems it.
        try await storage.redeemEnrollment(
            store: Self.storeID,
            kiosk: KioskID("k3"),
            publicKey: Data(repeating: 103, count: 32),
            proves: { _ in true }
        )
        #expect(try await storage.enrolledKiosk("store-1/k3")?.publicKey == Data(repeating: 103, count: 32))
    }

    /// An enrolling kiosk's proof is verified before its redemption waits for the writer, not on the writer (which
    /// every push waits for): with the writer held, each proof has been checked by the time its redemption waits.
    /// The writer then only compares keys: a token replaced after the check is refused, as a proof that does not
    /// match it, and the other kiosk is enrolled.
    @Test func anEnrollmentsProofIsCheckedOffTheWriterAndATokenReplacedMeanwhileIsRefused() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hq.sqlite")
        let store = try Self.server(at: path, tokens: 2) { $0 + 1 }
        let storage = SQLiteServerStorage(store)
        let holder = try await Self.holdWriteLock(of: path)
        let checks = Acknowledged()
        func enroll(_ index: Int) -> Task<String, Never> {
            Self.redeem(kiosk: index, in: storage) { tokenKey in
                checks.count.add(1, ordering: .sequentiallyConsistent)
                return tokenKey == Data(repeating: UInt8(index + 1), count: 32)
            }
        }
        let deadline = ContinuousClock.now + Self.patience
        let first = enroll(0)
        while storage.groupCommit.transactions < 1 && ContinuousClock.now < deadline { await Task.yield() }
        let second = enroll(1)
        while storage.groupCommit.waiting < 1 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(storage.groupCommit.transactions == 1 && storage.groupCommit.waiting == 1)
        #expect(checks.count.load(ordering: .sequentiallyConsistent) == 2, "both proofs checked before the writer")

        // k1's token replaced (as `createEnrollment` does) by the connection holding the lock, then released.
        try await holder.writeWithoutTransaction { db in
            try db.execute(sql: "UPDATE enrollments SET revoked_at = 1 WHERE token_hash = 'token-1'")
            try db.execute(
                sql: """
                    INSERT INTO enrollments (token_hash, store_id, kiosk_id, created_at, token_key, expires_at)
                    VALUES ('token-1b', 'store-1', 'k1', ?, ?, ?)
                    """,
                arguments: [
                    Date().millisecondsSince1970 + 1, Data(repeating: 9, count: 32),
                    Date().addingTimeInterval(3_600).millisecondsSince1970,
                ]
            )
            try db.execute(sql: "COMMIT")
        }
        #expect(await first.value == "enrolled")
        #expect(await second.value == "the enrollment proof of kiosk store-1/k1 does not match its token")
        #expect(
            checks.count.load(ordering: .sequentiallyConsistent) == 2,
            "each proof checked once, not again on the writer"
        )
        #expect(try store.enrolledKiosks().map(\.kioskID) == ["k0"])
    }

    /// Pushes are prepared only when there is room: with room for two records (one record a transaction), a fourth
    /// push waits unprepared while the writer is held, and every push still completes once it is released.
    @Test func pushesBeyondTheRoomWaitUnpreparedAndAllComplete() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hq.sqlite")
        let store = try ReplicaStore.create(
            at: path,
            identity: .server(replicaID: ReplicaID("hq")),
            configuration: Self.patient
        )
        let storage = SQLiteServerStorage(store, groupRecords: 1)
        let holder = try await Self.holdWriteLock(of: path)
        let records = try Self.newReturns(4)
        func push(_ record: VersionedRecord) -> Task<Int, any Error> {
            Task { try await storage.acceptPush([record], from: Self.kiosk, store: Self.storeID).merged }
        }
        let deadline = ContinuousClock.now + Self.patience
        var tasks = [push(records[0])]
        while storage.groupCommit.transactions < 1 && ContinuousClock.now < deadline { await Task.yield() }
        tasks += records[1...2].map(push)
        while storage.groupCommit.waiting < 2 && ContinuousClock.now < deadline { await Task.yield() }
        tasks.append(push(records[3]))
        while storage.groupCommit.waitingForRoom < 1 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(storage.groupCommit.waiting == 2 && storage.groupCommit.waitingForRoom == 1)

        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        var merged = 0
        for task in tasks { merged += try await task.value }
        #expect(merged == 4 && storage.groupCommit.waitingForRoom == 0)
        #expect(try store.returnRecords().count == 4)
    }

    /// A new server store in `directory` and a group commit queue over it on a writer thread of its own (started;
    /// the test shuts it down), whose log syncs go through `syncLog`, given the store.
    static func queue(
        in directory: TemporaryDirectory,
        syncRetryInterval: TimeAmount,
        syncLog: @escaping @Sendable (ReplicaStore) throws -> Void
    ) throws -> (ReplicaStore, NIOThreadPool, GroupCommitQueue) {
        let store = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let writer = NIOThreadPool(numberOfThreads: 1)
        writer.start()
        let queue = GroupCommitQueue(
            store: store,
            writer: writer,
            syncLog: { try syncLog(store) },
            syncRetryInterval: syncRetryInterval
        )
        return (store, writer, queue)
    }

    /// Stands for the log's sync: the sync thread stops here until the test lets it go on, failing or syncing.
    final class LogSyncGate: Sendable {
        struct Failed: Error {}
        let reached: AsyncStream<Void>
        private let arrived: AsyncStream<Void>.Continuation
        private let release = DispatchSemaphore(value: 0)
        private let failing = Mutex(false)

        init() { (reached, arrived) = AsyncStream.makeStream() }

        /// On the sync thread: waits to be let go, then fails or syncs `store`'s log.
        func pass(_ store: ReplicaStore) throws {
            arrived.yield()
            release.wait()
            if failing.withLock({ $0 }) { throw Failed() }
            try store.syncLog()
        }

        func letGo(failing fails: Bool) {
            failing.withLock { $0 = fails }
            release.signal()
        }
    }

    /// The writer commits a group without waiting for the disk and a thread of its own syncs the log: a push is
    /// answered only once that sync has returned, the feed hands out none of it before, and a failed sync answers
    /// the push with its failure — the kiosk pushes again, and what was stored merges as unchanged.
    @Test func aPushIsAnsweredOnlyOnceTheLogIsSyncedAndAFailedSyncAnswersItWithTheFailure() async throws {
        let directory = try TemporaryDirectory()
        let gate = LogSyncGate()
        // No retry of the failed sync within the test: the gate stops every sync until let go.
        let (store, writer, queue) = try Self.queue(in: directory, syncRetryInterval: .hours(1)) { store in
            try gate.pass(store)
        }
        var syncing = gate.reached.makeAsyncIterator()
        let acknowledged = Acknowledged()
        let records = try Self.newReturns(4)
        func push(_ records: [VersionedRecord]) -> Task<PushOutcome, any Error> {
            Task {
                let outcome = try await queue.push(records, from: Self.kiosk, store: Self.storeID)
                acknowledged.count.add(1, ordering: .sequentiallyConsistent)
                return outcome
            }
        }

        let first = push(Array(records[0..<2]))
        await syncing.next()
        // Committed, not synced: readable, not answered, not in the feed.
        #expect(try store.returnRecords().count == 2)
        #expect(acknowledged.count.load(ordering: .sequentiallyConsistent) == 0)
        #expect(try store.encodedFeed(store: Self.storeID, after: 0, limit: 100).records.isEmpty)
        gate.letGo(failing: true)
        await #expect(throws: LogSyncGate.Failed.self) { try await first.value }
        #expect(acknowledged.count.load(ordering: .sequentiallyConsistent) == 0)
        #expect(try store.encodedFeed(store: Self.storeID, after: 0, limit: 100).records.isEmpty, "still not synced")

        let again = push(records)
        await syncing.next()
        #expect(try store.encodedFeed(store: Self.storeID, after: 0, limit: 100).records.isEmpty)
        gate.letGo(failing: false)
        let outcome = try await again.value
        #expect(outcome.merged == 2 && outcome.unchanged == 2)
        #expect(acknowledged.count.load(ordering: .sequentiallyConsistent) == 1)
        let feed = try store.encodedFeed(store: Self.storeID, after: 0, limit: 100)
        let newest = try store.lastChangeSeq()
        #expect(feed.records.count == 4 && feed.next == newest)
        #expect(queue.syncs == 2 && queue.transactions == 2)
        try await writer.shutdownGracefully()
    }

    /// A failed sync is tried again on its own: with nothing more pushed, the feed still hands the group out once a
    /// later sync succeeds, instead of withholding it (and everything after it) for good.
    @Test func aFailedSyncIsTriedAgainUntilTheFeedHandsTheGroupOut() async throws {
        struct Failed: Error {}
        let directory = try TemporaryDirectory()
        let attempts = Atomic(0)
        let (store, writer, queue) = try Self.queue(in: directory, syncRetryInterval: .milliseconds(1)) { store in
            if attempts.add(1, ordering: .sequentiallyConsistent).oldValue == 0 { throw Failed() }
            try store.syncLog()
        }
        await #expect(throws: Failed.self) {
            try await queue.push(try Self.newReturns(2), from: Self.kiosk, store: Self.storeID)
        }
        // A safety net, not a timing: the wait ends as soon as the retry has synced the log.
        let deadline = ContinuousClock.now + Self.patience
        while try store.encodedFeed(store: Self.storeID, after: 0, limit: 100).records.isEmpty,
            ContinuousClock.now < deadline
        {
            await Task.yield()
        }
        #expect(try store.encodedFeed(store: Self.storeID, after: 0, limit: 100).records.count == 2)
        #expect(attempts.load(ordering: .sequentiallyConsistent) >= 2 && queue.syncs >= 2)
        try await writer.shutdownGracefully()
    }
}
