import Foundation
import WireProtocol

/// A kiosk sending one attachment's bytes (Protocol/SPEC.md §5.5), as a state machine without sockets or storage:
/// ask what the server holds, send chunks from there, each acknowledged before the next.
///
/// ```swift
/// var upload = AttachmentUpload(digest: digest, size: size)
/// send(upload.start())                                  // attachment-offer
/// switch try upload.receive(answer) {                   // attachment-ack: held 0 of 300,000
/// case .sendChunk(let offset, let length): …            // read those bytes, send attachment-put
/// case .uploaded: …                                     // the server holds them all, verified
/// case .skipped(let refusal): …                         // not now (its return is not on the server)
/// case .send(let message): …                            // asks again (a chunk crossed another kiosk's)
/// }
/// ```
public struct AttachmentUpload: Sendable {
    /// What the driver does next.
    public enum Step: Sendable, Equatable {
        /// Sends this message.
        case send(SyncMessage)
        /// Reads `length` bytes from `offset` and sends them as an `attachment-put`.
        case sendChunk(offset: Int64, length: Int)
        /// The server holds every byte, checked against the digest: this attachment is never sent again.
        case uploaded
        /// The server will not take the bytes now (no return of the store names them there yet, say); a later sync
        /// tries again. The connection goes on.
        case skipped(ProtocolError)
    }

    /// The bytes a kiosk sends in one chunk: a cut line loses at most this much, and an answer comes every few
    /// seconds even on a slow line.
    public static let defaultChunk = 256 * 1024

    /// The attachment's digest.
    public let digest: String
    /// Its size, as held here.
    public let size: Int64
    private let chunk: Int
    /// Times the server asked to start again (another kiosk's chunk came first, a digest mismatch): bounded, so
    /// two kiosks cannot go on forever, and damaged bytes here are not sent over and over.
    private var restarts = 0

    /// An upload of the bytes named `digest`, `size` of them, in chunks of `chunk` bytes.
    public init(digest: String, size: Int64, chunk: Int = defaultChunk) {
        self.digest = digest
        self.size = size
        self.chunk = max(1, min(chunk, maximumAttachmentChunk))
    }

    /// The first message: what does the server hold?
    public func start() -> SyncMessage { .attachmentOffer(digest: digest) }

    /// Takes the server's answer to the last message sent.
    ///
    /// - Throws: ``SyncError`` for an answer that is not one, or a refusal that closes the connection.
    public mutating func receive(_ message: SyncMessage) throws(SyncError) -> Step {
        switch message {
        case .attachmentAck(let answered, let size, let held, let complete) where answered == digest:
            if complete { return .uploaded }
            // The server's size is what a return of the store gives; bytes past either end are not sent.
            let end = min(Int64(size), self.size)
            guard Int64(held) < end else {
                return .skipped(
                    ProtocolError(
                        .limitExceeded,
                        "the server expects \(size) bytes for attachment \(digest), this kiosk holds \(self.size)"
                    )
                )
            }
            return .sendChunk(offset: Int64(held), length: Int(min(Int64(chunk), end - Int64(held))))
        case .error(let refusal) where refusal.code == .chunkOutOfOrder || refusal.code == .digestMismatch:
            restarts += 1
            guard restarts <= 3 else { return .skipped(refusal) }
            return .send(start())
        case .error(let refusal) where !refusal.code.closesConnection:
            return .skipped(refusal)
        case .error(let refusal):
            throw SyncError.refused(by: refusal)
        default:
            throw SyncError("the server answered \(message.type) to attachment \(digest)")
        }
    }
}

/// A kiosk fetching one attachment's bytes from the server on demand (Protocol/SPEC.md §5.5): chunk after chunk
/// from byte 0, each checked to continue where the last ended, and all of them against the digest at the end.
public struct AttachmentDownload {
    /// What the driver does next.
    public enum Step: Sendable, Equatable {
        /// Keeps `bytes` (the next ones, in order) and sends `next`.
        case received(bytes: [UInt8], next: SyncMessage)
        /// Keeps `bytes`, the last ones: all of them, `size` in all, hash to the digest.
        case complete(bytes: [UInt8], size: Int64)
    }

    /// The attachment's digest.
    public let digest: String
    private var received: Int64 = 0
    private var verifier: AttachmentRules.Verifier

    /// A download of the bytes named `digest`.
    public init(digest: String) {
        self.digest = digest
        verifier = AttachmentRules.Verifier(digest: digest)
    }

    /// The first message.
    public func start() -> SyncMessage { .attachmentGet(digest: digest, offset: 0) }

    /// Takes the server's answer to the last `attachment-get`.
    ///
    /// - Throws: ``SyncError``: the server's refusal (unknown to this store, not all sent to the server yet), bytes
    ///   out of place or beyond the size, or bytes that do not hash to the digest.
    public mutating func receive(_ message: SyncMessage) throws(SyncError) -> Step {
        switch message {
        case .attachmentData(let answered, let offset, let size, let data) where answered == digest:
            guard Int64(offset) == received, !data.isEmpty, received + Int64(data.count) <= Int64(size) else {
                throw SyncError(
                    "the server sent \(data.count) bytes at byte \(offset) of attachment \(digest) (\(size) in all) "
                        + "after \(received): not the next ones"
                )
            }
            received += Int64(data.count)
            verifier.update(data)
            guard received == Int64(size) else {
                return .received(bytes: data, next: .attachmentGet(digest: digest, offset: Int(received)))
            }
            guard verifier.verifies else {
                throw SyncError("the bytes the server sent for attachment \(digest) have another SHA-256")
            }
            return .complete(bytes: data, size: received)
        case .error(let refusal):
            throw SyncError.refused(by: refusal)
        default:
            throw SyncError("the server answered \(message.type) to a request for attachment \(digest)")
        }
    }
}
