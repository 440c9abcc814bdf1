import NIOCore
import NIOEmbedded
import ReturnSyncJSON
import ReturnSyncTestSupport
import SyncEngine
import SyncTransport
import Testing
import WireProtocol

/// A bounded fuzz run over the frame and message decoders: valid frames, mutated at random (seeded, so a failure
/// reproduces), must decode or be refused with a ``ProtocolError`` — never crash, hang or throw anything else —
/// and whatever decodes must survive a round trip. `Fuzz/README.md` runs the same decoder under libFuzzer for
/// longer.
@Suite struct DecoderFuzzTests {
    static let seeds: [[UInt8]] = SyncCodecTests.messages.map { $0.encoded() }

    /// Bytes that matter to the grammar, to make mutations reach deeper than random bytes alone.
    static let interesting: [[UInt8]] =
        [
            "{", "}", "[", "]", "\"", ",", ":", "\\", "\\u", "\\ud800", "null", "true", "-", "0", "1e999",
            "9007199254740993", "-9223372036854775809", "\"type\"", "\"push\"", "\"records\"", "\u{0}", "\u{7f}",
        ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98]]

    static func mutate(_ input: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        var bytes = input
        for _ in 0...random.below(4) {
            let at = random.below(bytes.count + 1)
            switch random.below(7) {
            case 0 where !bytes.isEmpty:  // flip a bit
                let index = random.below(bytes.count)
                bytes[index] ^= UInt8(1 << random.below(8))
            case 1 where !bytes.isEmpty:  // delete a range
                let end = min(bytes.count, at + 1 + random.below(16))
                bytes.removeSubrange(min(at, bytes.count - 1)..<end)
            case 2:  // insert a token
                bytes.insert(contentsOf: interesting[random.below(interesting.count)], at: at)
            case 3:  // insert random bytes
                bytes.insert(
                    contentsOf: (0..<random.below(8)).map { _ in UInt8(truncatingIfNeeded: random.next()) },
                    at: at
                )
            case 4:  // truncate
                bytes = Array(bytes.prefix(at))
            case 5 where !bytes.isEmpty:  // duplicate a range
                let end = min(bytes.count, at + random.below(32))
                bytes.insert(contentsOf: bytes[min(at, bytes.count)..<end], at: random.below(bytes.count + 1))
            default:  // splice another seed in
                let other = seeds[random.below(seeds.count)]
                bytes.replaceSubrange(at..<bytes.count, with: other[random.below(other.count)...])
            }
        }
        // A frame never holds a raw line feed: the framing layer splits there.
        return bytes.filter { $0 != UInt8(ascii: "\n") }
    }

    @Test func mutatedFramesDecodeOrAreRefusedNeverWorse() throws {
        var random = SeededRandom(seed: 0x5EED_2026_1129)
        var decoded = 0
        var refused = 0
        let inputs = 40_000
        for _ in 0..<inputs {
            let frame = Self.mutate(Self.seeds[random.below(Self.seeds.count)], &random)
            do {
                let message = try SyncMessage.decode(frame)
                decoded += 1
                #expect(try SyncMessage.decode(message.encoded()) == message, "round trip of \(frame)")
            } catch is ProtocolError {
                refused += 1
            } catch {
                Issue.record("frame \(String(decoding: frame, as: UTF8.self)) threw \(type(of: error)): \(error)")
            }
        }
        #expect(decoded + refused == inputs)
        #expect(decoded > 0 && refused > 0, "the mutations should reach both outcomes")
        print("decoder fuzz: \(inputs) inputs, \(decoded) decoded, \(refused) refused with a protocol error")
    }

    /// Records in every shape the scanner meets: concurrent values, sets, escapes, non-ASCII text, every scalar.
    static let richRecords: [VersionedRecord] = {
        var record = VersionedRecord(entityType: "return", id: "r-\u{e9}-2")
        try! record.apply(
            RecordEdit(
                assignments: ["status": "received", "quantity": 2, "receipt": true, "note": .null],
                additions: ["notes": ["\u{1F4E6} \"wet\"\t\\", "plain"]]
            ),
            by: ReplicaID("s/k"),
            stamp: HLCTimestamp(physical: 1_780_000_000_000, logical: 3)
        )
        var other = record
        try! other.apply(
            RecordEdit(assignments: ["status": "inspected"]),
            by: ReplicaID("s/j"),
            stamp: .init(physical: 1_780_000_000_500)
        )
        try! record.apply(
            RecordEdit(assignments: ["status": "restocked"]),
            by: ReplicaID("s/k"),
            stamp: .init(physical: 1_780_000_000_400)
        )
        _ = try! record.merge(other)  // a register with two concurrent values
        return [record, other, SyncCodecTests.record]
    }()

    /// A decoder's verdict on a frame: the message, or the refusal's code and message.
    enum Verdict: Equatable {
        case decoded(SyncMessage)
        case refused(String)

        init(_ decode: () throws -> SyncMessage) {
            do {
                self = .decoded(try decode())
            } catch let error as ProtocolError {
                self = .refused("\(error.code) \(error.message)")
            } catch {
                self = .refused("threw \(error)")
            }
        }
    }

    /// The tree's verdict on a frame, as ``SyncMessage/decode(_:)-(Collection<UInt8>)`` gave it before frames were
    /// scanned.
    static func treeVerdict(_ frame: [UInt8]) -> Verdict {
        Verdict {
            let value: JSONValue
            do {
                value = try JSONValue.parse(frame)
            } catch let error as JSONError {
                throw ProtocolError(.malformedFrame, error.description)
            }
            return try SyncMessage.decode(value)
        }
    }

    /// Reading a frame's records straight from its bytes must change no verdict: every frame, valid or mutated,
    /// decodes to the same message or is refused with the same error as through the JSON tree — and the scanner
    /// does take the usual frames.
    @Test func scanningAFrameGivesTheTreesVerdictOnEveryFrame() throws {
        var random = SeededRandom(seed: 0x5CA1_2026_1203)
        let usual = [
            SyncMessage.push(batch: 1, records: Self.richRecords).encoded(),
            SyncMessage.pullBatch(records: Self.richRecords, cursor: "7", more: false).encoded(),
            Array(#"{ "records" : [ ], "batch" : 0 , "type" : "push" }"#.utf8),
        ]
        let seeds = Self.seeds + usual
        var scanned = 0
        for round in 0..<30_000 {
            let frame = round < seeds.count ? seeds[round] : Self.mutate(seeds[random.below(seeds.count)], &random)
            let tree = Self.treeVerdict(frame)
            #expect(
                Verdict { try SyncMessage.decode(frame) } == tree,
                "frame \(String(decoding: frame, as: UTF8.self))"
            )
            if let message = SyncMessage.scanned(frame) {
                scanned += 1
                #expect(.decoded(message) == tree, "scanned frame \(String(decoding: frame, as: UTF8.self))")
            }
        }
        for frame in usual {
            #expect(
                SyncMessage.scanned(frame) != nil,
                "a usual frame is scanned: \(String(decoding: frame, as: UTF8.self))"
            )
        }
        #expect(scanned > 300, "the scanner should take many of the frames")
        print("scanned decoder: \(scanned) of 30000 frames read without a tree, each with the tree's verdict")
    }

    /// A kiosk reads a `pull-batch`'s envelope before its records (``PullBatchEnvelope``); that must change no
    /// verdict. Every frame, valid or mutated, that the envelope reader takes must decode whole to a `pull-batch`
    /// saying exactly what the envelope said, its records those ``PullBatchEnvelope/records(decoding:)`` returns —
    /// or be refused by that call, as the tree refuses it. And every page a server writes is taken.
    @Test func readingAPullBatchsEnvelopeFirstGivesTheTreesVerdictOnEveryFrame() throws {
        var random = SeededRandom(seed: 0xE7E1_2026_1206)
        let json = Self.richRecords.map { String(decoding: $0.jsonValue.serialized(), as: UTF8.self) }
        let written: [(frame: [UInt8], envelope: PullBatchEnvelope)] = [
            (
                SyncMessage.encodedPullBatch(records: json, cursor: "12", more: true, estimate: 1_500).encoded(),
                PullBatchEnvelope(cursor: "12", more: true, estimate: 1_500, count: 3)
            ),
            (
                SyncMessage.encodedPullBatch(records: [json[0]], cursor: "a\"b\\c]", more: false).encoded(),
                PullBatchEnvelope(cursor: "a\"b\\c]", more: false, estimate: nil, count: 1)
            ),
            (
                SyncMessage.pullBatch(records: Self.richRecords, cursor: "7", more: false, estimate: 0).encoded(),
                PullBatchEnvelope(cursor: "7", more: false, estimate: 0, count: 3)
            ),
            (
                Array(
                    (#" { "more" : true , "cursor" : "9", "records" : [ {"x": "]"} , [1, {"y": "\\"}] ] "#
                        + #","type":"pull-batch"} "#).utf8
                ),
                PullBatchEnvelope(cursor: "9", more: true, estimate: nil, count: 2)
            ),
        ]
        for (frame, envelope) in written {
            #expect(PullBatchEnvelope.peek(frame) == envelope, "\(String(decoding: frame, as: UTF8.self))")
        }
        // Never taken: empty pages, other messages, keys after the records, too many records.
        let refused = [
            SyncMessage.pullBatch(records: [], cursor: "7", more: false).encoded(),
            SyncMessage.push(batch: 1, records: Self.richRecords).encoded(),
            Array(#"{"cursor":"7","more":true,"records":[1],"estimate":4,"type":"pull-batch"}"#.utf8),
            Array(#"{"cursor":"7","more":true,"records":[1],"type":"pull-batch","cursor":"8"}"#.utf8),
            Array(#"{"cursor":"7","cursor":"8","more":true,"records":[1],"type":"pull-batch"}"#.utf8),
            Array(#"{"cursor":"7","more":true,"records":[1,],"type":"pull-batch"}"#.utf8),
            Array(#"{"cursor":"7","more":true,"records":[1],"type":"pull-batch"}x"#.utf8),
            Array(
                ("{\"cursor\":\"7\",\"more\":true,\"records\":["
                    + Array(repeating: "1", count: maximumBatchSize + 1)
                    .joined(separator: ",") + "],\"type\":\"pull-batch\"}").utf8
            ),
        ]
        for frame in refused {
            #expect(PullBatchEnvelope.peek(frame) == nil, "\(String(decoding: frame, as: UTF8.self))")
        }
        let seeds = written.map(\.frame) + refused
        var taken = 0
        for round in 0..<20_000 {
            let frame = round < seeds.count ? seeds[round] : Self.mutate(seeds[random.below(seeds.count)], &random)
            guard let envelope = PullBatchEnvelope.peek(frame) else { continue }
            taken += 1
            let tree = Self.treeVerdict(frame)
            let deferred = Verdict {
                let records = try envelope.records(decoding: frame)
                return .pullBatch(
                    records: records,
                    cursor: envelope.cursor,
                    more: envelope.more,
                    estimate: envelope.estimate
                )
            }
            // The same message, or the same refusal (the whole frame's decoding gives the tree's, and a frame taken
            // must never decode to anything but the envelope's page).
            #expect(deferred == tree, "taken frame \(String(decoding: frame, as: UTF8.self))")
        }
        #expect(taken > 1_000, "the envelope reader should take many of the frames")
        print("pull-batch envelopes: \(taken) of 20000 frames read envelope first, each with the tree's verdict")
    }

    /// Writes `stream` into `channel` in pieces of random sizes, as reads from a socket would come.
    static func feed(_ stream: [UInt8], to channel: EmbeddedChannel, _ random: inout SeededRandom) throws {
        var offset = 0
        while offset < stream.count {
            let size = min(1 + random.below(200), stream.count - offset)
            try channel.writeInbound(ByteBuffer(bytes: stream[offset..<(offset + size)]))
            offset += size
        }
    }

    @Test func mutatedStreamsThroughThePipelineYieldOneFramePerLine() throws {
        var random = SeededRandom(seed: 0xF00D_2026_1129)
        for _ in 0..<300 {
            let frames = (0..<(1 + random.below(6))).map { _ in
                Self.mutate(Self.seeds[random.below(Self.seeds.count)], &random)
            }
            let stream = frames.flatMap { $0 + [UInt8(ascii: "\n")] }
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addSyncProtocolHandlers(maximumFrameSize: 64 * 1024)
            try Self.feed(stream, to: channel, &random)
            var count = 0
            while try channel.readInbound(as: SyncFrame.self) != nil { count += 1 }
            // Every line is one frame, a message or a refusal; an empty one too (it is malformed).
            #expect(count == frames.count)
            _ = try channel.finish()
        }
    }

    /// A kiosk's pipeline (``KioskFrameDecoder``) delivers one frame a line too, a page read envelope first exactly
    /// where the envelope reader takes the line, and every other line decoded as the sync decoder decodes it.
    @Test func streamsThroughAKiosksPipelineYieldOneFramePerLine() throws {
        var random = SeededRandom(seed: 0xC105_2026_1206)
        let page = SyncMessage.pullBatch(records: Self.richRecords, cursor: "7", more: true, estimate: 9).encoded()
        let seeds = Self.seeds + [page, page]
        for _ in 0..<300 {
            let frames = (0..<(1 + random.below(6))).map { _ in
                let seed = seeds[random.below(seeds.count)]
                return random.below(2) == 0 ? seed : Self.mutate(seed, &random)
            }
            let stream = frames.flatMap { $0 + [UInt8(ascii: "\n")] }
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addKioskProtocolHandlers(maximumFrameSize: 64 * 1024)
            try Self.feed(stream, to: channel, &random)
            var delivered: [KioskFrame] = []
            while let frame = try channel.readInbound(as: KioskFrame.self) { delivered.append(frame) }
            #expect(delivered.count == frames.count)
            for (frame, line) in zip(delivered, frames) {
                switch frame {
                case .pullBatch(let pulled):
                    #expect(PullBatchEnvelope.peek(line) == pulled.envelope)
                    #expect(Array(pulled.bytes.readableBytesView) == line)
                case .frame(.message(let message)):
                    #expect(PullBatchEnvelope.peek(line) == nil)
                    #expect(Verdict { try SyncMessage.decode(line) } == .decoded(message))
                case .frame(.invalid(let error)):
                    #expect(PullBatchEnvelope.peek(line) == nil)
                    #expect(Verdict { try SyncMessage.decode(line) } == .refused("\(error.code) \(error.message)"))
                }
            }
            _ = try channel.finish()
        }
    }
}
