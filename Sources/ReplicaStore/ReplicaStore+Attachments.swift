import Crypto
import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine

/// How large attachments may be here: per file and per return.
public struct AttachmentLimits: Sendable, Hashable {
    /// The largest file attached, in bytes.
    public var maximumFileBytes: Int64
    /// The most one return's attachments add up to, in bytes.
    public var maximumReturnBytes: Int64

    /// Limits; by default ``Attachment/defaultMaximumFileBytes`` and ``Attachment/defaultMaximumReturnBytes``.
    public init(
        maximumFileBytes: Int64 = Attachment.defaultMaximumFileBytes,
        maximumReturnBytes: Int64 = Attachment.defaultMaximumReturnBytes
    ) {
        self.maximumFileBytes = maximumFileBytes
        self.maximumReturnBytes = maximumReturnBytes
    }
}

extension ReplicaStore {
    /// Attaches `bytes` to a return: checks what they are by their first bytes and their size, stores them under
    /// their SHA-256 digest (once, however many returns show them) and adds the attachment to the return, in one
    /// transaction.
    ///
    /// - Throws: ``ReturnsModelError`` naming a media type other than JPEG, PNG or PDF, a file or a return over its
    ///   limit, a caption that is not one, or a return that holds these bytes already; nothing is stored then.
    @discardableResult
    public func attach(
        _ bytes: Data,
        to id: ReturnID,
        caption: String? = nil,
        limits: AttachmentLimits = AttachmentLimits(),
        operatorID: OperatorID? = nil
    ) throws -> Attachment {
        guard let type = Attachment.MediaType(sniffing: bytes) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "unsupported attachment: its first bytes are not those of a JPEG, PNG or PDF file"
            )
        }
        guard Int64(bytes.count) <= limits.maximumFileBytes else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "attachment of \(bytes.count) bytes is over the limit of \(limits.maximumFileBytes) per file"
            )
        }
        let digest = Self.digest(of: bytes)
        let attachment = try Attachment(digest: digest, mediaType: type, size: Int64(bytes.count), caption: caption)
        try write { context in
            try context.db.execute(
                sql: """
                    INSERT INTO attachments (digest, media_type, size, data, added_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (digest) DO NOTHING
                    """,
                arguments: [digest, type.rawValue, bytes.count, bytes, now().millisecondsSince1970]
            )
            guard var record = try context.load(entityType: ReturnEntity.entityType, id: id.rawValue) else {
                throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)")
            }
            let stamp = try context.stamp()
            try record.updateReturn(by: context.replicaID, stamp: stamp, operatorID: operatorID) {
                item,
                author,
                date in
                try item.attach(attachment, maximumReturnBytes: limits.maximumReturnBytes, by: author, at: date)
            }
            try context.save(record, origin: .local, operation: "attach", item: ProductReturn(record: record))
        }
        return attachment
    }

    /// The digest of the attachment held here that `prefix` (at least 8 lower-case hex digits) names.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` naming the prefix when no attachment, or more than
    ///   one, starts with it (the candidates named); ``ReturnsModelError`` for a prefix that is not hex.
    public func attachmentDigest(withPrefix prefix: String) throws -> String {
        let prefix = prefix.lowercased()
        guard AttachmentRules.isDigestPrefix(prefix) else {
            throw ReturnsModelError(code: .invalidValue, message: AttachmentRules.invalidDigestPrefix(prefix))
        }
        // The bytes held here, and those a return here names (a kiosk fetches them; a server holds them in chunks).
        let found = try read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT digest FROM attachments WHERE digest >= ?1 AND digest < ?2
                    UNION SELECT digest FROM return_attachments WHERE digest >= ?1 AND digest < ?2
                    ORDER BY digest LIMIT 3
                    """,
                arguments: [prefix, prefix + "g"]
            )
        }
        guard found.count == 1 else {
            throw ReplicaStoreError(
                code: .notFound,
                message: found.isEmpty
                    ? "no attachment \(prefix) is held here"
                    : "attachment \(prefix) is ambiguous: \(found.joined(separator: ", "))\(found.count > 2 ? ", …" : "")"
            )
        }
        return found[0]
    }

    /// The name of `bytes`: their SHA-256 in lower-case hex.
    static func digest(of bytes: Data) -> String {
        AttachmentRules.hex(SHA256.hash(data: bytes))
    }

    /// The bytes stored under `digest`, checked against it; `nil` when this replica does not hold them.
    ///
    /// - Throws: ``ReplicaStoreError`` when the stored bytes no longer hash to their digest (a damaged disk).
    public func attachmentBytes(_ digest: String) throws -> (mediaType: String, data: Data)? {
        guard
            let row = try read({ db in
                try Row.fetchOne(
                    db,
                    sql: "SELECT media_type, data FROM attachments WHERE digest = ?",
                    arguments: [digest]
                )
            })
        else { return nil }
        let data: Data = row["data"]
        guard Self.digest(of: data) == digest else {
            throw ReplicaStoreError(code: .storage, message: "the stored bytes of attachment \(digest) are damaged")
        }
        return (row["media_type"], data)
    }
}

// MARK: - Transfer: the server's side

extension ReplicaStore {
    /// What this replica holds of attachment `digest` when a return of `store` names it; `nil` when none does (or
    /// only another store's return does).
    public func attachmentState(_ digest: String, store: StoreID) throws -> AttachmentState? {
        try read { db in try Self.attachmentState(digest, store: store, in: db) }
    }

    static func attachmentState(_ digest: String, store: StoreID, in db: Database) throws -> AttachmentState? {
        guard
            let named = try Row.fetchOne(
                db,
                sql: "SELECT media_type, size FROM return_attachments WHERE digest = ? AND store_id = ? LIMIT 1",
                arguments: [digest, store.rawValue]
            )
        else { return nil }
        let mediaType: String = named["media_type"]
        let size: Int64 = named["size"]
        // Whole bytes held here (a kiosk's own capture or one it fetched).
        if let whole = try Int64.fetchOne(db, sql: "SELECT size FROM attachments WHERE digest = ?", arguments: [digest])
        {
            return AttachmentState(digest: digest, mediaType: mediaType, size: whole, held: whole, complete: true)
        }
        if let upload = try Row.fetchOne(
            db,
            sql: "SELECT size, held, complete_at FROM attachment_uploads WHERE digest = ?",
            arguments: [digest]
        ) {
            let complete = (upload["complete_at"] as Int64?) != nil
            // Bytes are what hash to the digest, whatever size a return claims: complete ones are told as they are.
            // An unfinished upload for another claimed size does not count for this store (its first chunk
            // starts the upload over).
            if complete || upload["size"] == size {
                return AttachmentState(
                    digest: digest,
                    mediaType: mediaType,
                    size: upload["size"],
                    held: upload["held"],
                    complete: complete
                )
            }
        }
        return AttachmentState(digest: digest, mediaType: mediaType, size: size, held: 0, complete: false)
    }

    /// Stores a chunk of attachment `digest` sent by a kiosk of `store` by ``AttachmentRules``, durably; once the
    /// last byte is in, checks all of them against the digest.
    ///
    /// - Returns: what the server holds now.
    /// - Throws: the ``ProtocolError`` to answer: `unknown-attachment`, `chunk-out-of-order`, `limit-exceeded`, or
    ///   `digest-mismatch` — after the bytes held were dropped, durably, so the kiosk starts again from byte 0.
    public func appendAttachmentChunk(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        bytes: Data
    ) throws -> AttachmentState {
        enum Outcome {
            case held(AttachmentState)
            case mismatch
        }
        let outcome = try write { context -> Outcome in
            let db = context.db
            guard var state = try Self.attachmentState(digest, store: store, in: db) else {
                throw AttachmentRules.unknown(digest)
            }
            try AttachmentRules.checkChunk(bytes, at: offset, state: state)
            guard !state.complete else { return .held(state) }  // sent again after a lost acknowledgement
            if offset == 0 {
                // A first chunk: whatever an earlier upload (for another claimed size) left goes.
                try db.execute(sql: "DELETE FROM attachment_chunks WHERE digest = ?", arguments: [digest])
            }
            try db.execute(
                sql: "INSERT INTO attachment_chunks (digest, byte_offset, data) VALUES (?, ?, ?)",
                arguments: [digest, offset, bytes]
            )
            state.held = offset + Int64(bytes.count)
            var completeAt: Int64?
            if state.held == state.size {
                var verifier = AttachmentRules.Verifier(digest: digest)
                let chunks = try Data.fetchCursor(
                    db,
                    sql: "SELECT data FROM attachment_chunks WHERE digest = ? ORDER BY byte_offset",
                    arguments: [digest]
                )
                while let chunk = try chunks.next() { verifier.update(chunk) }
                guard verifier.verifies else {
                    try db.execute(sql: "DELETE FROM attachment_chunks WHERE digest = ?", arguments: [digest])
                    try db.execute(sql: "DELETE FROM attachment_uploads WHERE digest = ?", arguments: [digest])
                    return .mismatch
                }
                completeAt = context.wallClock.millisecondsSince1970
                state.complete = true
            }
            try db.execute(
                sql: """
                    INSERT INTO attachment_uploads (digest, size, held, complete_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (digest) DO UPDATE SET size = excluded.size, held = excluded.held,
                        complete_at = excluded.complete_at
                    """,
                arguments: [digest, state.size, state.held, completeAt]
            )
            return .held(state)
        }
        switch outcome {
        case .held(let state): return state
        case .mismatch: throw AttachmentRules.mismatch(digest)
        }
    }

    /// Up to `limit` bytes of attachment `digest` from `offset`, for a kiosk of `store`.
    ///
    /// - Throws: the ``ProtocolError`` to answer: `unknown-attachment`, `attachment-unavailable`, `limit-exceeded`.
    public func attachmentData(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        limit: Int
    ) throws -> (state: AttachmentState, bytes: Data) {
        try read { db in
            guard let state = try Self.attachmentState(digest, store: store, in: db) else {
                throw AttachmentRules.unknown(digest)
            }
            try AttachmentRules.checkRead(at: offset, state: state)
            return (state, try Self.attachmentBytes(digest, from: offset, limit: limit, in: db))
        }
    }

    /// Bytes of a complete attachment from `offset`, at most `limit`: from the whole bytes a kiosk holds, or the
    /// chunks a server received.
    static func attachmentBytes(_ digest: String, from offset: Int64, limit: Int, in db: Database) throws -> Data {
        if let whole = try Data.fetchOne(
            db,
            sql: "SELECT substr(data, ?, ?) FROM attachments WHERE digest = ?",
            arguments: [offset + 1, limit, digest]
        ) {
            return whole
        }
        var bytes = Data()
        let chunks = try Row.fetchCursor(
            db,
            sql: """
                SELECT byte_offset, data FROM attachment_chunks
                WHERE digest = ?1 AND byte_offset + length(data) > ?2 AND byte_offset < ?2 + ?3 ORDER BY byte_offset
                """,
            arguments: [digest, offset, limit]
        )
        while let chunk = try chunks.next(), bytes.count < limit {
            let start: Int64 = chunk["byte_offset"]
            let data: Data = chunk["data"]
            let from = Int(max(0, offset + Int64(bytes.count) - start))
            bytes.append(data[data.startIndex + from..<data.startIndex + min(data.count, from + limit - bytes.count)])
        }
        return bytes
    }

    /// The attachments named by this server's returns, each with what it holds of them, oldest first; only `store`'s
    /// when given, only those not held whole with `missing`.
    public func attachmentStates(store: StoreID?, missing: Bool) throws -> [AttachmentListing] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT n.digest, n.media_type, n.size, group_concat(DISTINCT n.store_id) AS stores,
                        count(*) AS returns,
                        coalesce(a.size, u.held, 0) AS held,
                        (a.digest IS NOT NULL OR u.complete_at IS NOT NULL) AS complete
                    FROM return_attachments n
                    LEFT JOIN attachments a ON a.digest = n.digest
                    LEFT JOIN attachment_uploads u ON u.digest = n.digest
                    WHERE (?1 IS NULL OR n.store_id = ?1)
                    GROUP BY n.digest
                    HAVING NOT ?2 OR NOT complete
                    ORDER BY n.digest
                    """,
                arguments: [store?.rawValue, missing]
            ).map { row in
                AttachmentListing(
                    digest: row["digest"],
                    mediaType: row["media_type"],
                    size: row["size"],
                    held: row["held"],
                    complete: row["complete"],
                    stores: (row["stores"] as String).split(separator: ",").map(String.init).sorted(),
                    returns: row["returns"]
                )
            }
        }
    }

    /// Writes the bytes of attachment `digest` to `sink`, chunk by chunk, checked against the digest as they go.
    ///
    /// - Returns: its media type and size; `nil` when this replica does not hold all of its bytes.
    /// - Throws: ``ReplicaStoreError`` when the stored bytes do not hash to the digest (a damaged disk); what `sink`
    ///   throws.
    public func streamAttachment(
        _ digest: String,
        to sink: (Data) throws -> Void
    ) throws -> (mediaType: String, size: Int64)? {
        try read { db in
            let mediaType =
                try String.fetchOne(
                    db,
                    sql: """
                        SELECT media_type FROM attachments WHERE digest = ?1
                        UNION ALL SELECT media_type FROM return_attachments WHERE digest = ?1 LIMIT 1
                        """,
                    arguments: [digest]
                ) ?? "application/octet-stream"
            var verifier = AttachmentRules.Verifier(digest: digest)
            var size: Int64 = 0
            if let whole = try Data.fetchOne(
                db,
                sql: "SELECT data FROM attachments WHERE digest = ?",
                arguments: [digest]
            ) {
                verifier.update(whole)
                try sink(whole)
                size = Int64(whole.count)
            } else {
                guard
                    try Bool.fetchOne(
                        db,
                        sql: "SELECT complete_at IS NOT NULL FROM attachment_uploads WHERE digest = ?",
                        arguments: [digest]
                    ) == true
                else { return nil }
                let chunks = try Data.fetchCursor(
                    db,
                    sql: "SELECT data FROM attachment_chunks WHERE digest = ? ORDER BY byte_offset",
                    arguments: [digest]
                )
                while let chunk = try chunks.next() {
                    verifier.update(chunk)
                    try sink(chunk)
                    size += Int64(chunk.count)
                }
            }
            guard verifier.verifies else {
                throw ReplicaStoreError(code: .storage, message: "the stored bytes of attachment \(digest) are damaged")
            }
            return (mediaType, size)
        }
    }
}

