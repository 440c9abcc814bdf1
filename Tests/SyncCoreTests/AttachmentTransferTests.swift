import Crypto
import Foundation
import SyncCore
import Testing
import WireProtocol

/// The attachment messages' rules and the kiosk's upload and download, message by message, without sockets.
@Suite struct AttachmentTransferTests {
    static let bytes = Data((0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
    static let digest = AttachmentRules.hex(SHA256.hash(data: bytes))

    @Test func attachmentMessagesNeedVersion4AndADigestThatIsOne() throws {
        var v3 = try ServerSessionTests.established(versions: [3])
        #expect(
            throws: ProtocolError(
                .unexpectedMessage,
                "attachment messages need protocol version 4; this connection speaks 3"
            )
        ) {
            try v3.receive(.attachmentOffer(digest: Self.digest))
        }
        var v4 = try ServerSessionTests.established()
        let actions = try v4.receive(.attachmentPut(digest: Self.digest, offset: 5, data: [1, 2]))
        #expect(actions.contains { if case .attachmentPut(_, Self.digest, 5, [1, 2]) = $0 { true } else { false } })
        for bad in ["", String(Self.digest.dropLast()), Self.digest.uppercased(), "../" + Self.digest.dropFirst(3)] {
            var session = try ServerSessionTests.established()
            do {
                _ = try session.receive(.attachmentGet(digest: bad, offset: 0))
                Issue.record("accepted digest '\(bad)'")
            } catch {
                #expect(error.code == .malformedFrame)
            }
        }
    }

    @Test func chunksComeInOrderAndEndWithinTheAttachment() throws {
        let state = AttachmentState(
            digest: Self.digest,
            mediaType: "image/jpeg",
            size: 700_000,
            held: 262_144,
            complete: false
        )
        try AttachmentRules.checkChunk(Data(count: 262_144), at: 262_144, state: state)
        try AttachmentRules.checkChunk(Data(count: 700_000 - 262_144), at: 262_144, state: state)
        #expect(throws: ProtocolError.self) { try AttachmentRules.checkChunk(Data(count: 10), at: 0, state: state) }
        do {
            try AttachmentRules.checkChunk(Data(count: 10), at: 524_288, state: state)
        } catch {
            #expect(error.code == .chunkOutOfOrder)
            #expect(error.message.contains("262144"), "names what the server holds: \(error.message)")
        }
        do {
            try AttachmentRules.checkChunk(Data(count: 700_000), at: 262_144, state: state)
        } catch {
            #expect(error.code == .limitExceeded)
        }
        do {
            try AttachmentRules.checkChunk(Data(count: 0), at: 262_144, state: state)
        } catch {
            #expect(error.code == .limitExceeded)
        }
        // The first bytes are the media type's the return names: what the kiosk checked, the server checks again.
        let fresh = AttachmentState(
            digest: Self.digest,
            mediaType: "image/jpeg",
            size: 700_000,
            held: 0,
            complete: false
        )
        try AttachmentRules.checkChunk(Data([0xFF, 0xD8, 0xFF, 0xE0]), at: 0, state: fresh)
        do {
            try AttachmentRules.checkChunk(Data("<html><script>".utf8), at: 0, state: fresh)
            Issue.record("took an HTML page as a JPEG")
        } catch {
            #expect(error.code == .mediaTypeMismatch)
            #expect(error.message.contains("image/jpeg"))
        }
        // Once complete, a chunk sent again after a lost acknowledgement is answered, not refused.
        var complete = state
        complete.complete = true
        complete.held = 700_000
        try AttachmentRules.checkChunk(Data(count: 10), at: 0, state: complete)
        do {
            try AttachmentRules.checkRead(at: 0, state: state)
        } catch {
            #expect(error.code == .attachmentUnavailable)
        }
        try AttachmentRules.checkRead(at: 699_999, state: complete)
        #expect(throws: ProtocolError.self) { try AttachmentRules.checkRead(at: 700_000, state: complete) }
    }

    @Test func theVerifierChecksBytesChunkByChunk() {
        var verifier = AttachmentRules.Verifier(digest: Self.digest)
        for start in stride(from: 0, to: Self.bytes.count, by: 100_000) {
            verifier.update(Self.bytes[start..<min(start + 100_000, Self.bytes.count)])
        }
        #expect(verifier.verifies)
        var wrong = AttachmentRules.Verifier(digest: Self.digest)
        wrong.update(Self.bytes.dropLast())
        #expect(!wrong.verifies)
    }

    @Test func anUploadGoesOnFromWhatTheServerHoldsChunkByChunk() throws {
        var upload = AttachmentUpload(digest: Self.digest, size: 700_000)
        #expect(upload.start() == .attachmentOffer(digest: Self.digest))
        // The server holds the first 300,000 bytes from a cut sync: the upload resumes there.
        #expect(
            try upload.receive(.attachmentAck(digest: Self.digest, size: 700_000, held: 300_000, complete: false))
                == .sendChunk(offset: 300_000, length: 262_144)
        )
        #expect(
            try upload.receive(.attachmentAck(digest: Self.digest, size: 700_000, held: 562_144, complete: false))
                == .sendChunk(offset: 562_144, length: 137_856)
        )
        #expect(
            try upload.receive(.attachmentAck(digest: Self.digest, size: 700_000, held: 700_000, complete: true))
                == .uploaded
        )
    }

    @Test func anUploadAsksAgainAfterACrossedChunkAndGivesUpAfterThreeRestarts() throws {
        var upload = AttachmentUpload(digest: Self.digest, size: 700_000)
        for _ in 0..<3 {
            #expect(
                try upload.receive(.error(ProtocolError(.chunkOutOfOrder, "held 5")))
                    == .send(.attachmentOffer(digest: Self.digest))
            )
        }
        let refusal = ProtocolError(.digestMismatch, "dropped")
        #expect(try upload.receive(.error(refusal)) == .skipped(refusal))
        let unknown = ProtocolError(.unknownAttachment, "push the return first")
        var other = AttachmentUpload(digest: Self.digest, size: 700_000)
        #expect(try other.receive(.error(unknown)) == .skipped(unknown))
        #expect(throws: SyncError.self) { try other.receive(.error(ProtocolError(.internalError, "storage"))) }
        #expect(throws: SyncError.self) { try other.receive(.pullBatch(records: [], cursor: "0", more: false)) }
        #expect(throws: SyncError.self) {
            try other.receive(
                .attachmentAck(digest: String(repeating: "0", count: 64), size: 1, held: 0, complete: false)
            )
        }
    }

    @Test func aDownloadTakesTheNextBytesOnlyAndChecksTheDigest() throws {
        // Small, so a failure prints a readable message.
        let bytes = Array(Self.bytes.prefix(3_000))
        let digest = AttachmentRules.hex(SHA256.hash(data: bytes))
        var download = AttachmentDownload(digest: digest)
        #expect(download.start() == .attachmentGet(digest: digest, offset: 0))
        let first = Array(bytes.prefix(1_000))
        #expect(
            try download.receive(.attachmentData(digest: digest, offset: 0, size: 3_000, data: first))
                == .received(bytes: first, next: .attachmentGet(digest: digest, offset: 1_000))
        )
        // Bytes out of place are refused.
        var copy = download
        #expect(throws: SyncError.self) {
            try copy.receive(.attachmentData(digest: digest, offset: 0, size: 3_000, data: first))
        }
        let rest = Array(bytes.dropFirst(1_000))
        #expect(
            try download.receive(.attachmentData(digest: digest, offset: 1_000, size: 3_000, data: rest))
                == .complete(bytes: rest, size: 3_000)
        )
        // Other bytes of the same size: the digest tells.
        var forged = AttachmentDownload(digest: Self.digest)
        #expect(throws: SyncError.self) {
            try forged.receive(
                .attachmentData(digest: Self.digest, offset: 0, size: 3, data: [1, 2, 3])
            )
        }
        var refused = AttachmentDownload(digest: Self.digest)
        do {
            _ = try refused.receive(.error(ProtocolError(.attachmentUnavailable, "not yet")))
            Issue.record("accepted a refusal")
        } catch {
            #expect(error.serverError?.code == .attachmentUnavailable)
        }
    }
}
