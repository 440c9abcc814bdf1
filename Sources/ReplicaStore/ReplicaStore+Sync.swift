import Foundation
import GRDB
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine

/// A kiosk's sync settings: the server, and the key that proves who the kiosk is.
public struct SyncCredentials: Hashable, Sendable {
    /// The server, `HOST:PORT`.
    public var server: String
    /// The one-time enrollment token, until the kiosk has enrolled.
    public var token: String?
    /// The kiosk's Ed25519 private key, raw.
    public var privateKey: Data
    /// When the server accepted the kiosk's key.
    public var enrolledAt: Date?
    /// The certificates (PEM) of the CA the kiosk trusts to sign the server's TLS certificate; `nil`: plain TCP.
    public var trustedCAPEM: String?
    /// The server's replica id at the last sync; a different one means the server was restored from a backup.
    public var serverID: String?
    /// The fingerprint (SHA-256, hex) of the server's Ed25519 key, from the enrollment token: the kiosk syncs only
    /// with a server that proves it holds that key.
    public var serverKeyFingerprint: String?

    /// Creates credentials.
    public init(
        server: String,
        token: String?,
        privateKey: Data,
        enrolledAt: Date? = nil,
        trustedCAPEM: String? = nil,
        serverID: String? = nil,
        serverKeyFingerprint: String? = nil
    ) {
        self.server = server
        self.token = token
        self.privateKey = privateKey
        self.enrolledAt = enrolledAt
        self.trustedCAPEM = trustedCAPEM
        self.serverID = serverID
        self.serverKeyFingerprint = serverKeyFingerprint
    }
}

/// An enrolled kiosk, as the server knows it.
public struct KioskEnrollment: Hashable, Sendable {
    public var replicaID: String
    public var storeID: String
    public var kioskID: String
    /// The kiosk's Ed25519 public key, raw.
    public var publicKey: Data
    public var enrolledAt: Date
    public var lastSyncAt: Date?
    /// When an operator revoked the kiosk: it is refused from then on, until it enrolls again with a new token.
    public var revokedAt: Date?
    /// The protocol version the kiosk spoke at its last sync (none before its first).
    public var protocolVersion: Int?

    /// Creates an enrollment.
    public init(
        replicaID: String,
        storeID: String,
        kioskID: String,
        publicKey: Data,
        enrolledAt: Date,
        lastSyncAt: Date? = nil,
        revokedAt: Date? = nil,
        protocolVersion: Int? = nil
    ) {
        self.replicaID = replicaID
        self.storeID = storeID
        self.kioskID = kioskID
        self.publicKey = publicKey
        self.enrolledAt = enrolledAt
        self.lastSyncAt = lastSyncAt
        self.revokedAt = revokedAt
        self.protocolVersion = protocolVersion
    }
}

/// What a batch of merges did: a push on the server, a pulled page on a kiosk.
public struct PushOutcome: Hashable, Sendable {
    /// Records that changed something here.
    public var merged: Int
    /// Records already known.
    public var unchanged: Int
    /// Fields in which the merges detected conflicts.
    public var conflicts: [RecordConflict]
    /// Pulled records set aside because this replica holds one of their writes differently (kiosk side).
    public var quarantined: [QuarantinedRecord] = []

    /// Creates an outcome.
    public init(merged: Int, unchanged: Int, conflicts: [RecordConflict], quarantined: [QuarantinedRecord] = []) {
        self.merged = merged
        self.unchanged = unchanged
        self.conflicts = conflicts
        self.quarantined = quarantined
    }
}

// MARK: - Kiosk side

