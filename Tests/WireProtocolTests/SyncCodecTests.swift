import NIOCore
import NIOEmbedded
import SyncEngine
import SyncTransport
import Testing
import WireProtocol

@Suite struct SyncCodecTests {
    static let record: VersionedRecord = {
        var record = VersionedRecord(entityType: "return", id: "r-1")
        try! record.apply(
            RecordEdit(assignments: ["status": "received", "quantity": 2], additions: ["notes": ["a \"note\"\n"]]),
            by: ReplicaID("s/k"),
            stamp: HLCTimestamp(physical: 1_780_000_000_000)
        )
        return record
    }()

    static let messages: [SyncMessage] = [
        .hello(versions: [1, 2], replicaID: "s/k", storeID: "s", kioskID: "k"),
        .hello(versions: [3], replicaID: "s/k", storeID: "s", kioskID: "k", nonce: "a2lvc2s="),
        .challenge(version: 1, nonce: "bm9uY2U=", serverID: "hq"),
        .challenge(version: 3, nonce: "bm9uY2U=", serverID: "hq", serverKey: "a2V5", serverSignature: "c2ln"),
        .authenticate(signature: "c2ln", publicKey: "a2V5", tokenProof: "cHJvb2Y="),
        .authenticate(signature: "c2ln", publicKey: nil, tokenProof: nil),
        .error(ProtocolError(.conflictingWrite, "write hq:1", recordID: "r-1")),
        .welcome(replicaID: "s/k", storeID: "s"),
        .welcome(replicaID: "s/k", storeID: "s", serverTime: 1_764_806_400_000),
        .push(batch: 3, records: [record, record]),
        .pushAck(batch: 3, merged: 1, unchanged: 1, conflicts: [.init(recordID: "r-1", field: "disposition")]),
        .pull(cursor: "42", limit: 500),
        .pull(cursor: "42", limit: 500, estimate: true),
        .pullBatch(records: [record], cursor: "43", more: true),
        .pullBatch(records: [record], cursor: "43", more: true, estimate: 1_200),
        .watch(cursor: "43", seconds: 25),
        .changed,
        .quiet,
        .bye,
        .error(ProtocolError(.forgedClock, "claims hq:5")),
        .attachmentOffer(digest: digest),
        .attachmentPut(digest: digest, offset: 262_144, data: [0xFF, 0xD8, 0x00, 0x0A, 0x22]),
        .attachmentAck(digest: digest, size: 300_000, held: 262_144, complete: false),
        .attachmentGet(digest: digest, offset: 0),
        .attachmentData(digest: digest, offset: 0, size: 3, data: [1, 2, 3]),
        .error(ProtocolError(.chunkOutOfOrder, "held 5")),
    ]

    static let digest = String(repeating: "ab", count: 32)

    @Test func anAttachmentChunkOverTheLimitIsRefusedBeforeItIsDecoded() throws {
        let chunk = [UInt8](repeating: 7, count: maximumAttachmentChunk + 1)
        let frame = SyncMessage.attachmentPut(digest: Self.digest, offset: 0, data: chunk).encoded()
        #expect(frame.count < maximumFrameSize, "the frame itself is allowed; the chunk is not")
        do {
            let decoded = try SyncMessage.decode(frame)
            Issue.record("decoded a \(decoded.type) of more than \(maximumAttachmentChunk) bytes")
        } catch let error as ProtocolError {
            #expect(error.code == .limitExceeded)
            #expect(error.message.contains("\(maximumAttachmentChunk)"))
        }
        // The largest chunk allowed decodes.
        let largest = [UInt8](repeating: 7, count: maximumAttachmentChunk)
        let decoded = try SyncMessage.decode(
            SyncMessage.attachmentPut(digest: Self.digest, offset: 0, data: largest).encoded()
        )
        // Compared without printing a megabyte on failure.
        let same = decoded == .attachmentPut(digest: Self.digest, offset: 0, data: largest)
        #expect(same, "the largest chunk decodes")
    }

    @Test func attachmentBytesThatAreNotBase64AreAMalformedFrame() throws {
        let frame = "{\"type\":\"attachment-put\",\"digest\":\"\(Self.digest)\",\"offset\":0,\"data\":\"not*base64\"}"
        do {
            _ = try SyncMessage.decode(Array(frame.utf8))
            Issue.record("decoded")
        } catch let error as ProtocolError {
            #expect(error.code == .malformedFrame)
            #expect(error.message.contains("'data'"))
        }
    }

    @Test func anEncodedPullBatchIsTheFrameOfThePullBatchItStandsFor() throws {
        for estimate in [nil, 7] {
            let encoded = SyncMessage.encodedPullBatch(
                records: [Self.record.jsonValue.serializedString],
                cursor: "9",
                more: false,
                estimate: estimate
            ).encoded()
            let decoded = SyncMessage.pullBatch(records: [Self.record], cursor: "9", more: false, estimate: estimate)
            #expect(encoded == decoded.encoded())
            #expect(try SyncMessage.decode(encoded) == decoded)
        }
    }

    @Test(arguments: messages)
    func everyMessageRoundTrips(message: SyncMessage) throws {
        let frame = message.encoded()
        #expect(!frame.contains(UInt8(ascii: "\n")), "a frame is one line")
        #expect(try SyncMessage.decode(frame) == message)
    }

