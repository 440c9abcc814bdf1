import ReturnSyncJSON
import SyncEngine
import WireProtocol

/// What a hostile step must get back.
public struct HostileCase: Sendable, CustomStringConvertible {
    public var name: String
    /// Whether to authenticate as an enrolled kiosk of store-1 first.
    public var authenticated: Bool
    /// The bytes sent (each ends its own frames with `\n` where it wants to).
    public var payload: @Sendable (_ kioskRecord: VersionedRecord) -> String
    public var code: ProtocolError.Code
    public var closes: Bool

    public var description: String { name }

    public init(
        name: String,
        authenticated: Bool,
        payload: @escaping @Sendable (_ kioskRecord: VersionedRecord) -> String,
        code: ProtocolError.Code,
        closes: Bool
    ) {
        self.name = name
        self.authenticated = authenticated
        self.payload = payload
        self.code = code
        self.closes = closes
    }
}

/// Input an attacker sends a sync server, each with the error it must get back: replayed against the real server
/// over TCP (`HostileInputTests`) and against the protocol's state machine and rules alone (`HostileSessionTests`).
public enum HostileInputs {
    static func json(_ value: JSONValue) -> String { value.serializedString + "\n" }

    /// A valid push of `record`, as a frame.
    static func push(_ record: JSONValue) -> String {
        json(.object(["type": .string("push"), "batch": .integer(1), "records": .array([record])]))
    }

    /// `record` with one key replaced.
    static func altered(_ record: VersionedRecord, _ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = record.jsonValue else { return .null }
        members[key] = value
        return .object(members)
    }