extension ReplicaStore {
    /// The kiosk's sync credentials, if `init --server` set them.
    public func syncCredentials() throws -> SyncCredentials? {
        try read { db in
            // Cached: every sync starts here.
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM sync_credentials")) else {
                return nil
            }
            return SyncCredentials(
                server: row["server"],
                token: row["token"],
                privateKey: row["private_key"],
                enrolledAt: (row["enrolled_at"] as Int64?).map(Date.init(millisecondsSince1970:)),
                trustedCAPEM: row["tls_ca"],
                serverID: row["server_id"],
                serverKeyFingerprint: row["server_key"]
            )
        }
    }

    /// Stores the kiosk's sync credentials.
    public func saveSyncCredentials(_ credentials: SyncCredentials) throws {
        try write { context in
            try context.db.execute(
                sql: """
                    INSERT OR REPLACE INTO sync_credentials
                        (singleton, server, token, private_key, enrolled_at, tls_ca, server_id, server_key)
                    VALUES (1, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    credentials.server, credentials.token, credentials.privateKey,
                    credentials.enrolledAt?.millisecondsSince1970, credentials.trustedCAPEM, credentials.serverID,
                    credentials.serverKeyFingerprint,
                ]
            )
        }
    }

    /// Notes the capabilities the server granted in this connection's `welcome` (SPEC §4.5): what this kiosk may do
    /// between syncs depends on them (``HistoryRules``). A read when they are the same as last time, which they
    /// almost always are.
    public func noteServerCapabilities(_ granted: Set<String>) throws {
        guard try serverCapabilities() != granted else { return }
        try write { context in
            try context.db.execute(
                sql: "UPDATE replica SET server_capabilities = ?",
                arguments: [granted.sorted().joined(separator: ",")]
            )
        }
    }

    /// The capabilities the server granted at the last sync's `welcome`; none before the first.
    public func serverCapabilities() throws -> Set<String> {
        try read { db in try Self.serverCapabilities(db) }
    }

    static func serverCapabilities(_ db: Database) throws -> Set<String> {
        let text = try String.fetchOne(db.cachedStatement(sql: "SELECT server_capabilities FROM replica")) ?? ""
        return Set(text.split(separator: ",").map(String.init))
    }

    /// Notes the server's replica id, as its challenge gives it. When it differs from the last sync's, the server
    /// was restored from a backup and may lack what it acknowledged since: the push checkpoint and pull cursor of
    /// `peer` start over, in the same transaction, so the sync re-sends everything this kiosk holds (what the
    /// server has is answered `unchanged`) and pulls the server's feed from the start.
    ///
    /// - Returns: whether the checkpoint started over.
    @discardableResult
    public func noteServerID(_ serverID: String, peer: String = ReplicaStore.serverPeer) throws -> Bool {
        // Almost always the same id: a read, without the commit (and fsync) a write would cost every sync.
        guard try read({ db in try Self.knownServerID(db) }) != serverID else { return false }
        return try write { context in
            let known = try String.fetchOne(context.db, sql: "SELECT server_id FROM sync_credentials")
            guard known != serverID else { return false }
            try context.db.execute(sql: "UPDATE sync_credentials SET server_id = ?", arguments: [serverID])
            // The first sync with a server, or a kiosk upgraded from before server ids were kept: nothing to redo.
            guard known != nil else { return false }
            try context.db.execute(
                sql: "UPDATE sync_checkpoints SET pushed_seq = 0, pull_cursor = NULL WHERE peer = ?",
                arguments: [peer]
            )
            return true
        }
    }

    static func knownServerID(_ db: Database) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT server_id FROM sync_credentials"))
    }

    /// What a sync round starts with on a kiosk, in one call: the server's id noted
    /// (``noteServerID(_:peer:)``), the capabilities it granted (``noteServerCapabilities(_:)``), its clock taken
    /// (``adoptServerClock(_:measuredAt:)``), then `peer`'s checkpoint and the first `limit` changes to push after
    /// it. Nearly every sync finds the same id, capabilities and correction as the last: one read transaction
    /// then answers it all (an idle sync is little else); otherwise each step runs as on its own, writes included.
    public func startRound(
        serverID: String?,
        capabilities: Set<String>?,
        serverClock: (serverTime: Int64, measuredAt: Date)?,
        peer: String = ReplicaStore.serverPeer,
        limit: Int
    ) throws -> RoundStart {
        let unchanged = try read { db -> RoundStart? in
            if let serverID, try Self.knownServerID(db) != serverID { return nil }
            if let capabilities, try Self.serverCapabilities(db) != capabilities { return nil }
            var clock: ClockAdjustment?
            if let serverClock {
                switch try checkServerClock(serverClock.serverTime, measuredAt: serverClock.measuredAt, in: db) {
                case .ignored: break
                case .unchanged(let adjustment): clock = adjustment
                case .changes: return nil
                }
            }
            let checkpoint = try Self.checkpoint(for: peer, in: db)
            let changes = try Self.encodedChanges(since: checkpoint.pushedSeq, limit: limit, in: db)
            return RoundStart(restarted: false, clock: clock, checkpoint: checkpoint, changes: changes)
        }
        if let unchanged { return unchanged }
        let restarted = try serverID.map { try noteServerID($0, peer: peer) } ?? false
        try capabilities.map { try noteServerCapabilities($0) }
        // Before anything is read to push: writes stamped too far ahead for the server are stamped again.
        let clock = try serverClock.flatMap { try adoptServerClock($0.serverTime, measuredAt: $0.measuredAt) }
        let checkpoint = try self.checkpoint(for: peer)
        let changes = try encodedChanges(since: checkpoint.pushedSeq, limit: limit)
        return RoundStart(restarted: restarted, clock: clock, checkpoint: checkpoint, changes: changes)
    }

    /// Merges a batch of versions pulled from the server in one transaction, auditing the conflicts they bring.
    ///
    /// - Returns: how many changed something here, and the conflicts detected, as `(record id, field)`.
    ///
    /// - Parameters:
    ///   - cursor: when given, stored as `peer`'s pull cursor in the same transaction: the batch and the cursor
    ///     past it are committed together.
    public func mergePulled(
        _ records: [VersionedRecord],
        cursor: String? = nil,
        peer: String = ReplicaStore.serverPeer
    ) throws -> PushOutcome {
        try mergePulled(PreparedPull(records), cursor: cursor, peer: peer)
    }

    /// Merges a batch prepared on another thread (``PreparedPull``), as ``mergePulled(_:cursor:peer:)`` does.
    public func mergePulled(
        _ prepared: PreparedPull,
        cursor: String? = nil,
        peer: String = ReplicaStore.serverPeer
    ) throws -> PushOutcome {
        try mergePulled([prepared], cursor: cursor, peer: peer, keepingDays: nil)
    }

    /// Merges several pulled pages, in order, in one transaction that stores `cursor` (the last page's) with
    /// them: what a kiosk does with the pages that arrived while it merged the one before. One commit (one sync
    /// of the log, one rewrite of each index page touched) instead of one a page; all the pages are merged or none.
    public func mergePulled(
        pages: [PreparedPull],
        cursor: String?,
        peer: String = ReplicaStore.serverPeer
    ) throws -> PushOutcome {
        try mergePulled(pages, cursor: cursor, peer: peer, keepingDays: nil)
    }

    /// Merges returns fetched back from HQ (`kiosk fetch`: ones this kiosk pruned, say) without moving the pull
    /// cursor, and keeps them from pruning for ``fetchedReturnDays`` days, in one transaction.
    public func mergeFetched(_ records: [VersionedRecord]) throws -> PushOutcome {
        try mergePulled(
            [PreparedPull(records)],
            cursor: nil,
            peer: Self.serverPeer,
            keepingDays: Self.fetchedReturnDays
        )
    }

    /// How many days a fetched return stays however old it is: long enough to deal with what it was fetched for.
    public static let fetchedReturnDays = 30

    private func mergePulled(
        _ pages: [PreparedPull],
        cursor: String?,
        peer: String,
        keepingDays: Int?
    ) throws -> PushOutcome {
        try write { context in
            if let cursor {
                try context.db.execute(
                    sql: """
                        INSERT INTO sync_checkpoints (peer, pull_cursor) VALUES (?, ?)
                        ON CONFLICT (peer) DO UPDATE SET pull_cursor = excluded.pull_cursor
                        """,
                    arguments: [peer, cursor]
                )
            }
            var outcome = PushOutcome(merged: 0, unchanged: 0, conflicts: [])
            var campaigns: [String] = []
            var setAside = try Self.quarantineCodes(context.db)
            // New records written many to a statement (``WriteContext/NewRecords``), page by page.
            context.newRecords = WriteContext.NewRecords()
            for prepared in pages {
                for (index, record) in prepared.records.enumerated() {
                    switch setAside.isEmpty ? nil : setAside["\(record.entityType)/\(record.id)"] {
                    case nil:
                        break
                    case "dropped"?:
                        // The server still holds the record: its version comes back, and the entry goes.
                        try context.db.execute(
                            sql: "DELETE FROM quarantine WHERE entity_type = ? AND record_id = ?",
                            arguments: [record.entityType, record.id]
                        )
                        setAside["\(record.entityType)/\(record.id)"] = nil
                    default:
                        // Set aside: frozen here until an operator drops it.
                        outcome.unchanged += 1
                        continue
                    }
                    var item: ProductReturn?
                    if let storeID = identity.storeID, record.entityType == ReturnEntity.entityType {
                        // Partial replication: a kiosk only ever takes its own store's returns.
                        let pulled = try prepared.items[index]?.get() ?? ProductReturn(record: record)
                        guard pulled.storeID == storeID else {
                            throw ReplicaStoreError(
                                code: .wrongStore,
                                message:
                                    "the server sent return \(record.id) of store '\(pulled.storeID)' to a kiosk of '\(storeID)'"
                            )
                        }
                        item = pulled
                    } else if record.entityType == PolicyEntity.entityType {
                        // Every capture reads the policies: a malformed one is refused here, not at the next capture.
                        _ = try PolicyEntity.returnPolicy(from: record)
                    } else if record.entityType == StoreEntity.entityType {
                        // The id must be a store's; a zone this replica does not know counts as UTC (StoreTimeZones).
                        _ = try StoreID(record.id)
                    } else if let storeID = identity.storeID, record.entityType == OrderEntity.entityType {
                        let line = try OrderLine(record: record)
                        guard line.storeID == storeID else {
                            throw ReplicaStoreError(
                                code: .wrongStore,
                                message:
                                    "the server sent order line \(record.id) of store '\(line.storeID)' to a kiosk of '\(storeID)'"
                            )
                        }
                    }
                    // The decoded return is handed on, so a new record is not decoded again for its projection.
                    let result: MergeOutcome
                    do {
                        result = try context.merge(record, item: item, origin: .merge, prepared: prepared.writes[index])
                    } catch let error as SyncEngineError where error.code == .conflictingWrite {
                        // This kiosk holds a write the server holds differently (imported from a forged export, say):
                        // the record is set aside, loudly, rather than failing every sync. Nothing of it was merged.
                        let entry = QuarantinedRecord(
                            entityType: record.entityType,
                            recordID: record.id,
                            code: "conflicting-write",
                            message: error.message,
                            quarantinedAt: context.wallClock
                        )
                        try Self.setAside(
                            context.db,
                            entry.entityType,
                            entry.recordID,
                            code: entry.code,
                            message: entry.message,
                            at: entry.quarantinedAt
                        )
                        outcome.quarantined.append(entry)
                        // A later page of the same transaction finds it frozen, as a later transaction would.
                        setAside["\(record.entityType)/\(record.id)"] = entry.code
                        continue
                    }
                    if result.changed { outcome.merged += 1 } else { outcome.unchanged += 1 }
                    if result.changed, record.entityType == RecallEntity.entityType { campaigns.append(record.id) }
                    outcome.conflicts += result.detectedConflicts.map { RecordConflict(recordID: record.id, field: $0) }
                }
                // Page by page, as when each page was a transaction of its own; the page's new records first.
                try context.writeNewRecords()
                try context.flagReturns(underMerged: campaigns)
                campaigns = []
            }
            try context.writeNewRecords()
            context.newRecords = nil
            if let keepingDays {
                let until = context.wallClock.millisecondsSince1970 + Int64(keepingDays) * 86_400_000
                for record in pages.lazy.flatMap(\.records) where record.entityType == ReturnEntity.entityType {
                    try context.db.execute(
                        sql: "INSERT OR REPLACE INTO fetched_returns (return_id, until) VALUES (?, ?)",
                        arguments: [record.id, until]
                    )
                }
                // Fetched from HQ, so HQ holds them: the push checkpoint moves over them (up to the first change
                // made here), or the next sync would send them straight back.
                let moved = try Self.checkpoint(overMergesAfter: Self.pushedSeq(context.db, peer: peer), in: context.db)
                try context.movingCheckpoints { db in
                    try db.execute(
                        sql: "UPDATE sync_checkpoints SET pushed_seq = max(pushed_seq, ?) WHERE peer = ?",
                        arguments: [moved, peer]
                    )
                }
            }
            return outcome
        }
    }

    /// Whether this replica holds changes of its own that `peer` has not acknowledged: what a sync agent checks
    /// to sync soon after a local change (one index probe).
    public func hasUnpushedChanges(peer: String = ReplicaStore.serverPeer) throws -> Bool {
        try read { db in
            let pushed = try Self.pushedSeq(db, peer: peer)
            return try Bool.fetchOne(
                db,
                sql:
                    "SELECT EXISTS (SELECT 1 FROM change_log c WHERE seq > ? AND origin != 'merge' AND \(Self.pushableChange))",
                arguments: [pushed]
            ) ?? false
        }
    }

    /// How many returns changed after change-log sequence number `seq`: what a push from there sends at most.
    public func returnsChanged(after seq: Int64) throws -> Int {
        try read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM records WHERE change_seq > ? AND entity_type = 'return'",
                arguments: [seq]
            ) ?? 0
        }
    }

    /// Where a push checkpoint at `seq` may move: over the changes merged from elsewhere after it (the server holds
    /// them), up to just before the first change made here that is not set aside — or to the log's end.
    static func checkpoint(overMergesAfter seq: Int64, in db: Database) throws -> Int64 {
        let firstLocal = try Int64.fetchOne(
            db.cachedStatement(
                sql: "SELECT min(seq) FROM change_log c WHERE seq > ? AND origin != 'merge' AND \(Self.pushableChange)"
            ),
            arguments: [seq]
        )
        return try firstLocal.map { $0 - 1 }
            ?? Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM change_log")) ?? 0
    }

    /// How far `peer` has been pushed to (0 before the first push).
    static func pushedSeq(_ db: Database, peer: String = serverPeer) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT pushed_seq FROM sync_checkpoints WHERE peer = ?", arguments: [peer]) ?? 0
    }

    /// Moves the push checkpoint of `peer` over the changes merged from elsewhere after `seq`, up to the first
    /// change made here, and notes the sync time; in one transaction, so a change another process makes meanwhile
    /// is never skipped. The checkpoint never moves back.
    ///
    /// Its commit is not synced on its own (the next capture's or pull's sync carries it): a power cut that lost
    /// it moves the checkpoint back over changes the server already holds, which the next sync re-sends and the
    /// server finds unchanged, and shows the previous sync time — nothing is lost either way.
    public func advancePushCheckpoint(overMergesAfter seq: Int64, peer: String, syncedAt: Date) throws {
        try write(durability: .deferred) { context in
            let pushed = try Self.checkpoint(overMergesAfter: seq, in: context.db)
            try context.movingCheckpoints { db in
                try db.cachedStatement(
                    sql: """
                        INSERT INTO sync_checkpoints (peer, pushed_seq, last_sync_at) VALUES (?1, ?2, ?3)
                        ON CONFLICT (peer) DO UPDATE
                        SET pushed_seq = max(pushed_seq, excluded.pushed_seq), last_sync_at = excluded.last_sync_at
                        """
                ).execute(arguments: [peer, max(pushed, seq), syncedAt.millisecondsSince1970])
            }
        }
    }
}

// MARK: - Server side

extension ReplicaStore {
    /// Records a one-time enrollment token for kiosk `kiosk` of store `store`: its SHA-256 (hex), the public key
    /// it derives, and when it expires. Tokens issued earlier for the same kiosk and not yet used are revoked in the
    /// same transaction: two tokens for one kiosk are never both accepted.
    public func createEnrollment(
        tokenHash: String,
        tokenKey: Data,
        store: StoreID,
        kiosk: KioskID,
        expiresAt: Date
    ) throws {
        try write { context in
            let now = context.wallClock.millisecondsSince1970
            try context.db.execute(
                sql: """
                    UPDATE enrollments SET revoked_at = ?
                    WHERE store_id = ? AND kiosk_id = ? AND used_at IS NULL AND revoked_at IS NULL
                    """,
                arguments: [now, store.rawValue, kiosk.rawValue]
            )
            try context.db.execute(
                sql: """
                    INSERT INTO enrollments (token_hash, store_id, kiosk_id, created_at, token_key, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    tokenHash, store.rawValue, kiosk.rawValue, now, tokenKey, expiresAt.millisecondsSince1970,
                ]
            )
        }
    }

    /// Redeems the kiosk's pending enrollment token: when `proves` accepts the token's public key, records the
    /// kiosk's key (replacing an earlier one: a re-enrollment), lifts a revocation and marks the token used, in one
    /// transaction.
    ///
    /// - Throws: ``ReplicaStoreError`` when the kiosk has no usable token (none issued, used, replaced by a newer
    ///   one, expired, or issued before tokens carried keys) or the proof does not verify.
    public func redeemEnrollment(
        store: StoreID,
        kiosk: KioskID,
        publicKey: Data,
        proves: (_ tokenKey: Data) -> Bool
    ) throws {
        try write { context in
            try context.redeemEnrollment(store: store, kiosk: kiosk, publicKey: publicKey, proves: proves)
        }
    }

    /// The public keys of kiosk `kiosk`'s enrollment tokens that are neither used nor revoked, newest first: what
    /// a redemption's proof may verify with. A server checks the proof against these on a reader, so that its
    /// writer, which every kiosk's push waits for, verifies no signature: its
    /// ``redeemEnrollment(store:kiosk:publicKey:proves:)`` then only compares keys.
    public func pendingEnrollmentKeys(store: StoreID, kiosk: KioskID) throws -> [Data] {
        try read { db in
            try Data.fetchAll(
                db,
                sql: """
                    SELECT token_key FROM enrollments
                    WHERE store_id = ? AND kiosk_id = ? AND used_at IS NULL AND revoked_at IS NULL
                      AND token_key IS NOT NULL
                    ORDER BY created_at DESC
                    """,
                arguments: [store.rawValue, kiosk.rawValue]
            )
        }
    }

    /// Revokes kiosk `kiosk` of store `store`: it is refused from now on (a running server closes its connections
    /// within a second), and its pending tokens are void. Enrolling it again with a new token lifts it.
    ///
    /// - Throws: ``ReplicaStoreError`` when no such kiosk is enrolled.
    public func revokeKiosk(store: StoreID, kiosk: KioskID) throws {
        try write { context in
            let now = context.wallClock.millisecondsSince1970
            try context.db.execute(
                sql: "UPDATE kiosks SET revoked_at = coalesce(revoked_at, ?) WHERE store_id = ? AND kiosk_id = ?",
                arguments: [now, store.rawValue, kiosk.rawValue]
            )
            guard context.db.changesCount > 0 else {
                throw ReplicaStoreError(code: .notFound, message: "no kiosk \(store)/\(kiosk) is enrolled")
            }
            try context.db.execute(
                sql: """
                    UPDATE enrollments SET revoked_at = ?
                    WHERE store_id = ? AND kiosk_id = ? AND used_at IS NULL AND revoked_at IS NULL
                    """,
                arguments: [now, store.rawValue, kiosk.rawValue]
            )
        }
    }

    /// The replica ids of revoked kiosks.
    public func revokedKiosks() throws -> Set<String> {
        try read { db in
            Set(try String.fetchAll(db, sql: "SELECT replica_id FROM kiosks WHERE revoked_at IS NOT NULL"))
        }
    }

    /// The seed (raw Ed25519 private key, 32 bytes) of the server's identity key, made on first use.
    public func serverIdentitySeed() throws -> Data {
        if let seed = try read({ db in try Data.fetchOne(db, sql: "SELECT seed FROM server_identity") }) {
            return seed
        }
        return try write { context in
            if let seed = try Data.fetchOne(context.db, sql: "SELECT seed FROM server_identity") { return seed }
            var generator = SystemRandomNumberGenerator()
            let seed = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
            try context.db.execute(
                sql: "INSERT INTO server_identity (singleton, seed, created_at) VALUES (1, ?, ?)",
                arguments: [seed, context.wallClock.millisecondsSince1970]
            )
            return seed
        }
    }

    /// Replaces the server's identity key: for conformance vectors (a fixed key) and for moving a server's identity
    /// to a new database. Kiosks pinned to the old key refuse the server afterwards.
    public func replaceServerIdentity(seed: Data) throws {
        guard seed.count == 32 else {
            throw ReplicaStoreError(
                code: .importRejected,
                message: "a server identity seed is 32 bytes, not \(seed.count)"
            )
        }
        try write { context in
            try context.db.execute(
                sql: "INSERT OR REPLACE INTO server_identity (singleton, seed, created_at) VALUES (1, ?, ?)",
                arguments: [seed, context.wallClock.millisecondsSince1970]
            )
        }
    }

    /// The enrolled kiosk with replica id `replicaID`, if any.
    public func enrolledKiosk(_ replicaID: String) throws -> KioskEnrollment? {
        try read { db in
            // Cached: every connection's handshake asks.
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM kiosks WHERE replica_id = ?"),
                arguments: [replicaID]
            )
            .map(Self.enrollment(from:))
        }
    }

    /// Every enrolled kiosk, by replica id.
    public func enrolledKiosks() throws -> [KioskEnrollment] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM kiosks ORDER BY replica_id").map(Self.enrollment(from:))
        }
    }

    static func enrollment(from row: Row) -> KioskEnrollment {
        KioskEnrollment(
            replicaID: row["replica_id"],
            storeID: row["store_id"],
            kioskID: row["kiosk_id"],
            publicKey: row["public_key"],
            enrolledAt: Date(millisecondsSince1970: row["enrolled_at"]),
            lastSyncAt: (row["last_sync_at"] as Int64?).map(Date.init(millisecondsSince1970:)),
            revokedAt: (row["revoked_at"] as Int64?).map(Date.init(millisecondsSince1970:)),
            protocolVersion: row["protocol_version"]
        )
    }

    /// Merges a batch pushed by kiosk `pusher` of store `store`, all or nothing, in one transaction, by the rules
    /// of ``PushRules`` (SyncCore): this store only answers their questions and writes what they accept.
    ///
    /// - Throws: ``PushRejection`` naming the first record at fault; nothing is stored then.
    public func acceptPush(_ records: [VersionedRecord], from pusher: ReplicaID, store: StoreID) throws -> PushOutcome {
        let push = PreparedServerPush(records, from: pusher, store: store)
        return try write { context in try context.accept(push) }
    }

    /// The change feed of store `store` changed after change-log entry `cursor`, oldest change first, at most
    /// `limit`; `next` is the cursor to ask from next time.
    ///
    /// The feed holds the store's returns, its order lines sold within the longest return window that governs
    /// it (older ones could only verify as outside the window), and every recall campaign and return policy
    /// (those are global and few).
    ///
    /// - Parameter requester: the kiosk asking; versions it pushed and the server stored unchanged are left out
    ///   (it holds them), which halves the work of a sync that pushes much.
    public func feed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID? = nil
    ) throws -> (records: [VersionedRecord], next: Int64, more: Bool) {
        let page = try encodedFeed(store: store, after: cursor, limit: limit, requester: requester)
        return (try page.records.map(Self.decodeRecord), page.next, page.more)
    }

    /// About how many records the store's feed holds after `cursor`: an upper bound (it counts the requester's own
    /// versions and order lines past their window too), from two index ranges.
    public func feedEstimate(store: StoreID, after cursor: Int64) throws -> Int {
        try read { db in try Self.feedEstimate(store: store, after: cursor, in: db) }
    }

    static func feedEstimate(store: StoreID, after cursor: Int64, in db: Database) throws -> Int {
        try Int.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT (SELECT count(*) FROM records WHERE store_id = ?1 AND change_seq > ?2)
                         + (SELECT count(*) FROM records WHERE store_id IS NULL AND change_seq > ?2
                                                          AND entity_type IN ('recall', 'policy', 'store'))
                    """
            ),
            arguments: [store.rawValue, cursor]
        ) ?? 0
    }

    /// The returns of `store` among `ids`, whole, in the order of `ids`: what a server answers a kiosk's `fetch`
    /// (another store's return is left out exactly as an unknown one is).
    public func storeReturns(_ ids: [ReturnID], store: StoreID) throws -> [VersionedRecord] {
        guard !ids.isEmpty else { return [] }
        let rows = try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, record FROM records WHERE entity_type = 'return' AND store_id = ?
                    AND id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))
                    """,
                arguments: StatementArguments([store.rawValue] + ids.map(\.rawValue))
            )
        }
        var byID: [String: String] = [:]
        for row in rows { byID[row["id"]] = row["record"] }
        return try ids.compactMap { id in try byID[id.rawValue].map(Self.decodeRecord) }
    }

    /// ``feed(store:after:limit:requester:)`` with each record in its stored JSON form, ready to send as it is:
    /// ``FeedRules`` (SyncCore) as two index-range queries.
    public func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID? = nil
    ) throws -> (records: [String], next: Int64, more: Bool) {
        try read { db in try encodedFeed(store: store, after: cursor, limit: limit, requester: requester, in: db) }
    }

    /// ``encodedFeed(store:after:limit:requester:)`` and, when `estimating`, ``feedEstimate(store:after:)``, in one
    /// read transaction: what a `pull` answers (a kiosk asks the estimate with a round's first page).
    public func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?,
        estimating: Bool
    ) throws -> (records: [String], next: Int64, more: Bool, estimate: Int?) {
        try read { db in
            let page = try encodedFeed(store: store, after: cursor, limit: limit, requester: requester, in: db)
            let estimate = estimating ? try Self.feedEstimate(store: store, after: cursor, in: db) : nil
            return (page.records, page.next, page.more, estimate)
        }
    }

    func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?,
        in db: Database
    ) throws -> (records: [String], next: Int64, more: Bool) {
        let (rows, latest) = try { () throws -> ([Row], Int64) in
            // The policies in the same snapshot as the feed they govern (one read transaction a page: an idle
            // sync's pull is one page). The statements are cached: every sync runs them.
            let windowDays = FeedRules.orderWindowDays(policies: try Self.returnPolicies(db), store: store)
            let soldSince = now().millisecondsSince1970 - Int64(windowDays) * 86_400_000
            // Read once the snapshot has begun (the read above began it): a group this snapshot holds noted itself
            // unsynced before it committed, so it is still noted here unless its sync has made it durable.
            let bound = unsyncedCommits.feedBound ?? .max
            // The store's own changes and the global ones (store_id NULL), each an index range in change order,
            // filtered in SQL (so skipped rows cost no round trip), merged below. Each part is cut at limit + 1,
            // so the first limit + 1 of the merge are exactly the next limit + 1 of the feed.
            let own = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT rec.change_seq, rec.record FROM records rec
                        JOIN change_log c ON c.seq = rec.change_seq
                        LEFT JOIN orders o ON rec.entity_type = 'order' AND o.record_id = rec.id
                        WHERE rec.store_id = ?1 AND rec.change_seq > ?2 AND rec.change_seq < ?6
                          AND (rec.entity_type != 'order' OR o.sold_at >= ?3)
                          AND (?4 IS NULL OR c.source IS NULL OR c.source != ?4)
                        ORDER BY rec.change_seq LIMIT ?5
                        """
                ),
                arguments: [store.rawValue, cursor, soldSince, requester?.rawValue, limit + 1, bound]
            )
            let global = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT change_seq, record FROM records
                        WHERE store_id IS NULL AND change_seq > ?1 AND change_seq < ?3
                          AND entity_type IN ('recall', 'policy', 'store')
                        ORDER BY change_seq LIMIT ?2
                        """
                ),
                arguments: [cursor, limit + 1, bound]
            )
            // In the same snapshot: every change up to here is either in `rows` or not for this store — up to the
            // first change not synced yet, past which the cursor must not move.
            let newest = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM change_log")) ?? 0
            let latest = min(newest, bound - 1)
            let rows = (own + global).sorted { ($0[0] as Int64) < ($1[0] as Int64) }.prefix(limit + 1)
            return (Array(rows), latest)
        }()
        let more = rows.count > limit
        let page = rows.prefix(limit)
        let records = page.map { $0[1] as String }
        // The last page moves the cursor to the newest change, past other stores' changes and the requester's own
        // pushes: the next sync with nothing new reads nothing.
        let next = more ? page.last![0] as Int64 : max(cursor, latest)
        return (records, next, more)
    }
}

