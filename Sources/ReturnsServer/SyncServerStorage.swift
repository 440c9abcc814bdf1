import Foundation
import HQAccess
import NIOCore
import NIOPosix
import ReplicaStore
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine

/// Everything the sync server needs from its storage, and nothing more.
///
/// Asynchronous, because storage waits: a SQLite file's fsync (``SQLiteServerStorage`` runs those calls on threads of
/// its own), a PostgreSQL server's answers. Every method is one transaction, durable when it returns.
public protocol SyncServerStorage: Sendable {
    /// The server's replica id, sent in challenges and bound into signatures.
    var serverReplicaID: ReplicaID { get }

    /// The enrolled kiosk with this replica id, if any.
    func enrolledKiosk(_ replicaID: String) async throws -> KioskEnrollment?

    /// Redeems the kiosk's pending enrollment token when `proves` accepts the token's public key, and records the
    /// kiosk's public key (replacing an earlier one, lifting a revocation), atomically. A token is redeemed once,
    /// however many server processes try at the same time.
    ///
    /// - Throws: ``EnrollmentRefused`` when the kiosk has no usable token or the proof does not verify.
    func redeemEnrollment(
        store: StoreID,
        kiosk: KioskID,
        publicKey: Data,
        proves: @escaping @Sendable (_ tokenKey: Data) -> Bool
    ) async throws

    /// Records a new enrollment token for a kiosk — its hash and the public key it derives, never the secret —
    /// valid until `expiresAt`; the kiosk's earlier unused tokens stop working.
    func createEnrollment(
        tokenHash: String,
        tokenKey: Data,
        store: StoreID,
        kiosk: KioskID,
        expiresAt: Date
    ) async throws

    /// The replica ids of revoked kiosks: the server closes their connections.
    func revokedKiosks() async throws -> Set<String>

    /// The seed of the server's Ed25519 identity key, made on first use.
    func serverIdentitySeed() async throws -> Data

    /// Merges a pushed batch all or nothing; throws ``PushRejection`` for a record that may not be stored.
    func acceptPush(_ records: [VersionedRecord], from pusher: ReplicaID, store: StoreID) async throws -> PushOutcome

    /// Starts merging a pushed batch as ``acceptPush(_:from:store:)`` does: returns once the push has its place in
    /// the order of commits, and calls `completion` with its outcome once it is durable (or refused).
    ///
    /// A connection's pipelined pushes go through this one after the other: each is committed after the ones
    /// started before it, and the session reads the next request meanwhile.
    func enqueuePush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID,
        completion: @escaping @Sendable (Result<PushOutcome, any Error>) -> Void
    ) async

    /// About how long the pushes waiting now would take to commit; `nil` when the storage cannot tell (the server
    /// then never refuses a push as `server-busy`).
    var pushBacklog: TimeAmount? { get }

    /// The store's change feed after `cursor`, leaving out versions `requester` pushed and holds already; each
    /// record in its JSON form (Protocol/SPEC.md §6), sent as it is.
    func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?
    ) async throws -> (records: [String], next: Int64, more: Bool)

    /// About how many records of the store's feed wait after `cursor` (at least as many as the feed will send), for
    /// a kiosk's progress display.
    func feedEstimate(store: StoreID, after cursor: Int64) async throws -> Int

    /// What a `pull` answers: ``encodedFeed(store:after:limit:requester:)`` and, when `estimating`,
    /// ``feedEstimate(store:after:)``. A storage that can read both in one trip does (the default reads them one
    /// after the other).
    func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?,
        estimating: Bool
    ) async throws -> (records: [String], next: Int64, more: Bool, estimate: Int?)

    /// The returns of `store` among `ids`, whole (a kiosk's `fetch`); another store's are left out like unknown ones.
    func storeReturns(_ ids: [ReturnID], store: StoreID) async throws -> [VersionedRecord]

    /// Notes that a kiosk completed a sync, speaking protocol version `protocolVersion`.
    func noteSync(of replicaID: String, protocolVersion: Int) async throws

    /// What the server holds of attachment `digest` when a return of `store` names it; `nil` when none does (or only
    /// another store's return does).
    func attachmentState(_ digest: String, store: StoreID) async throws -> AttachmentState?

    /// Stores a chunk of attachment `digest` sent by a kiosk of `store`, checked by ``AttachmentRules`` in the same
    /// transaction, durable when it returns; once the last byte is in, all of them are checked against the digest.
    ///
    /// - Throws: the ``ProtocolError`` to answer (`unknown-attachment`, `chunk-out-of-order`, `limit-exceeded`,
    ///   `digest-mismatch` after dropping what was held).
    func appendAttachmentChunk(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        bytes: Data
    ) async throws -> AttachmentState

    /// Up to `limit` bytes of the complete attachment `digest` from `offset`, for a kiosk of `store`.
    ///
    /// - Throws: the ``ProtocolError`` to answer (`unknown-attachment`, `attachment-unavailable`, `limit-exceeded`).
    func attachmentData(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        limit: Int
    ) async throws -> (state: AttachmentState, bytes: Data)

    /// The latest change's sequence number the feed may hand out: grows with every committed change, by this process
    /// or another (an HQ command), so the server learns of changes to push live to watching kiosks. On SQLite it stops
    /// short of a group committed and not yet synced (``ReplicaStore/feedFrontier()``), and grows again when the
    /// sync returns: a change a watching kiosk's check found held back wakes it then. Also the health check's read.
    func lastChangeSeq() async throws -> Int64

    /// The storage's size on disk in bytes, for the database-size metric.
    func storageSize() async throws -> Int64

    /// Whether the storage tells of committed changes itself (``watchChanges(_:)``); otherwise the server polls
    /// ``lastChangeSeq()`` while kiosks wait.
    var notifiesChanges: Bool { get }

    /// Calls `changed` with the store of every change committed from now on, by any process (`nil`: any store may
    /// have changed, as after a lost connection), until the task is cancelled.
    func watchChanges(_ changed: @escaping @Sendable (_ store: String?) -> Void) async throws
}

