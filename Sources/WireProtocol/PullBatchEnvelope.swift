import ReturnSyncJSON
import SyncEngine

/// What a `pull-batch` frame says besides its records — the cursor to ask from next, whether more wait, the server's
/// estimate, how many records it carries — read without decoding the records.
///
/// A kiosk reads it first, asks for the next page at once, and decodes the records on another thread meanwhile:
/// decoding them on the connection's thread, before the next request could go, held every page of a pull back by its
/// decoding (issue 18; BENCHMARKS.md, nineteenth part). It is only a look: nothing in the records is checked, and
/// nothing the envelope says is kept — no record merged, no cursor stored — before the whole frame, decoded the usual
/// way, agrees with it (``records(decoding:)``); the early request for the next page is only a question. A frame is
/// accepted or refused exactly as ``SyncMessage/decode(_:)-(Collection<UInt8>)`` accepts or refuses it.
public struct PullBatchEnvelope: Hashable, Sendable {
    /// The cursor to ask from next.
    public var cursor: String
    /// Whether more records wait after this page.
    public var more: Bool
    /// The server's estimate of the records that waited, when the pull asked for one.
    public var estimate: Int?
    /// The records the frame carries: the elements of its `records` array, counted, not read.
    public var count: Int

    /// Creates an envelope.
    public init(cursor: String, more: Bool, estimate: Int?, count: Int) {
        self.cursor = cursor
        self.more = more
        self.estimate = estimate
        self.count = count
    }

    /// The envelope of a `pull-batch` frame laid out as a server writes one (``SyncMessage/encoded()``): `cursor`,
    /// `more` and `estimate` in any order, then a non-empty `records` array, then `"type":"pull-batch"`, last.
    ///
    /// `nil` for anything else — another message, an empty page, another layout, more than ``maximumBatchSize``
    /// records, a frame cut short — which the caller decodes whole, as before: a fast path only, never a verdict.
    public static func peek(_ frame: some Collection<UInt8>) -> PullBatchEnvelope? {
        // The envelope's keys, and where the records begin.
        let head = try? JSONScanner.scan(frame) { scanner -> (PullBatchEnvelope, recordsStart: Int)? in
            guard scanner.consume(UInt8(ascii: "{")) else { return nil }
            var cursor: String?
            var more: Bool?
            var estimate: Int?
            var sawEstimate = false
            while true {
                guard let key = try scanner.string(), scanner.consume(UInt8(ascii: ":")) else { return nil }
                switch key {
                case "cursor" where cursor == nil:
                    guard let value = try scanner.string() else { return nil }
                    cursor = value
                case "more" where more == nil:
                    guard case .bool(let value) = try scanner.value(depth: 1) else { return nil }
                    more = value
                case "estimate" where !sawEstimate:
                    guard let value = try scanner.integer(), let small = Int(exactly: value) else { return nil }
                    (estimate, sawEstimate) = (small, true)
                case "records":
                    guard let cursor, let more, scanner.consume(UInt8(ascii: "[")) else { return nil }
                    return (PullBatchEnvelope(cursor: cursor, more: more, estimate: estimate, count: 0), scanner.offset)
                default:
                    return nil
                }
                guard scanner.consume(UInt8(ascii: ",")) else { return nil }
            }
        }
        guard case (var envelope, let recordsStart)? = head ?? nil else { return nil }
        let count = frame.withContiguousStorageIfAvailable { bytes in
            Self.countRecords(UnsafeRawBufferPointer(bytes), from: recordsStart)
        }
        guard let count = count ?? nil else { return nil }
        envelope.count = count
        return envelope
    }

    /// The elements of the array whose first element begins at `start` (after its `[`), if the array is not empty,
    /// holds at most ``maximumBatchSize`` elements, and is followed by `,"type":"pull-batch"}` and nothing else. The
    /// elements are walked through, not read: only their strings and brackets are followed, to find the commas
    /// between them.
    private static func countRecords(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        let (quote, backslash) = (UInt8(ascii: "\""), UInt8(ascii: "\\"))
        var index = start
        var depth = 0
        var count = 0
        var inElement = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case quote:
                index += 1
                while index < bytes.count, bytes[index] != quote {
                    index += bytes[index] == backslash ? 2 : 1
                }
                inElement = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                inElement = true
            case UInt8(ascii: "]") where depth == 0:
                guard inElement, count < maximumBatchSize else { return nil }
                return hasTypeLast(bytes, after: index + 1) ? count + 1 : nil
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                guard depth > 0 else { return nil }
                depth -= 1
            case UInt8(ascii: ",") where depth == 0:
                guard inElement else { return nil }
                count += 1
                inElement = false
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                break
            default:
                inElement = true
            }
            index += 1
        }
        return nil
    }

    private static let typeLast = Array(#","type":"pull-batch"}"#.utf8)

    /// Whether the bytes from `index` on are `,"type":"pull-batch"}`, with nothing but white space around it.
    private static func hasTypeLast(_ bytes: UnsafeRawBufferPointer, after index: Int) -> Bool {
        let suffix = typeLast
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        var start = index
        while start < bytes.count, isSpace(bytes[start]) { start += 1 }
        guard bytes.count - start >= suffix.count,
            bytes[start..<start + suffix.count].elementsEqual(suffix)
        else { return false }
        return bytes[(start + suffix.count)...].allSatisfy(isSpace)
    }

    /// The records of `frame`, the frame this envelope was read from, decoded whole
    /// (``SyncMessage/decode(_:)-(Collection<UInt8>)``), once what that decoding reads agrees with the envelope.
    ///
    /// - Throws: the decoding's ``ProtocolError`` for a frame it refuses, or `malformed-frame` if it reads something
    ///   other than this envelope (which a frame read by ``peek(_:)`` never should).
    public func records(decoding frame: some Collection<UInt8>) throws -> [VersionedRecord] {
        guard case .pullBatch(let records, let cursor, let more, let estimate) = try SyncMessage.decode(frame) else {
            throw ProtocolError(.malformedFrame, "a frame read as a pull-batch decodes as another message")
        }
        let decoded = PullBatchEnvelope(cursor: cursor, more: more, estimate: estimate, count: records.count)
        guard decoded == self else {
            throw ProtocolError(
                .malformedFrame,
                "a pull-batch frame decodes as \(decoded), not as the \(self) its first reading found"
            )
        }
        return records
    }
}
