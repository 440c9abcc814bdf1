import Crypto
import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
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
            let dot = try record.updateReturn(by: context.replicaID, stamp: stamp, operatorID: operatorID) {
                item,
                author,
                date in
                try item.attach(attachment, maximumReturnBytes: limits.maximumReturnBytes, by: author, at: date)
            }
            try context.save(record, origin: .local, operation: "attach", dot: dot, item: ProductReturn(record: record))
        }
        return attachment
    }

    /// The digest of the attachment held here that `prefix` (at least 8 lower-case hex digits) names.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` naming the prefix when no attachment, or more than
    ///   one, starts with it (the candidates named); ``ReturnsModelError`` for a prefix that is not hex.
    public func attachmentDigest(withPrefix prefix: String) throws -> String {
        let prefix = prefix.lowercased()
        guard (8...64).contains(prefix.utf8.count),
            prefix.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid attachment digest '\(prefix)': expected 8 to 64 hex digits of its SHA-256"
            )
        }
        let found = try read { db in
            try String.fetchAll(
                db,
                sql: "SELECT digest FROM attachments WHERE digest >= ? AND digest < ? ORDER BY digest LIMIT 3",
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
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
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