extension SyncServerStorage {
    public func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?,
        estimating: Bool
    ) async throws -> (records: [String], next: Int64, more: Bool, estimate: Int?) {
        let page = try await encodedFeed(store: store, after: cursor, limit: limit, requester: requester)
        let estimate = estimating ? try await feedEstimate(store: store, after: cursor) : nil
        return (page.records, page.next, page.more, estimate)
    }
}

extension SyncServerStorage {
    /// By default the push is merged before this returns, so pushes started one after the other commit in order.
    public func enqueuePush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID,
        completion: @escaping @Sendable (Result<PushOutcome, any Error>) -> Void
    ) async {
        do {
            completion(.success(try await acceptPush(records, from: pusher, store: store)))
        } catch {
            completion(.failure(error))
        }
    }

    /// By default the storage cannot tell: each push waits its turn however long the queue (PostgreSQL: every
    /// `serve` process commits its own pushes, and the database queues them).
    public var pushBacklog: TimeAmount? { nil }

    /// By default the server polls.
    public var notifiesChanges: Bool { false }

    /// By default nothing tells: returns at once.
    public func watchChanges(_ changed: @escaping @Sendable (_ store: String?) -> Void) async throws {}
}

/// Everything HQ asks of its storage, SQLite or PostgreSQL: what the server's commands and its console use.
public typealias ServerStorage = SyncServerStorage & KioskAdministration & ReportSource & ReturnAdministration
    & ReferenceAdministration & ClockAdministration & AttachmentAdministration & UserAdministration

/// What an operator does to the enrolled kiosks (`returns-server kiosks`), on whichever storage the server uses.
public protocol KioskAdministration: Sendable {
    /// Every enrolled kiosk, by replica id.
    func enrolledKiosks() async throws -> [KioskEnrollment]

    /// Revokes kiosk `kiosk` of store `store`: refused from now on, its pending tokens void; a new token lifts it.
    ///
    /// - Throws: an error naming the kiosk when none such is enrolled.
    func revokeKiosk(store: StoreID, kiosk: KioskID) async throws
}

/// What HQ's `returns` commands read and edit, on whichever storage the server uses. Edits are HQ's, under the
/// server's replica id, and reach the kiosks of the return's store at their next pull (or at once, watching).
public protocol ReturnAdministration: ReturnEditing {
    /// The records of every return, oldest first; only `store`'s when given.
    func returnRecords(store: StoreID?) async throws -> [VersionedRecord]

    /// The returns `search` finds among every store's, oldest first, with their short ids; with `records`, each
    /// return's record comes along.
    func findReturns(_ search: ReturnSearch, records: Bool) async throws -> ReturnSearchResult

