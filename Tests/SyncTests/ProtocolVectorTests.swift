import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ReplicaStore
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import ServiceLifecycle
import SyncEngine
import Testing
import WireProtocol

/// Replays the golden conversations of Protocol/vectors against the real server, frame by frame.
@Suite struct ProtocolVectorTests {
    static let vectorsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/vectors")

    static var vectorNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: vectorsDirectory.path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted()
    }

    @Test func everyVectorIsReplayed() {
        #expect(Self.vectorNames.count >= 5, "vectors in \(Self.vectorsDirectory.path)")
    }

    @Test(arguments: vectorNames)
    func replay(name: String) async throws {
        let vector = try JSONValue.parse(Data(contentsOf: Self.vectorsDirectory.appendingPathComponent(name)))
        let setup = try #require(vector["setup"])
        let nonce = try #require(setup["nonce"]?.stringValue)

        // A fresh server replica with the vector's enrollments, and its fixed nonce.
        let directory = try TemporaryDirectory()
        let store = try ReplicaStore.create(
            at: directory.file("server.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let seedText = try #require(setup["serverKeySeed"]?.stringValue)
        try store.replaceServerIdentity(seed: try #require(Data(base64Encoded: seedText)))
        // Enrolled kiosks first: a token issued later (for a new key, say) is then the one waiting.
        for enrolled in setup["enrolled"]?.arrayValue ?? [] {
            // Enrolled with a token of its own (the vector's token may be waiting for another enrollment).
            let vectorToken = try EnrollmentToken(try #require(enrolled["token"]?.stringValue))
            let token = EnrollmentToken.make(serverKeyFingerprint: vectorToken.serverKeyFingerprint)
            let keyText = try #require(enrolled["publicKey"]?.stringValue)
            let publicKey = try #require(Data(base64Encoded: keyText))
            let storeID = try StoreID(try #require(enrolled["storeId"]?.stringValue))
            let kioskID = try KioskID(try #require(enrolled["kioskId"]?.stringValue))
            try store.createEnrollment(
                tokenHash: token.hash,
                tokenKey: token.proofKey.publicKey.rawRepresentation,
                store: storeID,
                kiosk: kioskID,
                expiresAt: Date().addingTimeInterval(3_600)
            )
            try store.redeemEnrollment(store: storeID, kiosk: kioskID, publicKey: publicKey) { _ in true }
        }
        for enrollment in setup["enrollments"]?.arrayValue ?? [] {
            let token = try EnrollmentToken(try #require(enrollment["token"]?.stringValue))
            try store.createEnrollment(
                tokenHash: token.hash,
                tokenKey: token.proofKey.publicKey.rawRepresentation,
                store: StoreID(try #require(enrollment["storeId"]?.stringValue)),
                kiosk: KioskID(try #require(enrollment["kioskId"]?.stringValue)),
                expiresAt: Date().addingTimeInterval(3_600)
            )
        }
        let logger = Logger(label: "test.vectors", factory: { _ in SwiftLogNoOpLogHandler() })
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let server = SyncServer(
            store: SQLiteServerStorage(store),
            configuration: .init(host: "127.0.0.1", port: 0, makeNonce: { nonce }),
            logger: logger,
            onListening: {
                continuation.yield($0)
                continuation.finish()
            }
        )
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        let port = try #require(await iterator.next()?.port)

        // A raw line client: the vector's frames go out exactly as written, and come back as lines.
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await client.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            for (index, step) in (try #require(vector["steps"]?.arrayValue)).enumerated() {
                let from = step["from"]?.stringValue
                if from == "client" {
                    var line: [UInt8] =
                        step["raw"]?.stringValue.map { Array($0.utf8) } ?? (step["frame"]?.serialized() ?? [])
                    line.append(UInt8(ascii: "\n"))
                    try await outbound.write(ByteBuffer(bytes: line))
                } else if step["close"] == .bool(true) {
                    let next = try await lines.next()
                    #expect(
                        next == nil,
                        "step \(index): the server should close, but sent \(next.map { String(buffer: $0) } ?? "")"
                    )
                } else {
                    let expected = try #require(step["frame"])
                    guard let received = try await lines.next() else {
                        Issue.record("step \(index): the server closed instead of sending \(expected.serializedString)")
                        return
                    }
                    let actual = try JSONValue.parse(received.readableBytesView)
                    if expected["type"] == .string("error") {
                        // Error messages are prose; the contract is the code and whether to retry.
                        #expect(actual["type"] == expected["type"], "step \(index): \(actual.serializedString)")
                        #expect(actual["code"] == expected["code"], "step \(index): \(actual.serializedString)")
                        #expect(actual["retryable"] == expected["retryable"], "step \(index)")
                        #expect(actual["message"]?.stringValue?.isEmpty == false, "step \(index)")
                    } else if expected["type"] == .string("welcome"), case .object(var members) = actual {
                        // The server's clock as it answers: an integer near now, whatever the vector wrote.
                        let now = Date().millisecondsSince1970
                        let told = members.removeValue(forKey: "serverTime")?.integerValue
                        #expect(told.map { abs($0 - now) < 60_000 } == true, "step \(index): serverTime \(told ?? -1)")
                        var written = expected
                        if case .object(var expectedMembers) = expected {
                            expectedMembers["serverTime"] = nil
                            written = .object(expectedMembers)
                        }
                        #expect(JSONValue.object(members) == written, "step \(index): got \(actual.serializedString)")
                    } else {
                        #expect(actual == expected, "step \(index): got \(actual.serializedString)")
                    }
                }
            }
        }
        await group.triggerGracefulShutdown()
        try await running.value
    }
}

/// The encoder and Protocol/schema describe the same messages.
@Suite struct ProtocolSchemaTests {
    static let schemaDirectory = ProtocolVectorTests.vectorsDirectory.deletingLastPathComponent()
        .appendingPathComponent("schema")

    static let samples: [SyncMessage] = [
        .hello(versions: [3], replicaID: "s/k", storeID: "s", kioskID: "k", nonce: "a2lvc2s="),
        .challenge(version: 3, nonce: "bm9uY2U=", serverID: "hq", serverKey: "a2V5", serverSignature: "c2ln"),
        .authenticate(signature: "c2ln", publicKey: "a2V5", tokenProof: "cHJvb2Y="),
        .welcome(replicaID: "s/k", storeID: "s"),
        .welcome(replicaID: "s/k", storeID: "s", serverTime: 1_764_806_400_000),
        .push(batch: 1, records: []),
        .pushAck(batch: 1, merged: 0, unchanged: 0, conflicts: [.init(recordID: "r", field: "f")]),
        .pull(cursor: "0", limit: 500),
        .pull(cursor: "0", limit: 500, estimate: true),
        .pullBatch(records: [], cursor: "0", more: false),
        .pullBatch(records: [], cursor: "0", more: false, estimate: 12),
        .watch(cursor: "0", seconds: 25),
        .changed,
        .quiet,
        .bye,
        .error(ProtocolError(.internalError, "x")),
        .error(ProtocolError(.forbiddenField, "x", recordID: "r")),
        .attachmentOffer(digest: String(repeating: "0f", count: 32)),
        .attachmentPut(digest: String(repeating: "0f", count: 32), offset: 0, data: [1]),
        .attachmentAck(digest: String(repeating: "0f", count: 32), size: 9, held: 1, complete: false),
        .attachmentGet(digest: String(repeating: "0f", count: 32), offset: 0),
        .attachmentData(digest: String(repeating: "0f", count: 32), offset: 0, size: 1, data: [1]),
    ]

    @Test(arguments: samples)
    func everyEncodedKeyIsInTheSchemaAndEveryRequiredKeyIsEncoded(message: SyncMessage) throws {
        let schema = try JSONValue.parse(
            Data(contentsOf: Self.schemaDirectory.appendingPathComponent("\(message.type).json"))
        )
        let encoded = try #require(message.jsonValue.objectValue)
        let properties = Set(try #require(schema["properties"]?.objectValue).keys)
        let required = Set((schema["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        #expect(Set(encoded.keys).isSubset(of: properties), "\(Set(encoded.keys).subtracting(properties))")
        #expect(required.isSubset(of: Set(encoded.keys)), "\(required.subtracting(encoded.keys))")
        if case .error(let error) = message {
            let codes = Set(schema["properties"]?["code"]?["enum"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(codes == Set(ProtocolError.Code.allCases.map(\.rawValue)))
            #expect(error.code.isRetryable == (error.code == .internalError))
        }
    }
}

/// Protocol/ says what the code does: the SPEC's example is a replayed vector, and the schemas' vocabularies and
/// fields are the ones the server checks.
@Suite struct ProtocolDocumentTests {
    static let protocolDirectory = ProtocolVectorTests.vectorsDirectory.deletingLastPathComponent()

    @Test func theSpecsRecordExampleIsTheVectorsRecord() throws {
        let spec = try String(contentsOf: Self.protocolDirectory.appendingPathComponent("SPEC.md"), encoding: .utf8)
        let section = try #require(spec.range(of: "## 6. Records"))
        let block = try #require(spec[section.upperBound...].range(of: "```json\n"))
        let end = try #require(spec[block.upperBound...].range(of: "```"))
        let example = try JSONValue.parse(Data(spec[block.upperBound..<end.lowerBound].utf8))
        let vector = try JSONValue.parse(
            Data(
                contentsOf: ProtocolVectorTests.vectorsDirectory.appendingPathComponent(
                    "spec-example-conflict-and-history.json"
                )
            )
        )
        let pushed = try #require(
            vector["steps"]?.arrayValue?.compactMap { $0["frame"] }.first { $0["type"] == .string("push") }
        )
        #expect(pushed["records"]?.arrayValue?.first == example)
        // The story the SPEC tells is what the engine makes of it.
        let record = try VersionedRecord(jsonValue: example)
        let conflicts = record.openConflicts(policy: ReturnEntity.policy)
        #expect(conflicts.map(\.field) == ["disposition"])
        #expect(conflicts.first?.winner.value == .string("recycle"))
        #expect(record.visibleValue(of: "status", policy: ReturnEntity.policy)?.value == .string("inspected"))
        #expect(record.conflictHistory.map(\.field) == ["condition"])
        #expect(try ProductReturn(record: record).condition == .defective)
    }

    @Test func theReturnSchemaHasTheServersFieldsAndVocabularies() throws {
        let schema = try JSONValue.parse(
            Data(contentsOf: Self.protocolDirectory.appendingPathComponent("schema/return-fields.json"))
        )
        let fields = try #require(schema["properties"]?["fields"])
        let properties = try #require(fields["properties"]?.objectValue)
        #expect(Set(properties.keys) == ReturnEntity.registerFields)
        #expect(Set(fields["required"]?.arrayValue?.compactMap(\.stringValue) ?? []) == ReturnEntity.requiredFields)
        #expect(
            Set(schema["properties"]?["sets"]?["properties"]?.objectValue?.keys ?? [:].keys) == ReturnEntity.setFields
        )
        func vocabulary(_ field: String) -> [String] {
            let value = properties[field]?["items"]?["prefixItems"]?.arrayValue?.first
            let allowed = value?["enum"] ?? value?["anyOf"]?.arrayValue?.first?["enum"]
            return allowed?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        #expect(vocabulary("reason") == ReturnReason.allCases.map(\.rawValue))
        #expect(vocabulary("status") == ReturnStatus.allCases.map(\.rawValue))
        #expect(vocabulary("condition") == ItemCondition.allCases.map(\.rawValue))
        #expect(vocabulary("testResult") == TestResult.allCases.map(\.rawValue))
        #expect(vocabulary("disposition") == Disposition.allCases.map(\.rawValue))
        #expect(vocabulary("verification") == PurchaseVerification.allCases.map(\.rawValue))
        #expect(vocabulary("recallMatch") == RecallCampaign.Match.allCases.map(\.rawValue))
        #expect(vocabulary("repairStatus") == RepairRecord.Status.allCases.map(\.rawValue))
        #expect(vocabulary("reviewOutcome") == ReviewDecision.Outcome.allCases.map(\.rawValue))
        #expect(vocabulary("refundMethod") == RefundMethod.allCases.map(\.rawValue))
        // Each vocabulary also takes a newer release's value, spelled as the code spells one (isVocabularySpelling).
        for field in [
            "reason", "status", "condition", "testResult", "disposition", "verification", "recallMatch", "repairStatus",
            "reviewOutcome", "refundMethod",
        ] {
            let choices = properties[field]?["items"]?["prefixItems"]?.arrayValue?.first?["anyOf"]?.arrayValue ?? []
            #expect(choices.contains { $0["$ref"] == .string("#/$defs/newerSpelling") }, "\(field)")
        }
        let newer = try #require(schema["$defs"]?["newerSpelling"])
        let pattern = try Regex(try #require(newer["pattern"]?.stringValue))
        #expect(newer["maxLength"] == .integer(40))
        for text in ["gift-return", "a", "a1-b2", "-a", "a-", "a--b", "A", "1a", "a b", "a_b", "é", "ab-"] {
            #expect((text.wholeMatch(of: pattern) != nil && text.count <= 40) == isVocabularySpelling(text), "\(text)")
        }
        let exceptions =
            properties["exceptions"]?["items"]?["prefixItems"]?.arrayValue?.first?["anyOf"]?.arrayValue?
            .first?["pattern"]?.stringValue ?? ""
        for exception in ReturnException.allCases { #expect(exceptions.contains(exception.rawValue)) }
    }
}
