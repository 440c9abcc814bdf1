import Foundation
import ReplicaStore
import SyncCore
import WireProtocol

/// An attachment the server did not take in a sync, and why; a later sync offers it again.
public struct AttachmentRefusal: Hashable, Sendable {
    /// The attachment's digest.
    public var digest: String
    /// The server's refusal.
    public var refusal: ProtocolError

    public init(digest: String, refusal: ProtocolError) {
        self.digest = digest
        self.refusal = refusal
    }
}

extension SyncClient {
    /// Sends the bytes of the attachments the server does not hold whole yet, one after another, each chunk
    /// acknowledged (durable there) before the next: a cut costs at most a chunk, and the next sync goes on from what
    /// the server holds. Runs after the round's records, on version 4 connections.
    func uploadAttachments(_ session: inout Session) async throws {
        // A pass in order, each attachment offered once: those the server will not take this time (their return
        // set aside) never hold back the ones after them.
        var position: ReplicaStore.UploadPosition?
        var first = session.round.firstAttachments
        session.round.firstAttachments = nil
        while true {
            let pending: [(digest: String, size: Int64, position: ReplicaStore.UploadPosition)]
            if let read = first {
                pending = read
                first = nil
            } else {
                pending = try await storage { [position] in
                    try $0.attachmentsToUpload(after: position, limit: Self.attachmentPage)
                }
            }
            guard !pending.isEmpty else { return }
            for (digest, size, next) in pending {
                position = next
                var upload = AttachmentUpload(digest: digest, size: size)
                try await session.conversation.send(upload.start())
                sending: while true {
                    switch try upload.receive(try await session.conversation.receive()) {
                    case .send(let message):
                        try await session.conversation.send(message)
                    case .sendChunk(let offset, let length):
                        let bytes = try await storage { try $0.attachmentChunk(digest, from: offset, limit: length) }
                        guard bytes.count == length else {
                            throw SyncError("attachment \(digest) is shorter here than its size \(size)")
                        }
                        try await session.conversation.send(
                            .attachmentPut(digest: digest, offset: Int(offset), data: Array(bytes))
                        )
                        session.round.report.attachmentBytesSent += Int64(length)
                    case .uploaded:
                        try await storage { try $0.markAttachmentUploaded(digest) }
                        session.round.report.attachmentsSent += 1
                        break sending
                    case .skipped(let refusal):
                        logger.notice(
                            "the server did not take an attachment this time; a later sync offers it again",
                            metadata: [
                                "digest": "\(digest)", "code": "\(refusal.code.rawValue)", "why": "\(refusal.message)",
                            ]
                        )
                        session.round.report.attachmentsWaiting.append(
                            AttachmentRefusal(digest: digest, refusal: refusal)
                        )
                        break sending
                    }
                }
            }
        }
    }

    /// Fetches the bytes of attachment `digest` from the server (a photo another kiosk of the store took), checks
    /// them against the digest and keeps them here.
    ///
    /// - Returns: the bytes and their media type.
    /// - Throws: ``SyncError`` when no return here names the attachment, the server cannot be reached, does not hold
    ///   all of its bytes yet or refuses (another store's), or sends bytes that are not the ones named.
    public func fetchAttachment(
        _ digest: String,
        server override: String? = nil
    ) async throws -> (
        mediaType: String, data: Data
    ) {
        guard let named = try await storage({ try $0.namedAttachment(digest) }) else {
            throw SyncError("no return on this kiosk names attachment \(digest)")
        }
        let data: Data = try await withSession(server: override) { session in
            guard session.core.version >= 4 else {
                throw SyncError(
                    "the server speaks protocol version \(session.core.version): upgrade it to fetch attachments"
                )
            }
            var download = AttachmentDownload(digest: digest)
            var bytes = Data()
            try await session.conversation.send(download.start())
            while true {
                switch try download.receive(try await session.conversation.receive()) {
                case .received(let chunk, let next):
                    bytes.append(contentsOf: chunk)
                    try await session.conversation.send(next)
                case .complete(let chunk, _):
                    bytes.append(contentsOf: chunk)
                    try await bye(&session)
                    return bytes
                }
            }
        }
        try await storage { try $0.storeFetchedAttachment(digest, mediaType: named.mediaType, bytes: data) }
        return (named.mediaType, data)
    }
}