    /// One return's record.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id.
    func returnRecord(_ id: ReturnID) async throws -> VersionedRecord

    /// Every recall campaign the server holds.
    func recallCampaigns() async throws -> [RecallCampaign]

    /// The conflict audit, oldest first: every conflict a merge on the server detected, and whether it is open.
    func conflictAudit() async throws -> [ConflictAuditEntry]

    /// The conflict audit's entries after entry `id` (``ConflictAuditEntry/id``), oldest first, at most `limit`:
    /// what a download reads page by page (the audit keeps every settled conflict for as long as HQ runs).
    func conflictAudit(after id: Int64, limit: Int) async throws -> [ConflictAuditEntry]

    /// The open conflicts of returns, oldest first, read from the returns shown in conflict rather than from the
    /// whole audit: what the console's conflicts page shows at every view.
    func openReturnConflicts() async throws -> [ConflictAuditEntry]

    /// Settles an open conflict as an HQ edit (``ReplicaStore/resolveConflict(_:field:value:operatorID:)`` says how),
    /// recorded as `operatorID`'s when given.
    func resolveConflict(
        _ id: ReturnID,
        field: String,
        value: String,
        operatorID: OperatorID?
    ) async throws -> ConflictSettlement

    /// The returns waiting for HQ's decision on their exceptions, oldest first.
    func reviewQueue() async throws -> [VersionedRecord]

    /// The step writes later writes replaced, of the returns `ids`, by return id: kept as versions arrived, for the
    /// EPCIS export's full story of each return.
    func supersededSteps(of ids: [String]) async throws -> [String: [SupersededStep]]
}

/// HQ's reference data — recall campaigns and return policies, which every store receives, and order lines, which
/// their store receives — on whichever storage the server uses.
public protocol ReferenceAdministration: Sendable {
    /// Applies an HQ edit of a recall campaign or a return policy; every store's kiosks receive it.
    @discardableResult
    func write(_ edit: GlobalEdit) async throws -> VersionedRecord

    /// The return policies in force, by store (all-stores first) and prefix.
    func returnPolicies() async throws -> [ReturnPolicy]

    /// Every store's settings record (time zone, GLN), by store id.
    func storeRecords() async throws -> [VersionedRecord]

    /// Imports order lines at HQ, all or nothing; each store's kiosks receive their store's lines.
    func importOrders(_ lines: [OrderLine]) async throws -> OrderImportOutcome

    /// The order lines held, by order id and line; only `store`'s when given.
    func orderLines(store: StoreID?) async throws -> [OrderLine]

    /// The first `limit` order lines held, by order id and line, and how many are held in all: a page of them,
    /// without reading the others (HQ may hold millions).
    func orderLines(first limit: Int) async throws -> (lines: [OrderLine], total: Int)

    /// At most `limit` order lines after `last` (`nil`: from the first) by order id, line and store: what a download
    /// of every line reads page by page, never all of them at once.
    func orderLines(after last: OrderLine?, limit: Int) async throws -> [OrderLine]
}

extension ReferenceAdministration {
    /// The time zones HQ set for stores; UTC for the others.
    public func storeTimeZones() async throws -> StoreTimeZones {
        StoreTimeZones.decoding(try await storeRecords())
    }
}

/// HQ's clock next to the wall clock, and the way out after a stamp from the future got in (`returns-server clock`),
/// on whichever storage the server uses.
public protocol ClockAdministration: Sendable {
    /// HQ's clock, the wall clock, and the records holding stamps from the future.
    func clockState() async throws -> ClockState

    /// Sets HQ's clock back to the wall clock and writes again the values stamped from the future.
    func repairClock() async throws -> ClockRepair
}

/// The attachments HQ's returns name and their bytes (`returns-server attachments`), on whichever storage the server
/// uses.
public protocol AttachmentAdministration: Sendable {
    /// The attachments the returns name, by digest, with what the server holds of each; only `store`'s when given,
    /// only those not held whole with `missing`.
    func attachmentListing(store: StoreID?, missing: Bool) async throws -> [AttachmentListing]

    /// Writes the bytes of attachment `digest` to `sink` chunk by chunk, checked against the digest as they go.
    ///
    /// - Returns: its media type and size; `nil` when the server does not hold all of its bytes.
    func streamAttachment(
        _ digest: String,
        to sink: @escaping @Sendable (Data) throws -> Void
    ) async throws -> (mediaType: String, size: Int64)?
}