/// An attachment the server's returns name, and what it holds of its bytes (`returns-server attachments list`).
public struct AttachmentListing: Hashable, Sendable {
    public var digest: String
    public var mediaType: String
    /// Its size, as a return names it.
    public var size: Int64
    /// How many of its bytes are held.
    public var held: Int64
    /// Whether all are held, checked against the digest.
    public var complete: Bool
    /// The stores whose returns name it.
    public var stores: [String]
    /// How many returns name it.
    public var returns: Int

    public init(
        digest: String,
        mediaType: String,
        size: Int64,
        held: Int64,
        complete: Bool,
        stores: [String],
        returns: Int
    ) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.held = held
        self.complete = complete
        self.stores = stores
        self.returns = returns
    }
}

// MARK: - Transfer: the kiosk's side

extension ReplicaStore {
    /// Where a pass over the attachments to send has got to: the last one offered.
    public struct UploadPosition: Sendable, Hashable {
        let addedAt: Int64
        let digest: String
    }

    /// Attachments whose bytes this kiosk holds and its server has not confirmed whole, oldest first, after
    /// `position`: what a sync sends after the records, page by page — so attachments the server would not take this
    /// time (their return set aside) never keep the ones after them waiting.
    public func attachmentsToUpload(
        after position: UploadPosition? = nil,
        limit: Int = 100
    ) throws -> [(digest: String, size: Int64, position: UploadPosition)] {
        try read { db in
            // Cached: every sync asks, most often for nothing.
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT digest, size, added_at FROM attachments
                        WHERE uploaded_at IS NULL AND digest IN (SELECT digest FROM return_attachments)
                            AND (added_at, digest) > (?, ?)
                        ORDER BY added_at, digest LIMIT ?
                        """
                ),
                arguments: [position?.addedAt ?? Int64.min, position?.digest ?? "", limit]
            ).map { row in
                (row["digest"], row["size"], UploadPosition(addedAt: row["added_at"], digest: row["digest"]))
            }
        }
    }

    /// How many attachments wait to be sent, and their bytes (`kiosk status`).
    static let unsentAttachments = """
        SELECT count(*), coalesce(sum(size), 0) FROM attachments
        WHERE uploaded_at IS NULL AND digest IN (SELECT digest FROM return_attachments)
        """

    /// Up to `limit` bytes of an attachment held here whole, from `offset`: the next chunk to send.
    public func attachmentChunk(_ digest: String, from offset: Int64, limit: Int) throws -> Data {
        try read { db in try Self.attachmentBytes(digest, from: offset, limit: limit, in: db) }
    }

    /// Notes that the server holds attachment `digest` whole: it is not sent again.
    public func markAttachmentUploaded(_ digest: String) throws {
        try write { context in
            try context.db.execute(
                sql: "UPDATE attachments SET uploaded_at = ? WHERE digest = ? AND uploaded_at IS NULL",
                arguments: [context.wallClock.millisecondsSince1970, digest]
            )
        }
    }

    /// The media type and size a return here gives attachment `digest`; `nil` when none names it.
    public func namedAttachment(_ digest: String) throws -> (mediaType: String, size: Int64)? {
        try read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT media_type, size FROM return_attachments WHERE digest = ? LIMIT 1",
                arguments: [digest]
            ).map { ($0["media_type"], $0["size"]) }
        }
    }

    /// Stores the bytes of an attachment fetched from the server, after checking them against their digest: the
    /// server holds them already, so they are never sent back.
    ///
    /// - Throws: ``ReplicaStoreError`` when the bytes do not hash to `digest`; nothing is stored then.
    public func storeFetchedAttachment(_ digest: String, mediaType: String, bytes: Data) throws {
        guard Self.digest(of: bytes) == digest else {
            throw ReplicaStoreError(
                code: .storage,
                message: "the bytes fetched for attachment \(digest) have another SHA-256; nothing was stored"
            )
        }
        try write { context in
            let now = context.wallClock.millisecondsSince1970
            try context.db.execute(
                sql: """
                    INSERT INTO attachments (digest, media_type, size, data, added_at, uploaded_at)
                    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING
                    """,
                arguments: [digest, mediaType, bytes.count, bytes, now, now]
            )
        }
    }
}