    public static let cases: [HostileCase] = [
        HostileCase(
            name: "garbage bytes",
            authenticated: false,
            payload: { _ in "\u{01}\u{02}GET / HTTP/1.1\r\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "invalid UTF-8",
            authenticated: false,
            payload: { _ in String(decoding: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D, 0x0A], as: UTF8.self) },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "truncated JSON",
            authenticated: false,
            payload: { _ in "{\"type\":\"hello\",\"versions\":[1\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "not an object",
            authenticated: false,
            payload: { _ in "[1,2,3]\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "unknown message type",
            authenticated: false,
            payload: { _ in "{\"type\":\"reboot\"}\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "wrong field type",
            authenticated: false,
            payload: { _ in
                "{\"type\":\"hello\",\"versions\":\"1\",\"replicaId\":\"store-1/a\",\"storeId\":\"store-1\",\"kioskId\":\"a\"}\n"
            },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "push before hello",
            authenticated: false,
            payload: { record in push(record.jsonValue) },
            code: .unexpectedMessage,
            closes: true
        ),
        HostileCase(
            name: "unsupported version",
            authenticated: false,
            payload: { _ in
                "{\"type\":\"hello\",\"versions\":[5,99],\"replicaId\":\"store-1/a\",\"storeId\":\"store-1\",\"kioskId\":\"a\"}\n"
            },
            code: .unsupportedVersion,
            closes: true
        ),
        HostileCase(
            name: "an old kiosk: versions 1 and 2 only",
            authenticated: false,
            payload: { _ in
                "{\"type\":\"hello\",\"versions\":[1,2],\"replicaId\":\"store-1/a\",\"storeId\":\"store-1\",\"kioskId\":\"a\"}\n"
            },
            code: .unsupportedVersion,
            closes: true
        ),
        HostileCase(
            name: "a version-3 hello without the kiosk's nonce",
            authenticated: false,
            payload: { _ in
                "{\"type\":\"hello\",\"versions\":[3],\"replicaId\":\"store-1/a\",\"storeId\":\"store-1\",\"kioskId\":\"a\"}\n"
            },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "huge version number",
            authenticated: false,
            payload: { _ in
                "{\"type\":\"hello\",\"versions\":[99999999999999999999999],\"replicaId\":\"s/a\",\"storeId\":\"s\",\"kioskId\":\"a\"}\n"
            },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "deep nesting",
            authenticated: false,
            // Deeper than 64 levels, yet within the few kilobytes a stranger may send.
            payload: { _ in String(repeating: "[", count: 1_000) + "\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "deep nesting after authentication",
            authenticated: true,
            payload: { _ in String(repeating: "[", count: 10_000) + "\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "a second hello after welcome",
            authenticated: true,
            payload: { _ in
                "{\"type\":\"hello\",\"versions\":[1],\"replicaId\":\"store-1/a\",\"storeId\":\"store-1\",\"kioskId\":\"a\"}\n"
            },
            code: .unexpectedMessage,
            closes: true
        ),
        HostileCase(
            name: "a counter above 2^53",
            authenticated: true,
            payload: { record in
                push(altered(record, "clock", .object(["store-1/a": .integer(9_007_199_254_740_993)])))
            },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "a negative counter",
            authenticated: true,
            payload: { record in push(altered(record, "clock", .object(["store-1/a": .integer(-1)]))) },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "a value pointing outside writes",
            authenticated: true,
            payload: { record in
                push(
                    altered(record, "fields", .object(["status": .array([.array([.string("closed"), .integer(7)])])]))
                )
            },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "a GTIN not in its 14-digit form",
            authenticated: true,
            payload: { record in
                // The same write, holding the EAN-13 as scanned instead of the 14 digits records carry.
                guard case .object(var members) = record.jsonValue, case .object(var fields)? = members["fields"],
                    case .array(let values)? = fields["gtin"], case .array(let pair)? = values.first
                else { return "" }
                fields["gtin"] = .array([.array([.string("4006381333931"), pair[1]])])
                members["fields"] = .object(fields)
                return push(.object(members))
            },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "a field no return could have (a name that is not one)",
            authenticated: true,
            payload: { record in
                // Written by the kiosk's own first write. A field this release does not know is kept (a newer
                // kiosk's, UnknownFieldSyncTests); a name no release could give a field is refused, never stored.
                guard case .object(var members) = record.jsonValue, case .object(var fields)? = members["fields"],
                    case .array(let values)? = fields["gtin"], case .array(let pair)? = values.first
                else { return "" }
                fields["../loyalty points"] = .array([.array([.integer(500), pair[1]])])
                members["fields"] = .object(fields)
                return push(.object(members))
            },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "a record of another type",
            authenticated: true,
            payload: { record in push(altered(record, "type", .string("recall"))) },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "a store's time zone, which only HQ writes",
            authenticated: true,
            payload: { record in
                guard case .object(var members) = altered(record, "type", .string("store")) else { return "" }
                members["id"] = .string("store-1")
                return push(.object(members))
            },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "an attachment that names no SHA-256",
            authenticated: true,
            payload: { record in
                // Decoding skips an attachment it cannot read; the push rules refuse it, never stored and forwarded.
                guard case .object(var members) = record.jsonValue, case .object(let fields)? = members["fields"],
                    case .array(let values)? = fields["gtin"], case .array(let pair)? = values.first
                else { return "" }
                members["sets"] = .object([
                    "attachments": .array([.array([.string("../../etc/passwd image/png 10"), pair[1]])])
                ])
                return push(.object(members))
            },
            code: .invalidRecord,
            closes: false
        ),
        HostileCase(
            name: "a batch over the limit",
            authenticated: true,
            payload: { record in
                json(
                    .object([
                        "type": .string("push"), "batch": .integer(1),
                        "records": .array(Array(repeating: record.jsonValue, count: maximumBatchSize + 1)),
                    ])
                )
            },
            code: .limitExceeded,
            closes: false
        ),
        HostileCase(
            name: "a return of another store",
            authenticated: true,
            payload: { record in
                guard case .object(var fields)? = record.jsonValue["fields"],
                    case .array(let values)? = fields["storeId"], case .array(let pair)? = values.first
                else { return "" }
                fields["storeId"] = .array([.array([.string("store-2"), pair[1]])])
                return push(altered(record, "fields", .object(fields)))
            },
            code: .forbiddenStore,
            closes: false
        ),
        HostileCase(
            name: "a clock claiming HQ's writes",
            authenticated: true,
            payload: { record in
                guard case .object(var clock)? = record.jsonValue["clock"] else { return "" }
                clock["hq"] = .integer(5)
                return push(altered(record, "clock", .object(clock)))
            },
            code: .forgedClock,
            closes: false
        ),
        HostileCase(
            name: "a huge clock",
            authenticated: true,
            payload: { record in
                guard case .object(var clock)? = record.jsonValue["clock"] else { return "" }
                for index in 0..<20_000 { clock["x/r\(index)"] = .integer(9_007_199_254_740_991) }
                return push(altered(record, "clock", .object(clock)))
            },
            code: .limitExceeded,
            closes: false
        ),
        HostileCase(
            name: "a frame over 4 MiB",
            authenticated: true,
            payload: { _ in String(repeating: "a", count: WireProtocol.maximumFrameSize + 100) },
            code: .frameTooLarge,
            closes: true
        ),
        HostileCase(
            name: "a pull limit of 0",
            authenticated: true,
            payload: { _ in "{\"type\":\"pull\",\"cursor\":\"0\",\"limit\":0}\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "a push batch numbered 0",
            authenticated: true,
            payload: { record in
                json(.object(["type": .string("push"), "batch": .integer(0), "records": .array([record.jsonValue])]))
            },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "a bad pull cursor",
            authenticated: true,
            payload: { _ in "{\"type\":\"pull\",\"cursor\":\"-5\",\"limit\":10}\n" },
            code: .malformedFrame,
            closes: true
        ),
        // Attachments (version 4). The digests below are named by no return: what a kiosk learns of another store's
        // photo is exactly this (AttachmentSyncTests sends one another store's return names).
        HostileCase(
            name: "an attachment digest that is a path",
            authenticated: true,
            payload: { _ in "{\"type\":\"attachment-get\",\"digest\":\"../../server.sqlite\",\"offset\":0}\n" },
            code: .malformedFrame,
            closes: true
        ),
        HostileCase(
            name: "an attachment offer of a digest no return names",
            authenticated: true,
            payload: { _ in json(.object(["type": .string("attachment-offer"), "digest": .string(unnamedDigest)])) },
            code: .unknownAttachment,
            closes: false
        ),
        HostileCase(
            name: "attachment bytes for a digest no return names",
            authenticated: true,
            payload: { _ in
                json(
                    .object([
                        "type": .string("attachment-put"), "digest": .string(unnamedDigest), "offset": .integer(0),
                        "data": .string("/9j/2w=="),
                    ])
                )
            },
            code: .unknownAttachment,
            closes: false
        ),
        HostileCase(
            name: "a fetch of an attachment no return of the store names",
            authenticated: true,
            payload: { _ in
                json(
                    .object([
                        "type": .string("attachment-get"), "digest": .string(unnamedDigest), "offset": .integer(0),
                    ])
                )
            },
            code: .unknownAttachment,
            closes: false
        ),
        HostileCase(
            name: "an attachment chunk over 1 MiB",
            authenticated: true,
            payload: { _ in
                json(
                    .object([
                        "type": .string("attachment-put"), "digest": .string(unnamedDigest), "offset": .integer(0),
                        "data": .string(String(repeating: "QUFB", count: maximumAttachmentChunk / 3 + 1)),
                    ])
                )
            },
            code: .limitExceeded,
            closes: false
        ),
        HostileCase(
            name: "attachment bytes that are not base64",
            authenticated: true,
            payload: { _ in
                "{\"type\":\"attachment-put\",\"digest\":\"\(unnamedDigest)\",\"offset\":0,\"data\":\"<script>\"}\n"
            },
            code: .malformedFrame,
            closes: true
        ),
        // Returns by id (capability `fetch`, 0.5.0): the connections here ask for no capability.
        HostileCase(
            name: "a fetch on a connection that did not negotiate it",
            authenticated: true,
            payload: { record in json(.object(["type": .string("fetch"), "ids": .array([.string(record.id)])])) },
            code: .unexpectedMessage,
            closes: true
        ),
        HostileCase(
            name: "a fetch of 101 ids",
            authenticated: true,
            payload: { record in
                json(
                    .object(["type": .string("fetch"), "ids": .array(Array(repeating: .string(record.id), count: 101))])
                )
            },
            code: .limitExceeded,
            closes: false
        ),
    ]

    /// The SHA-256 of nothing any test names.
    public static let unnamedDigest = String(repeating: "5e", count: 32)
}