/// HQ's console users and the audit of their changes (`returns-server users`; issue 21), on whichever storage the
/// server uses. The rules (unique names, the last admin stays) are ``HQUserRules``', applied inside each change's
/// transaction; each change commits with its audit line.
public protocol UserAdministration: Sendable {
    /// Every HQ user, by name.
    func hqUsers() async throws -> [HQUser]

    /// Adds `user`, audited as `actor`'s.
    ///
    /// - Throws: ``HQAccessError`` when the name is taken.
    func addHQUser(_ user: HQUser, by actor: String) async throws

    /// Removes user `name`, audited as `actor`'s.
    ///
    /// - Throws: ``HQAccessError`` for an unknown user, or the last admin.
    func removeHQUser(_ name: HQUserName, by actor: String) async throws

    /// Replaces user `name`'s password hash, audited as `actor`'s.
    ///
    /// - Throws: ``HQAccessError`` for an unknown user.
    func setHQUserPassword(_ name: HQUserName, hash: String, by actor: String) async throws

    /// The newest `limit` lines of the audit, oldest first.
    func hqAudit(limit: Int) async throws -> [HQAuditEntry]

    /// At most `limit` lines of the audit after line `number` (0: from the first), oldest first, each with its
    /// number: what a download of the whole audit reads page by page, never all of it at once.
    func hqAudit(after number: Int64, limit: Int) async throws -> [(number: Int64, entry: HQAuditEntry)]

    /// How many sign-ins from `address` were refused at or after `since` (the audit's `sign-in-refused` lines).
    func failedSignIns(from address: String, since: Date) async throws -> Int

    /// Adds a line to the audit: a console user's action (a settled conflict, a decided review, …), recorded after
    /// the action itself committed.
    func recordHQAudit(_ entry: HQAuditEntry) async throws

    /// User `name` and their sign-in state; `nil` for a name nobody has.
    func hqSignInState(_ name: HQUserName) async throws -> (user: HQUser, state: SignInState)?

    /// Counts a wrong password for `user` (when the name exists), locking the account at the policy's limit in
    /// one statement (``HQSignInSQL/countFailure(placeholders:)``); audits the attempt as `typed` from `address`.
    func recordFailedSignIn(
        typed: String,
        user: HQUserName?,
        address: String,
        at now: Date,
        policy: SignInPolicy
    ) async throws

    /// Opens a session stored by the hash of its secret, clears the user's failures, removes sessions that are
    /// over, and audits the sign-in.
    func startHQSession(
        _ tokenHash: String,
        for user: HQUserName,
        address: String,
        at now: Date,
        policy: SignInPolicy
    )
        async throws

    /// The session stored under `tokenHash`, live or not.
    func hqSession(_ tokenHash: String) async throws -> HQSession?

    /// Notes a session's use at `now`.
    func touchHQSession(_ tokenHash: String, at now: Date) async throws

    /// Ends a session (sign-out), audited.
    func endHQSession(_ tokenHash: String, at now: Date) async throws
}

