import Crypto
import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing
import WireProtocol

/// A raw line client: sends bytes exactly as given and reads the server's frames as JSON.
struct RawClient {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(to server: TestServer) async throws -> RawClient {
        let port = Int(server.address.split(separator: ":").last!)!
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawClient(channel: channel)
    }

    /// Runs `body` with a sender and a receiver of frames; the receiver returns `nil` once the server closed.
    func converse<T: Sendable>(
        _ body: (_ send: (String) async throws -> Void, _ receive: () async throws -> JSONValue?) async throws -> T
    ) async throws -> T {
        try await channel.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            return try await body(
                { text in try await outbound.write(ByteBuffer(string: text)) },
                {
                    // A reset or a close both mean the server hung up.
                    guard let line = try? await lines.next() else { return nil }
                    return try JSONValue.parse(line.readableBytesView)
                }
            )
        }
    }
}

/// What a hostile step must get back.
struct HostileCase: Sendable, CustomTestStringConvertible {
    var name: String
    /// Whether to authenticate as an enrolled kiosk of store-1 first.
    var authenticated: Bool
    /// The bytes sent (each ends its own frames with `\n` where it wants to).
    var payload: @Sendable (_ kioskRecord: VersionedRecord) -> String
    var code: ProtocolError.Code
    var closes: Bool

    var testDescription: String { name }
}

@Suite struct HostileInputTests {
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

    static let cases: [HostileCase] = [
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
                "{\"type\":\"hello\",\"versions\":[4,99],\"replicaId\":\"store-1/a\",\"storeId\":\"store-1\",\"kioskId\":\"a\"}\n"
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
            name: "a field no return has",
            authenticated: true,
            payload: { record in
                // Written by the kiosk's own first write: refused all the same, never stored and forwarded.
                guard case .object(var members) = record.jsonValue, case .object(var fields)? = members["fields"],
                    case .array(let values)? = fields["gtin"], case .array(let pair)? = values.first
                else { return "" }
                fields["loyaltyPoints"] = .array([.array([.integer(500), pair[1]])])
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
    ]

    /// Connects, optionally authenticates as kiosk store-1/a, sends the case's bytes and checks the answer; the
    /// server must store nothing and serve an honest kiosk afterwards.
    @Test(arguments: cases)
    func hostileInputGetsItsErrorAndChangesNothing(_ hostile: HostileCase) async throws {
        let server = try await TestServer()
        let honest = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        // Kiosk store-1/a, enrolled, and a real return of it (not pushed) to mutate.
        let source = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try await source.sync()
        let wire = try HandBuiltKiosk(source)
        let record = try source.store.returnRecord(source.record().id)
        let changesBefore = try server.store.changeLogCount()

        let client = try await RawClient.connect(to: server)
        let (answer, closed) = try await client.converse { send, receive in
            if hostile.authenticated {
                #expect(try await wire.authenticate(send, receive)?["type"] == .string("welcome"))
            }
            try await send(hostile.payload(record))
            let answer = try await receive()
            // Whether the server hung up: ask for something harmless and see whether anything comes back.
            try? await send("{\"type\":\"pull\",\"cursor\":\"0\",\"limit\":1}\n")
            let after = try await receive()
            return (answer, after == nil || after?["type"] == .string("error"))
        }
        #expect(answer?["type"] == .string("error"), "\(hostile.name): \(answer?.serializedString ?? "closed")")
        #expect(answer?["code"] == .string(hostile.code.rawValue), "\(hostile.name): \(answer?.serializedString ?? "")")
        #expect(answer?["retryable"] == .bool(false))
        #expect(closed == hostile.closes, "\(hostile.name): the connection should \(hostile.closes ? "" : "not ")close")
        #expect(try server.store.changeLogCount() == changesBefore, "nothing stored")

        // The server still serves others.
        try honest.record()
        #expect(try await honest.sync().pushed == 1)
        try await server.stop()
    }

    @Test func aTruncatedFrameAndAHalfClosedConnectionEndQuietly() async throws {
        let server = try await TestServer()
        let client = try await RawClient.connect(to: server)
        let answer = try await client.converse { send, receive in
            try await send("{\"type\":\"hello\",\"vers")
            try await client.channel.channel.close(mode: .output)
            return try await receive()
        }
        #expect(answer == nil || answer?["type"] == .string("error"))
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        try await server.stop()
    }

    @Test func aReplayedAuthenticationFromAnotherConnectionIsRefused() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try await kiosk.sync()  // enrolled now
        let wire = try HandBuiltKiosk(kiosk)
        // An eavesdropper captured a valid authentication of one connection (the same kiosk nonce, even)...
        let captured = try await RawClient.connect(to: server).converse { send, receive in
            try await send(wire.hello)
            let nonce = try #require(try await receive()?["nonce"]?.stringValue)
            let signature = try wire.key.signature(
                for: authenticationPayload(
                    serverNonce: nonce,
                    kioskNonce: wire.kioskNonce,
                    replicaID: "store-1/a",
                    serverID: "hq"
                )
            )
            return signature.base64EncodedString()
        }
        // ...and replays it on another: the server's nonce differs, the signature does not verify.
        let answer = try await RawClient.connect(to: server).converse { send, receive in
            try await send(wire.hello)
            _ = try await receive()
            try await send("{\"type\":\"authenticate\",\"signature\":\"\(captured)\"}\n")
            return try await receive()
        }
        #expect(answer?["code"] == .string(ProtocolError.Code.authenticationFailed.rawValue))
        try await server.stop()
    }
}