    private func decodeAll(_ bytes: [UInt8], chunkSizes: [Int]) throws -> [SyncFrame] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addSyncProtocolHandlers(maximumFrameSize: 64 * 1024)
        var offset = 0
        var sizes = chunkSizes.makeIterator()
        while offset < bytes.count {
            let size = min(sizes.next() ?? 1, bytes.count - offset)
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<(offset + size)]))
            offset += size
        }
        var frames: [SyncFrame] = []
        while let frame = try channel.readInbound(as: SyncFrame.self) { frames.append(frame) }
        _ = try channel.finish()
        return frames
    }

    @Test func framesDecodeFedByteByByteAndInRandomChunks() throws {
        let stream = Self.messages.flatMap { $0.encoded() + [UInt8(ascii: "\n")] }
        var generator = SystemRandomNumberGenerator()
        for chunkSizes in [[1], (0..<500).map { _ in Int.random(in: 1...97, using: &generator) }, [stream.count]] {
            let frames = try decodeAll(stream, chunkSizes: chunkSizes)
            let decoded = frames.compactMap { frame -> SyncMessage? in
                if case .message(let message) = frame { return message }
                return nil
            }
            #expect(decoded == Self.messages)
        }
    }

    @Test func theEncoderWritesOneLinePerMessage() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addSyncProtocolHandlers()
        try channel.writeOutbound(SyncMessage.bye)
        let buffer = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: buffer) == #"{"type":"bye"}"# + "\n")
        _ = try channel.finish()
    }

    @Test(arguments: [
        ("not json", ProtocolError.Code.malformedFrame, "invalid JSON"),
        (#"{"type":"gossip"}"#, .malformedFrame, "unknown message type 'gossip'"),
        (#"{"type":"pull","cursor":"1"}"#, .malformedFrame, "missing key 'limit'"),
        (#"{"type":"pull","cursor":1,"limit":5}"#, .malformedFrame, "key 'cursor': expected a string"),
        (#"{"type":"pull","cursor":"1","limit":-5}"#, .malformedFrame, "key 'limit'"),
        (#"[1]"#, .malformedFrame, "a frame is a JSON object"),
        (#"{"type":"push","batch":1,"records":[{"type":"return"}]}"#, .invalidRecord, "records[0]"),
    ])
    func badFramesArriveAsInvalidWithACode(line: String, code: ProtocolError.Code, detail: String) throws {
        let frames = try decodeAll(Array((line + "\n").utf8), chunkSizes: [7])
        guard case .invalid(let error)? = frames.first else {
            Issue.record("expected an invalid frame, got \(frames)")
            return
        }
        #expect(error.code == code)
        #expect(error.message.contains(detail), "\(error.message)")
    }

    @Test func aFrameOverTheLimitIsRefusedWithoutBufferingIt() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addSyncProtocolHandlers(maximumFrameSize: 1024)
        // No newline ever comes: the decoder must give up once the line passes the limit.
        #expect(throws: ByteToMessageDecoderError.PayloadTooLargeError.self) {
            for _ in 0..<100 {
                try channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "x"), count: 100))
            }
        }
        _ = try? channel.finish()
    }

    @Test func batchesAboveTheLimitAreRefused() throws {
        let records = Array(repeating: Self.record, count: maximumBatchSize + 1)
        let frame = SyncMessage.push(batch: 1, records: records).encoded()
        #expect {
            try SyncMessage.decode(frame)
        } throws: { ($0 as? ProtocolError)?.code == .limitExceeded }
    }
}

@Suite struct EnrollmentTokenFormatTests {
    @Test func aTokenIsSecretDotFingerprintAndDerivesAStableKey() throws {
        let fingerprint = String(repeating: "ab", count: 32)
        let token = EnrollmentToken.make(serverKeyFingerprint: fingerprint)
        #expect(token.description.count == 48 + 1 + 64)
        let parsed = try EnrollmentToken(token.description)
        #expect(parsed == token && parsed.serverKeyFingerprint == fingerprint)
        #expect(parsed.proofKey.publicKey.rawRepresentation == token.proofKey.publicKey.rawRepresentation)
        #expect(EnrollmentToken.make(serverKeyFingerprint: fingerprint) != token, "fresh secrets")
    }

    @Test(arguments: [
        ("0123456789abcdef0123456789abcdef0123456789abcdef", "older than protocol version 3"),
        ("nonsense", "expected SECRET.FINGERPRINT"),
        ("0123456789abcdef0123456789abcdef0123456789abcdef.xyz", "server fingerprint 'xyz' must be 64 hex digits"),
        ("0123.\(String(repeating: "0", count: 64))", "secret must be 48 hex digits"),
    ])
    func aBadTokenSaysWhatIsWrong(text: String, expected: String) {
        #expect {
            try EnrollmentToken(text)
        } throws: { error in "\(error)".contains(expected) }
    }
}

@Suite struct ProtocolErrorTextTests {
    /// An error quoting a peer's frame cannot forge a log line or reach a terminal raw.
    @Test func aFrameQuotingControlCharactersGetsAVisibleMessage() {
        do {
            _ = try SyncMessage.decode(Array("{\"type\":\"x\\n2026-12-03 info: kiosk enrolled\\u001b[2J\"}".utf8))
            Issue.record("an unknown type decoded")
        } catch let error as ProtocolError {
            #expect(error.code == .malformedFrame)
            #expect(!error.message.contains("\n") && !error.message.unicodeScalars.contains { $0.value == 0x1B })
            #expect(error.message.contains("x\\n2026-12-03 info: kiosk enrolled\\e[2J"))
        } catch {
            Issue.record("\(error)")
        }
    }
}