/// Why an enrollment was refused (no usable token, an expired one, a proof that does not verify), in words the
/// kiosk's operator is shown.
public struct EnrollmentRefused: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// The SQLite server storage: a ``ReplicaStore``, whose calls block (SQLite, fsync) and so run on threads of their
/// own rather than on Swift's cooperative pool, which has only as many threads as cores.
///
/// Reads and writes have threads of their own: SQLite in WAL mode lets readers go on while a transaction commits,
/// so a kiosk's handshake (its key, a read) never queues behind other kiosks' pushes. Writes run on one thread — a
/// SQLite database has one writer at a time anyway — where the pushes, sync notes and enrollments of concurrent
/// syncs that arrived while the previous transaction committed are committed together (``GroupCommitQueue``): one
/// fsync for all, each acknowledged only after it.
public final class SQLiteServerStorage: SyncServerStorage, KioskAdministration, ReportSource, ReturnAdministration,
    ReferenceAdministration, ClockAdministration, AttachmentAdministration, UserAdministration
{
    /// The store.
    public let store: ReplicaStore
    private let readers: NIOThreadPool
    private let writer: NIOThreadPool
    /// Where pushes and sync notes wait for the writer.
    public let groupCommit: GroupCommitQueue

    /// Serves `store`, its reads on `readers` threads, its writes on one more.
    ///
    /// - Parameter groupRecords: about how many pushed records one group commit holds at most.
    public init(_ store: ReplicaStore, readers: Int = 4, groupRecords: Int = GroupCommitQueue.defaultMaximumRecords) {
        self.store = store
        self.readers = NIOThreadPool(numberOfThreads: readers)
        self.writer = NIOThreadPool(numberOfThreads: 1)
        self.readers.start()
        self.writer.start()
        // Named before anything else runs on it: NIO names every pool's threads `TP-#N`, so the one writer — the
        // thread a busy server's throughput rests on — could not be told from the first reader in `top -H`, `perf`
        // or `returns-bench`'s figures.
        writer.submit { _ in Self.nameCurrentThread(Self.writerThreadName) }
        groupCommit = GroupCommitQueue(store: store, writer: writer, maximumRecords: groupRecords)
    }

    /// The name of the thread that runs every write (at most 15 characters: the kernel's limit).
    public static let writerThreadName = "returns-writer"

    /// Names the calling thread, on Linux (where a thread may rename itself through `/proc/thread-self/comm`; Swift
    /// does not import glibc's `pthread_setname_np`). Nowhere else, and quietly when it cannot: a name is an aid.
    private static func nameCurrentThread(_ name: String) {
        #if os(Linux)
        try? name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
        #endif
    }

    deinit {
        readers.shutdownGracefully { _ in }
        writer.shutdownGracefully { _ in }
    }

    public var serverReplicaID: ReplicaID { store.identity.replicaID }

    /// Runs `body`, which only reads, on the reader threads.
    private func onReader<T: Sendable>(_ body: @escaping @Sendable (ReplicaStore) throws -> T) async throws -> T {
        let store = self.store
        return try await readers.runIfActive { try body(store) }
    }

    /// Runs `body`, which writes, on the writer thread.
    private func onWriter<T: Sendable>(_ body: @escaping @Sendable (ReplicaStore) throws -> T) async throws -> T {
        let store = self.store
        return try await writer.runIfActive { try body(store) }
    }

    public func enrolledKiosk(_ replicaID: String) async throws -> KioskEnrollment? {
        try await onReader { try $0.enrolledKiosk(replicaID) }
    }

    public func redeemEnrollment(
        store: StoreID,
        kiosk: KioskID,
        publicKey: Data,
        proves: @escaping @Sendable (_ tokenKey: Data) -> Bool
    ) async throws {
        do {
            // The proof is verified here, against the tokens' keys read on a reader, not in the transaction: the
            // writer, which every push waits for, verified an Ed25519 signature per enrolling kiosk. The writer then
            // only compares the token it finds with the keys that verified: a token replaced meanwhile is not
            // among them, and is refused as a proof that does not match.
            let tokenKeys = try await onReader { try $0.pendingEnrollmentKeys(store: store, kiosk: kiosk) }
            let verified = tokenKeys.filter(proves)
            // With the pushes and the other kiosks' enrollments waiting: one commit for all of them.
            let redemption = EnrollmentRedemption(store: store, kiosk: kiosk, publicKey: publicKey) {
                verified.contains($0)
            }
            _ = try await groupCommit.submit(.redeemEnrollment(redemption))
        } catch let error as ReplicaStoreError where error.code == .notFound || error.code == .wrongStore {
            throw EnrollmentRefused(error.message)
        }
    }

    public func createEnrollment(
        tokenHash: String,
        tokenKey: Data,
        store: StoreID,
        kiosk: KioskID,
        expiresAt: Date
    ) async throws {
        try await onWriter {
            try $0.createEnrollment(
                tokenHash: tokenHash,
                tokenKey: tokenKey,
                store: store,
                kiosk: kiosk,
                expiresAt: expiresAt
            )
        }
    }

    public func revokedKiosks() async throws -> Set<String> { try await onReader { try $0.revokedKiosks() } }

    public func serverIdentitySeed() async throws -> Data { try await onWriter { try $0.serverIdentitySeed() } }

    public func acceptPush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID
    ) async throws -> PushOutcome {
        try await groupCommit.push(records, from: pusher, store: store)
    }

    public func enqueuePush(
        _ records: [VersionedRecord],
        from pusher: ReplicaID,
        store: StoreID,
        completion: @escaping @Sendable (Result<PushOutcome, any Error>) -> Void
    ) async {
        await groupCommit.enqueuePush(records, from: pusher, store: store, completion: completion)
    }

    public var pushBacklog: TimeAmount? { groupCommit.backlog }

    public func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?
    ) async throws -> (records: [String], next: Int64, more: Bool) {
        try await onReader { try $0.encodedFeed(store: store, after: cursor, limit: limit, requester: requester) }
    }

    public func feedEstimate(store: StoreID, after cursor: Int64) async throws -> Int {
        try await onReader { try $0.feedEstimate(store: store, after: cursor) }
    }

    public func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?,
        estimating: Bool
    ) async throws -> (records: [String], next: Int64, more: Bool, estimate: Int?) {
        // One trip to a reader and one snapshot for both: an idle sync's pull is this one call.
        try await onReader {
            try $0.encodedFeed(store: store, after: cursor, limit: limit, requester: requester, estimating: estimating)
        }
    }

    public func storeReturns(_ ids: [ReturnID], store: StoreID) async throws -> [VersionedRecord] {
        try await onReader { try $0.storeReturns(ids, store: store) }
    }

    public func noteSync(of replicaID: String, protocolVersion: Int) async throws {
        _ = try await groupCommit.submit(.noteSync(replicaID: replicaID, protocolVersion: protocolVersion))
    }

    public func lastChangeSeq() async throws -> Int64 { try await onReader { try $0.feedFrontier() } }

    public func attachmentState(_ digest: String, store: StoreID) async throws -> AttachmentState? {
        try await onReader { try $0.attachmentState(digest, store: store) }
    }

    public func appendAttachmentChunk(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        bytes: Data
    ) async throws -> AttachmentState {
        try await onWriter { try $0.appendAttachmentChunk(digest, store: store, offset: offset, bytes: bytes) }
    }

    public func attachmentData(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        limit: Int
    ) async throws -> (state: AttachmentState, bytes: Data) {
        try await onReader { try $0.attachmentData(digest, store: store, offset: offset, limit: limit) }
    }

    public func attachmentListing(store: StoreID?, missing: Bool) async throws -> [AttachmentListing] {
        try await onReader { try $0.attachmentStates(store: store, missing: missing) }
    }

    public func streamAttachment(
        _ digest: String,
        to sink: @escaping @Sendable (Data) throws -> Void
    ) async throws -> (mediaType: String, size: Int64)? {
        try await onReader { try $0.streamAttachment(digest, to: sink) }
    }

    public func storageSize() async throws -> Int64 { try await onReader { try $0.storageSize() } }

    public func enrolledKiosks() async throws -> [KioskEnrollment] { try await onReader { try $0.enrolledKiosks() } }

    public func readReport(_ statements: [String: String]) async throws -> [String: [ReportRow]] {
        try await onReader { try $0.readReportRows(statements) }
    }

    public func reportTime() -> Date { store.reportTime() }

    public func editReturn(
        _ id: ReturnID,
        operation: String,
        operatorID: OperatorID?,
        _ body: @escaping @Sendable (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) async throws -> ProductReturn {
        try await onWriter { try $0.updateReturn(id, operation: operation, operatorID: operatorID, body) }
    }

    public func returnRecords(store: StoreID?) async throws -> [VersionedRecord] {
        try await onReader { try $0.returnRecords(store: store) }
    }

    public func returnRecord(_ id: ReturnID) async throws -> VersionedRecord {
        try await onReader { try $0.returnRecord(id) }
    }

    public func supersededSteps(of ids: [String]) async throws -> [String: [SupersededStep]] {
        try await onReader { try $0.supersededSteps(of: ids) }
    }

    public func findReturns(_ search: ReturnSearch, records: Bool) async throws -> ReturnSearchResult {
        try await onReader { try $0.findReturns(search, records: records) }
    }

    public func returnIDs(withPrefix prefix: String, limit: Int) async throws -> [ReturnID] {
        try await onReader { try $0.returnIDs(withPrefix: prefix, limit: limit) }
    }

    public func refundTerms(of id: ReturnID) async throws -> RefundTerms {
        try await onReader { try $0.refundTerms(of: id) }
    }

    public func recallCampaigns() async throws -> [RecallCampaign] { try await onReader { try $0.recalls() } }

    public func conflictAudit() async throws -> [ConflictAuditEntry] { try await onReader { try $0.conflictAudit() } }

    public func conflictAudit(after id: Int64, limit: Int) async throws -> [ConflictAuditEntry] {
        try await onReader { try $0.conflictAudit(after: id, limit: limit) }
    }

    public func openReturnConflicts() async throws -> [ConflictAuditEntry] {
        try await onReader { try $0.openReturnConflicts() }
    }

    public func resolveConflict(
        _ id: ReturnID,
        field: String,
        value: String,
        operatorID: OperatorID?
    ) async throws -> ConflictSettlement {
        try await onWriter { try $0.resolveConflict(id, field: field, value: value, operatorID: operatorID) }
    }

    public func reviewQueue() async throws -> [VersionedRecord] { try await onReader { try $0.reviewQueue() } }

    @discardableResult
    public func write(_ edit: GlobalEdit) async throws -> VersionedRecord { try await onWriter { try $0.write(edit) } }

    public func returnPolicies() async throws -> [ReturnPolicy] { try await onReader { try $0.returnPolicies() } }
    public func storeRecords() async throws -> [VersionedRecord] { try await onReader { try $0.storeRecords() } }

    public func clockState() async throws -> ClockState { try await onReader { try $0.clockState() } }

    public func hqUsers() async throws -> [HQUser] { try await onReader { try $0.hqUsers() } }

    public func addHQUser(_ user: HQUser, by actor: String) async throws {
        try await onWriter { try $0.addHQUser(user, by: actor) }
    }

    public func removeHQUser(_ name: HQUserName, by actor: String) async throws {
        try await onWriter { try $0.removeHQUser(name, by: actor) }
    }

    public func setHQUserPassword(_ name: HQUserName, hash: String, by actor: String) async throws {
        try await onWriter { try $0.setHQUserPassword(name, hash: hash, by: actor) }
    }

    public func hqAudit(limit: Int) async throws -> [HQAuditEntry] {
        try await onReader { try $0.hqAudit(limit: limit) }
    }

    public func hqAudit(after number: Int64, limit: Int) async throws -> [(number: Int64, entry: HQAuditEntry)] {
        try await onReader { try $0.hqAudit(after: number, limit: limit) }
    }

    public func failedSignIns(from address: String, since: Date) async throws -> Int {
        try await onReader { try $0.failedSignIns(from: address, since: since) }
    }

    public func recordHQAudit(_ entry: HQAuditEntry) async throws {
        try await onWriter { try $0.recordHQAudit(entry) }
    }

    public func hqSignInState(_ name: HQUserName) async throws -> (user: HQUser, state: SignInState)? {
        try await onReader { try $0.hqSignInState(name) }
    }

    public func recordFailedSignIn(
        typed: String,
        user: HQUserName?,
        address: String,
        at now: Date,
        policy: SignInPolicy
    ) async throws {
        try await onWriter {
            try $0.recordFailedSignIn(typed: typed, user: user, address: address, at: now, policy: policy)
        }
    }

    public func startHQSession(
        _ tokenHash: String,
        for user: HQUserName,
        address: String,
        at now: Date,
        policy: SignInPolicy
    ) async throws {
        try await onWriter { try $0.startHQSession(tokenHash, for: user, address: address, at: now, policy: policy) }
    }

    public func hqSession(_ tokenHash: String) async throws -> HQSession? {
        try await onReader { try $0.hqSession(tokenHash) }
    }

    public func touchHQSession(_ tokenHash: String, at now: Date) async throws {
        try await onWriter { try $0.touchHQSession(tokenHash, at: now) }
    }

    public func endHQSession(_ tokenHash: String, at now: Date) async throws {
        try await onWriter { try $0.endHQSession(tokenHash, at: now) }
    }

    public func repairClock() async throws -> ClockRepair { try await onWriter { try $0.repairClock(supersede: true) } }

    public func importOrders(_ lines: [OrderLine]) async throws -> OrderImportOutcome {
        try await onWriter { try $0.importOrders(lines) }
    }

    public func orderLines(store: StoreID?) async throws -> [OrderLine] {
        try await onReader { try $0.orderLines(store: store) }
    }

    public func orderLines(first limit: Int) async throws -> (lines: [OrderLine], total: Int) {
        try await onReader { try $0.orderLines(first: limit) }
    }

    public func orderLines(after last: OrderLine?, limit: Int) async throws -> [OrderLine] {
        try await onReader { try $0.orderLines(after: last, limit: limit) }
    }

    public func revokeKiosk(store: StoreID, kiosk: KioskID) async throws {
        try await onWriter { try $0.revokeKiosk(store: store, kiosk: kiosk) }
    }
}
