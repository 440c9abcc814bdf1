import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnsModel
import ReturnsServer
import SyncCore

/// Attachments' bytes on PostgreSQL: the same rules (``AttachmentRules``) and tables as SQLite's, each chunk in its
/// own transaction under a lock on its digest, so the server processes sharing the database take a photo's chunks
/// one at a time.
extension PostgresServerStorage: AttachmentAdministration {
    public func attachmentState(_ digest: String, store: StoreID) async throws -> AttachmentState? {
        try await transaction { [logger] connection in
            try await Self.attachmentState(digest, store: store.rawValue, on: connection, logger: logger)
        }
    }

    static func attachmentState(
        _ digest: String,
        store: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> AttachmentState? {
        var named: (mediaType: String, size: Int64)?
        for try await row in try await connection.query(
            "SELECT media_type, size FROM return_attachments WHERE digest = \(digest) AND store_id = \(store) LIMIT 1",
            logger: logger
        ).decode((String, Int64).self) { named = row }
        guard let named else { return nil }
        for try await (size, held, complete) in try await connection.query(
            "SELECT size, held, complete_at IS NOT NULL FROM attachment_uploads WHERE digest = \(digest)",
            logger: logger
        ).decode((Int64, Int64, Bool).self) where complete || size == named.size {
            // As on SQLite: complete bytes are told as they are; an unfinished upload of another claimed size does
            // not count.
            return AttachmentState(
                digest: digest,
                mediaType: named.mediaType,
                size: size,
                held: held,
                complete: complete
            )
        }
        return AttachmentState(digest: digest, mediaType: named.mediaType, size: named.size, held: 0, complete: false)
    }

    public func appendAttachmentChunk(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        bytes: Data
    ) async throws -> AttachmentState {
        enum Outcome: Sendable {
            case held(AttachmentState)
            case mismatch
        }
        let outcome = try await transaction { [logger] connection -> Outcome in
            // One chunk of a digest at a time, across every server process.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(digest)))", logger: logger)
            guard
                var state = try await Self.attachmentState(
                    digest,
                    store: store.rawValue,
                    on: connection,
                    logger: logger
                )
            else { throw AttachmentRules.unknown(digest) }
            try AttachmentRules.checkChunk(bytes, at: offset, state: state)
            guard !state.complete else { return .held(state) }
            if offset == 0 {
                try await connection.query("DELETE FROM attachment_chunks WHERE digest = \(digest)", logger: logger)
            }
            try await connection.query(
                "INSERT INTO attachment_chunks (digest, byte_offset, data) VALUES (\(digest), \(offset), \(bytes))",
                logger: logger
            )
            state.held = offset + Int64(bytes.count)
            if state.held == state.size {
                var verifier = AttachmentRules.Verifier(digest: digest)
                for try await (chunk) in try await connection.query(
                    "SELECT data FROM attachment_chunks WHERE digest = \(digest) ORDER BY byte_offset",
                    logger: logger
                ).decode(ByteBuffer.self) { verifier.update(chunk.readableBytesView) }
                guard verifier.verifies else {
                    try await connection.query("DELETE FROM attachment_chunks WHERE digest = \(digest)", logger: logger)
                    try await connection.query(
                        "DELETE FROM attachment_uploads WHERE digest = \(digest)",
                        logger: logger
                    )
                    return .mismatch
                }
                state.complete = true
            }
            let complete = state.complete
            try await connection.query(
                """
                INSERT INTO attachment_uploads (digest, size, held, complete_at)
                VALUES (\(digest), \(state.size), \(state.held), CASE WHEN \(complete) THEN now() END)
                ON CONFLICT (digest) DO UPDATE SET size = excluded.size, held = excluded.held,
                    complete_at = excluded.complete_at
                """,
                logger: logger
            )
            return .held(state)
        }
        switch outcome {
        case .held(let state): return state
        case .mismatch: throw AttachmentRules.mismatch(digest)
        }
    }

    public func attachmentData(
        _ digest: String,
        store: StoreID,
        offset: Int64,
        limit: Int
    ) async throws -> (state: AttachmentState, bytes: Data) {
        try await transaction { [logger] connection in
            guard
                let state = try await Self.attachmentState(
                    digest,
                    store: store.rawValue,
                    on: connection,
                    logger: logger
                )
            else { throw AttachmentRules.unknown(digest) }
            try AttachmentRules.checkRead(at: offset, state: state)
            var bytes = Data()
            for try await (start, chunk) in try await connection.query(
                """
                SELECT byte_offset, data FROM attachment_chunks
                WHERE digest = \(digest) AND byte_offset + length(data) > \(offset)
                    AND byte_offset < \(offset) + \(Int64(limit))
                ORDER BY byte_offset
                """,
                logger: logger
            ).decode((Int64, ByteBuffer).self) where bytes.count < limit {
                let view = chunk.readableBytesView
                let from = Int(max(0, offset + Int64(bytes.count) - start))
                bytes.append(contentsOf: view.dropFirst(from).prefix(limit - bytes.count))
            }
            return (state, bytes)
        }
    }

    public func attachmentListing(store: StoreID?, missing: Bool) async throws -> [AttachmentListing] {
        try await transaction { [logger] connection in
            var listing: [AttachmentListing] = []
            for try await (digest, mediaType, size, stores, returns, held, complete) in try await connection.query(
                """
                SELECT n.digest, min(n.media_type), min(n.size), string_agg(DISTINCT n.store_id, ','),
                    count(*)::bigint, coalesce(max(u.held), 0)::bigint,
                    coalesce(bool_or(u.complete_at IS NOT NULL), false)
                FROM return_attachments n LEFT JOIN attachment_uploads u ON u.digest = n.digest
                WHERE \(store?.rawValue)::text IS NULL OR n.store_id = \(store?.rawValue)::text
                GROUP BY n.digest
                HAVING NOT \(missing) OR NOT coalesce(bool_or(u.complete_at IS NOT NULL), false)
                ORDER BY n.digest
                """,
                logger: logger
            ).decode((String, String, Int64, String, Int64, Int64, Bool).self) {
                listing.append(
                    AttachmentListing(
                        digest: digest,
                        mediaType: mediaType,
                        size: size,
                        held: held,
                        complete: complete,
                        stores: stores.split(separator: ",").map(String.init).sorted(),
                        returns: Int(returns)
                    )
                )
            }
            return listing
        }
    }

    public func streamAttachment(
        _ digest: String,
        to sink: @escaping @Sendable (Data) throws -> Void
    ) async throws -> (mediaType: String, size: Int64)? {
        try await transaction { [logger] connection -> (mediaType: String, size: Int64)? in
            var mediaType: String?
            for try await (type, complete) in try await connection.query(
                """
                SELECT n.media_type, u.complete_at IS NOT NULL FROM return_attachments n
                LEFT JOIN attachment_uploads u ON u.digest = n.digest WHERE n.digest = \(digest) LIMIT 1
                """,
                logger: logger
            ).decode((String, Bool?).self) where complete == true { mediaType = type }
            guard let mediaType else { return nil }
            var verifier = AttachmentRules.Verifier(digest: digest)
            var size: Int64 = 0
            for try await (chunk) in try await connection.query(
                "SELECT data FROM attachment_chunks WHERE digest = \(digest) ORDER BY byte_offset",
                logger: logger
            ).decode(ByteBuffer.self) {
                let data = Data(chunk.readableBytesView)
                verifier.update(data)
                try sink(data)
                size += Int64(data.count)
            }
            guard verifier.verifies else {
                throw PostgresStorageError("the stored bytes of attachment \(digest) are damaged")
            }
            return (mediaType, size)
        }
    }
}
