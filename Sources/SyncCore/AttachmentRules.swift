import Crypto
import Foundation
import ReturnsModel
import WireProtocol

/// What a server holds of one attachment's bytes, as its storage tells it.
public struct AttachmentState: Hashable, Sendable {
    /// The SHA-256 of the bytes, 64 lower-case hex digits: the attachment's name.
    public var digest: String
    /// The media type the returns naming it give.
    public var mediaType: String
    /// Its size in bytes, as the returns naming it give it.
    public var size: Int64
    /// How many of its first bytes the server holds.
    public var held: Int64
    /// Whether the server holds them all, checked against `digest`.
    public var complete: Bool

    /// Creates a state.
    public init(digest: String, mediaType: String, size: Int64, held: Int64, complete: Bool) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.held = held
        self.complete = complete
    }

    /// The `attachment-ack` that tells a kiosk this state.
    public var acknowledgement: SyncMessage {
        .attachmentAck(digest: digest, size: Int(size), held: Int(held), complete: complete)
    }
}

/// The rules of an attachment's bytes on the server (Protocol/SPEC.md §5.5), in one place for every backend: which
/// kiosk may send or read them, in which order chunks come, and when bytes are taken as the attachment's.
///
/// A backend calls them inside the transaction that stores a chunk, so two kiosks sending the same photo at once
/// cannot interleave their chunks.
public enum AttachmentRules {
    /// The most bytes a server sends in one `attachment-data`: small enough that a slow line gets an answer every
    /// few seconds, large enough that a photo is a handful of round trips.
    public static let dataChunk = 256 * 1024

    /// Whether `digest` is an attachment's name: 64 lower-case hex digits.
    public static func isDigest(_ digest: String) -> Bool {
        digest.utf8.count == 64 && isLowercaseHex(digest)
    }

    /// Whether `text` (lower-cased first) starts a digest as people type one: 8 to 64 hex digits, as listings print
    /// the first 12.
    public static func isDigestPrefix(_ text: String) -> Bool {
        (8...64).contains(text.utf8.count) && isLowercaseHex(text.lowercased())
    }

    /// Why `text` names no digest, for commands that take a digest or its start.
    public static func invalidDigestPrefix(_ text: String) -> String {
        "invalid attachment digest '\(text)': expected 8 to 64 hex digits of its SHA-256"
    }

    private static func isLowercaseHex(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The refusal for a digest no return of the kiosk's store names: the same for a digest nobody named and one
    /// only another store's returns name, so a kiosk learns nothing about other stores' attachments.
    public static func unknown(_ digest: String) -> ProtocolError {
        ProtocolError(
            .unknownAttachment,
            "no return of this kiosk's store names attachment \(digest) (push the return first)"
        )
    }

    /// Checks a chunk of `bytes` at `offset` against what the server holds.
    ///
    /// - Throws: `chunk-out-of-order` unless it starts where the held bytes end (the kiosk asks again with
    ///   `attachment-offer` and goes on from there), `limit-exceeded` for a chunk running past the attachment's size
    ///   or an empty one, `media-type-mismatch` for a first chunk that does not begin as the media type the return
    ///   names (an HTML page sent as a photo never reaches HQ's screens).
    public static func checkChunk(
        _ bytes: some Collection<UInt8>,
        at offset: Int64,
        state: AttachmentState
    ) throws(ProtocolError) {
        guard !state.complete else { return }
        let count = bytes.count
        guard offset == state.held else {
            throw ProtocolError(
                .chunkOutOfOrder,
                "a chunk of attachment \(state.digest) at byte \(offset): the server holds \(state.held) bytes, so the "
                    + "next chunk starts there"
            )
        }
        guard count > 0, offset + Int64(count) <= state.size else {
            throw ProtocolError(
                .limitExceeded,
                "a chunk of \(count) bytes at byte \(offset) of attachment \(state.digest), which has \(state.size): "
                    + "chunks are not empty and end within the attachment"
            )
        }
        if offset == 0, Attachment.MediaType(sniffing: bytes)?.rawValue != state.mediaType {
            throw ProtocolError(
                .mediaTypeMismatch,
                "attachment \(state.digest) does not begin as a \(state.mediaType) file, which its return says it is"
            )
        }
    }

    /// Checks bytes against their digest chunk by chunk, as they are read back or arrive, so no attachment is ever
    /// held in memory whole.
    public struct Verifier {
        private var hash = SHA256()
        private let digest: String

        /// A verifier of the bytes named `digest`.
        public init(digest: String) {
            self.digest = digest
        }

        /// Takes the next bytes.
        public mutating func update(_ bytes: some DataProtocol) {
            hash.update(data: bytes)
        }

        /// Whether the bytes taken are the ones named by the digest.
        public var verifies: Bool { hex(hash.finalize()) == digest }
    }

    /// Checks a read of a complete attachment from `offset`.
    ///
    /// - Throws: `attachment-unavailable` while the server does not hold every byte (the kiosk that took it has not
    ///   sent them yet), `limit-exceeded` for an offset at or past its end.
    public static func checkRead(at offset: Int64, state: AttachmentState) throws(ProtocolError) {
        guard state.complete else {
            throw ProtocolError(
                .attachmentUnavailable,
                "the server holds \(state.held) of the \(state.size) bytes of attachment \(state.digest) so far: the "
                    + "kiosk that took it has not sent it all yet; try again later"
            )
        }
        guard offset < state.size else {
            throw ProtocolError(
                .limitExceeded,
                "byte \(offset) of attachment \(state.digest), which has \(state.size): read from 0 to \(state.size - 1)"
            )
        }
    }

    /// The refusal for bytes that do not hash to their digest; the server has dropped them.
    public static func mismatch(_ digest: String) -> ProtocolError {
        ProtocolError(
            .digestMismatch,
            "the bytes received for attachment \(digest) have another SHA-256: the server dropped them; send them again "
                + "from byte 0"
        )
    }

    /// A digest in lower-case hex: an attachment's name.
    public static func hex(_ digest: some Sequence<UInt8>) -> String { lowercaseHex(digest) }
}