/// A pulled page made ready for the kiosk's writer on another thread: each return decoded, and each record's texts
/// and projection prepared for the case it is new here — every record of a fresh kiosk's first pull. The writer then
/// only checks and inserts; the preparation of the next page overlaps the merge of this one.
public struct PreparedPull: Sendable {
    /// The records, as pulled.
    public let records: [VersionedRecord]
    /// Each record's return (for returns), or why it does not decode; `nil` for other entities.
    let items: [Result<ProductReturn, any Error>?]
    /// Each record's write if it is new here; `nil` where it could not be prepared (the merge then says why).
    let writes: [PreparedWrite?]

    /// Prepares `records`. Pure: runs on any thread.
    public init(_ records: [VersionedRecord]) {
        self.records = records
        var items: [Result<ProductReturn, any Error>?] = []
        var writes: [PreparedWrite?] = []
        items.reserveCapacity(records.count)
        writes.reserveCapacity(records.count)
        for record in records {
            let item =
                record.entityType == ReturnEntity.entityType
                ? Result { try ProductReturn(record: record) } : nil
            items.append(item)
            writes.append(try? PreparedWrite(record, item: try? item?.get()))
        }
        self.items = items
        self.writes = writes
    }
}

extension WriteContext {
    /// Enrolls kiosk `kiosk` of store `store` with `publicKey`, in this transaction: what
    /// ``ReplicaStore/redeemEnrollment(store:kiosk:publicKey:proves:)`` and a group commit's enrollment do.
    func redeemEnrollment(
        store: StoreID,
        kiosk: KioskID,
        publicKey: Data,
        proves: (_ tokenKey: Data) -> Bool
    ) throws {
        let now = wallClock.millisecondsSince1970
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT token_hash, token_key, expires_at FROM enrollments
                WHERE store_id = ? AND kiosk_id = ? AND used_at IS NULL AND revoked_at IS NULL
                ORDER BY created_at DESC
                """,
            arguments: [store.rawValue, kiosk.rawValue]
        )
        guard let row = rows.first(where: { ($0["token_key"] as Data?) != nil }) else {
            throw ReplicaStoreError(
                code: .notFound,
                message: rows.isEmpty
                    ? "no enrollment token is waiting for kiosk \(store)/\(kiosk) (unknown, used or replaced)"
                    : "the enrollment token of kiosk \(store)/\(kiosk) was issued by an older server: issue a new one"
            )
        }
        guard (row["expires_at"] as Int64? ?? .max) > now else {
            throw ReplicaStoreError(
                code: .notFound,
                message: "the enrollment token of kiosk \(store)/\(kiosk) has expired: issue a new one"
            )
        }
        guard proves(row["token_key"]) else {
            throw ReplicaStoreError(
                code: .wrongStore,
                message: "the enrollment proof of kiosk \(store)/\(kiosk) does not match its token"
            )
        }
        try db.execute(
            sql: "UPDATE enrollments SET used_at = ? WHERE token_hash = ?",
            arguments: [now, row["token_hash"] as String]
        )
        let replicaID = "\(store.rawValue)/\(kiosk.rawValue)"
        try db.execute(
            sql: """
                INSERT INTO kiosks (replica_id, store_id, kiosk_id, public_key, enrolled_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (replica_id) DO UPDATE
                SET public_key = excluded.public_key, enrolled_at = excluded.enrolled_at, revoked_at = NULL
                """,
            arguments: [replicaID, store.rawValue, kiosk.rawValue, publicKey, now]
        )
    }
}

/// What ``ReplicaStore/startRound(serverID:capabilities:serverClock:peer:limit:)`` found.
public struct RoundStart: Sendable {
    /// Whether the server's id changed and the checkpoint started over (``ReplicaStore/noteServerID(_:peer:)``).
    public var restarted: Bool
    /// What was done with the server's clock; `nil` when it was not given or not taken.
    public var clock: ClockAdjustment?
    /// The checkpoint of sync with the peer, after the steps above.
    public var checkpoint: SyncCheckpoint
    /// The first changes to push after it, each in its stored JSON form
    /// (``ReplicaStore/encodedChanges(since:limit:)``).
    public var changes: [(seq: Int64, entityType: String, json: String)]
}
