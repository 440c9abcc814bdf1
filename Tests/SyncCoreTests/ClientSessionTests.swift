import Crypto
import Foundation
import PropertyBased
import ReturnSyncJSON
import SyncCore
import SyncEngine
import Testing
import WireProtocol

/// The kiosk's conversation, message by message, without sockets or storage; its handshake against the real
/// ``ServerSession``.
@Suite struct ClientSessionTests {
    typealias Action = ClientSession.Action

    static var serverKey: Curve25519.Signing.PrivateKey {
        try! .init(rawRepresentation: ServerSessionTests.serverSeed)
    }
    static var pinned: String { EnrollmentToken.fingerprint(of: serverKey.publicKey.rawRepresentation) }

    static func configuration(
        enrollment: EnrollmentToken? = nil,
        batchSize: Int = 2,
        pushWindow: Int = 4,
        pinned: String = pinned
    ) -> ClientSession.Configuration {
        ClientSession.Configuration(
            replicaID: "store-1/a",
            storeID: "store-1",
            kioskID: "a",
            privateKey: ServerSessionTests.kioskSeed,
            pinnedServerKey: pinned,
            enrollment: enrollment,
            batchSize: batchSize,
            pushWindow: pushWindow,
            serverAddress: "hq.example:7420"
        )
    }

    static func sent(_ actions: [Action]) -> [SyncMessage] {
        actions.compactMap { if case .send(let message) = $0 { message } else { nil } }
    }

    static func sent(_ actions: [ServerSession.Action]) -> [SyncMessage] {
        actions.compactMap { if case .send(let message) = $0 { message } else { nil } }
    }

    /// Runs the handshake of `client` against a ``ServerSession`` holding the kiosk's key; returns the client's
    /// actions on `welcome`.
    static func handshake(
        _ client: inout ClientSession,
        server: inout ServerSession,
        token: EnrollmentToken? = nil
    ) throws -> [Action] {
        let hello = try #require(sent(client.start()).first)
        let challenge = try #require(sent(try server.receive(hello)).first)
        let authenticate = try #require(sent(try client.receive(challenge)).first)
        var answer = try server.receive(authenticate)
        switch answer.first {
        case .lookUpKiosk?:
            answer = try server.kioskFound(
                publicKey: ServerSessionTests.kioskKey.publicKey.rawRepresentation,
                revoked: false
            )
        case .redeem(let enrollment)?:
            #expect(enrollment.publicKey == ServerSessionTests.kioskKey.publicKey.rawRepresentation)
            let token = try #require(token, "the server was asked to redeem a token the kiosk does not hold")
            #expect(enrollment.proves(token.proofKey.publicKey.rawRepresentation), "the token's proof checks out")
            answer = try server.enrolled()
        default:
            Issue.record("unexpected \(answer)")
        }
        let welcome = try #require(sent(try server.admitted(true)).first)
        return try client.receive(welcome)
    }

    static func established(batchSize: Int = 2, pushWindow: Int = 4) throws -> ClientSession {
        var client = ClientSession(configuration(batchSize: batchSize, pushWindow: pushWindow))
        var server = ServerSessionTests.session()
        _ = try handshake(&client, server: &server)
        return client
    }

    static func returns(_ seqs: ClosedRange<Int64>) -> [ClientSession.StoredChange] {
        seqs.map { .init(seq: $0, entityType: "return", json: "R\($0)") }
    }

    // MARK: Handshake

    @Test func anEnrolledKioskIsWelcomedByTheServerSession() throws {
        var client = ClientSession(Self.configuration())
        var server = ServerSessionTests.session()
        #expect(!client.isReady)
        let welcomed = try Self.handshake(&client, server: &server)
        #expect(welcomed == [.welcomed(serverID: "hq", enrolled: false)])
        #expect(client.isReady && client.version == 4)
        #expect(server.authenticatedKiosk?.replicaID.rawValue == "store-1/a")
    }

    @Test func anEnrollingKioskProvesTheTokenAndIsToldToStoreItsCredentials() throws {
        let token = EnrollmentToken.make(serverKeyFingerprint: Self.pinned)
        var client = ClientSession(Self.configuration(enrollment: token))
        var server = ServerSessionTests.session()
        #expect(
            try Self.handshake(&client, server: &server, token: token) == [.welcomed(serverID: "hq", enrolled: true)]
        )
    }

    @Test func anImpostorServerLearnsNothing() throws {
        // A server holding another key than the pinned one: its challenge does not prove the pinned key.
        let impostor = try ServerSession.Configuration(serverID: "hq", identitySeed: Data(repeating: 9, count: 32))
        var server = ServerSession(impostor, makeNonce: { ServerSessionTests.serverNonce })
        var client = ClientSession(Self.configuration())
        let hello = try #require(Self.sent(client.start()).first)
        let challenge = try #require(Self.sent(try server.receive(hello)).first)
        #expect {
            try client.receive(challenge)
        } throws: { error in
            "\(error)".contains("is not the one this kiosk was enrolled with")
                && "\(error)".contains("nothing was sent")
        }
        #expect(!client.isReady)
    }

    @Test func refusedHandshakes() throws {
        var client = ClientSession(Self.configuration())
        _ = client.start()
        #expect(throws: SyncError("the server did not send a challenge")) { try client.receive(.quiet) }

        var future = ClientSession(Self.configuration())
        _ = future.start()
        let challenge = SyncMessage.challenge(
            version: 99,
            nonce: ServerSessionTests.serverNonce,
            serverID: "hq",
            serverKey: nil,
            serverSignature: nil
        )
        #expect { try future.receive(challenge) } throws: { "\($0)".contains("protocol version 99") }

        // The server's refusal keeps its code for the caller.
        var refused = ClientSession(Self.configuration())
        _ = refused.start()
        let error = ProtocolError(.authenticationFailed, "kiosk store-1/a was revoked")
        #expect { try refused.receive(.error(error)) } throws: { ($0 as? SyncError)?.serverError == error }
    }

    // MARK: Push

    @Test func pushBatchesGoOutAheadOfTheirAnswersUpToTheWindowAndAreAnsweredInOrder() throws {
        var client = try Self.established(batchSize: 2, pushWindow: 2)
        #expect(client.startRound(pushedSeq: 0, pullCursor: "7") == [.readChanges(after: 0, limit: 2)])
        #expect(client.isInRound)
        #expect(
            client.changesRead(Self.returns(1...2)) == [
                .send(.encodedPush(batch: 1, records: ["R1", "R2"])), .readChanges(after: 2, limit: 2),
            ]
        )
        // Two in flight: the session waits for the first answer rather than reading on.
        #expect(client.changesRead(Self.returns(3...4)) == [.send(.encodedPush(batch: 2, records: ["R3", "R4"]))])
        #expect(throws: SyncError("the server did not acknowledge push batch 1")) {
            var copy = client
            return try copy.receive(.pushAck(batch: 2, merged: 2, unchanged: 0, conflicts: []))
        }
        let conflict = SyncMessage.RecordField(recordID: "R1", field: "reason")
        #expect(
            try client.receive(.pushAck(batch: 1, merged: 2, unchanged: 0, conflicts: [conflict])) == [
                .acknowledged(records: 2, conflicts: [conflict]), .readChanges(after: 4, limit: 2),
            ]
        )
        #expect(client.changesRead([]) == [])  // nothing more; batch 2 still out
        // The last answer: the checkpoint is saved and the pull asked for, from the stored cursor.
        #expect(
            try client.receive(.pushAck(batch: 2, merged: 2, unchanged: 0, conflicts: [])) == [
                .acknowledged(records: 2, conflicts: []), .saveCheckpoint(pushedSeq: 4),
                .send(.pull(cursor: "7", limit: 2, estimate: false)),
            ]
        )
    }

    @Test func pagesWithoutReturnsMoveTheCheckpointWithoutAPush() throws {
        var client = try Self.established()
        _ = client.startRound(pushedSeq: 10, pullCursor: "0")
        let recalls = [ClientSession.StoredChange(seq: 11, entityType: "recall", json: "{}")]
        #expect(client.changesRead(recalls) == [.readChanges(after: 11, limit: 2)])
        #expect(
            client.changesRead([]) == [
                .saveCheckpoint(pushedSeq: 11), .send(.pull(cursor: "0", limit: 2, estimate: false)),
            ]
        )
    }

    @Test func aRefusedRecordIsSetAsideAndThePushStartsOverFromTheCheckpoint() throws {
        var client = try Self.established(batchSize: 2, pushWindow: 2)
        _ = client.startRound(pushedSeq: 0, pullCursor: "0")
        _ = client.changesRead(Self.returns(1...2))
        _ = client.changesRead(Self.returns(3...4))
        let refusal = ProtocolError(.forbiddenField, "R1 writes quarantine", recordID: "R1")
        #expect(try client.receive(.error(refusal)) == [.setAside(recordID: "R1", refusal: refusal)])
        // Batch 2 is still answered, but the checkpoint may not pass R2, which batch 1 held too.
        #expect(try client.setAside(true, refusal: refusal) == [])
        #expect(
            try client.receive(.pushAck(batch: 2, merged: 2, unchanged: 0, conflicts: [])) == [
                .readChanges(after: 0, limit: 2)
            ]
        )
        // Batches are numbered on across the restart.
        #expect(
            client.changesRead(Self.returns(2...3)) == [
                .send(.encodedPush(batch: 3, records: ["R2", "R3"])), .readChanges(after: 3, limit: 2),
            ]
        )
        // A refusal of a record set aside already means this kiosk is wrong: the sync stops.
        let again = ProtocolError(.forbiddenField, "R2 writes quarantine", recordID: "R2")
        _ = try client.receive(.error(again))
        #expect(throws: SyncError("the server refused: R2 writes quarantine (forbidden-field)", serverError: again)) {
            try client.setAside(false, refusal: again)
        }
    }

    @Test func aRefusalOfTheConnectionIsNotARecordToSetAside() throws {
        var client = try Self.established()
        _ = client.startRound(pushedSeq: 0, pullCursor: "0")
        _ = client.changesRead(Self.returns(1...2))
        let busy = ProtocolError(.serverBusy, "too many connections")
        #expect { try client.receive(.error(busy)) } throws: { ($0 as? SyncError)?.serverError == busy }
    }

    // MARK: Pull and watch

    @Test func theNextPageIsAskedForBeforeThisOneIsMerged() throws {
        var client = try Self.established()
        _ = client.startRound(pushedSeq: 0, pullCursor: "0")
        // Nothing to push: the checkpoint did not move, so it is not saved again (a commit for nothing).
        #expect(client.changesRead([]) == [.send(.pull(cursor: "0", limit: 2, estimate: false))])
        let first = try client.receive(.pullBatch(records: [], cursor: "5", more: true, estimate: 9))
        #expect(
            first == [
                .send(.pull(cursor: "5", limit: 2, estimate: false)), .merge(records: [], cursor: "5", estimate: 9),
            ]
        )
        #expect(throws: SyncError("the server did not answer the pull")) {
            var copy = client
            return try copy.receive(.pushAck(batch: 1, merged: 0, unchanged: 0, conflicts: []))
        }
        let last = try client.receive(.pullBatch(records: [], cursor: "9", more: false))
        #expect(last == [.merge(records: [], cursor: "9", estimate: nil), .roundEnded(pushedSeq: 0)])
        #expect(!client.isInRound && client.isReady && client.cursor == "9")
    }

    @Test func aWatchsAnswerIsTakenInPassingAndAskedForAnotherRound() throws {
        var client = try Self.established()
        #expect(client.watch(seconds: 25) == [.send(.watch(cursor: "0", seconds: 25))])
        #expect(client.watch(seconds: 25) == [], "one watch at a time")
        #expect(!client.isReady)
        // A local change starts a round while the watch is out: its answer comes first, in passing.
        _ = client.startRound(pushedSeq: 0, pullCursor: "3")
        #expect(try client.receive(.changed) == [])
        #expect(!client.isWatching && client.watchSawChange)
        #expect(throws: SyncError.self) { try client.receive(.changed) }  // no watch is out now
        // Goodbye, with a watch out: its answer, then the server's bye.
        var leaving = try Self.established()
        _ = leaving.watch(seconds: 5)
        #expect(leaving.bye() == [.send(.bye)])
        #expect(try leaving.receive(.quiet) == [])
        #expect(try leaving.receive(.bye) == [.close])
        // The server leaving while the kiosk waits.
        var waiting = try Self.established()
        #expect(throws: SyncError("the server is shutting down")) { try waiting.receive(.bye) }
    }

    /// Whatever the mix of returns and other changes, page sizes, window and records the server refuses, a round
    /// ends having pushed every other return, set aside exactly the refused ones, never had more batches out than
    /// the window, never sent a record after it was set aside, and left the checkpoint past every change not set aside.
    @Test func everyRoundEndsWithEverythingPushedOrSetAside() async {
        struct Plan: Sendable, CustomStringConvertible {
            var kinds: [Bool]  // true: a return
            var refused: Set<Int64>
            var batchSize: Int
            var window: Int
            var description: String {
                "\(kinds.map { $0 ? "r" : "o" }.joined()) refused \(refused.sorted()) b\(batchSize) w\(window)"
            }
        }
        let plans = Generator<Plan, Shrink.None<Plan>>(run: { rng in
            let kinds = (0..<Int.random(in: 0...40, using: &rng)).map { _ in Int.random(in: 0..<4, using: &rng) > 0 }
            let refused = Set((1...Int64(max(1, kinds.count))).filter { _ in Int.random(in: 0..<8, using: &rng) == 0 })
            return Plan(
                kinds: kinds,
                refused: refused,
                batchSize: Int.random(in: 1...5, using: &rng),
                window: Int.random(in: 1...4, using: &rng)
            )
        })
        await propertyCheck(count: 300, input: plans) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let changes = plan.kinds.enumerated().map { index, isReturn in
                    ClientSession.StoredChange(
                        seq: Int64(index + 1),
                        entityType: isReturn ? "return" : "recall",
                        json: "\(index + 1)"
                    )
                }
                var client = try Self.established(batchSize: plan.batchSize, pushWindow: plan.window)
                var quarantined = Set<Int64>()
                var acknowledged = Set<Int64>()
                var batches: [Int: [Int64]] = [:]
                var answers: [SyncMessage] = []
                var checkpoint: Int64 = 0
                var ended = false
                var pending = Array(client.startRound(pushedSeq: 0, pullCursor: "0").reversed())
                var steps = 0
                while !ended {
                    steps += 1
                    guard steps < 10_000 else {
                        Issue.record("no end: \(plan)")
                        return
                    }
                    guard let action = pending.popLast() else {
                        let answer = try #require(answers.first, "the session waits for nothing: \(plan)")
                        answers.removeFirst()
                        if case .pushAck(let batch, _, _, _) = answer { acknowledged.formUnion(batches[batch] ?? []) }
                        pending = Array(try client.receive(answer).reversed())
                        continue
                    }
                    var next: [Action] = []
                    switch action {
                    case .readChanges(let after, let limit):
                        next = client.changesRead(
                            Array(changes.filter { $0.seq > after && !quarantined.contains($0.seq) }.prefix(limit))
                        )
                    case .send(.encodedPush(let batch, let records)):
                        let seqs = records.map { Int64($0)! }
                        #expect(seqs.allSatisfy { !quarantined.contains($0) }, "a record set aside was sent")
                        batches[batch] = seqs
                        let outstanding = answers.filter { if case .pull = $0 { false } else { true } }.count + 1
                        #expect(outstanding <= plan.window, "\(outstanding) batches out: \(plan)")
                        if let bad = seqs.first(where: plan.refused.contains) {
                            answers.append(.error(ProtocolError(.invalidRecord, "no", recordID: "\(bad)")))
                        } else {
                            answers.append(.pushAck(batch: batch, merged: seqs.count, unchanged: 0, conflicts: []))
                        }
                    case .setAside(let recordID, let refusal):
                        next = try client.setAside(quarantined.insert(Int64(recordID)!).inserted, refusal: refusal)
                    case .saveCheckpoint(let seq):
                        #expect(seq >= checkpoint, "the checkpoint went back")
                        checkpoint = seq
                    case .send(.pull):
                        answers.append(.pullBatch(records: [], cursor: "0", more: false))
                    case .roundEnded:
                        ended = true
                    default: break
                    }
                    pending += next.reversed()
                }
                let returns = Set(changes.filter { $0.entityType == "return" }.map(\.seq))
                #expect(quarantined == returns.intersection(plan.refused), "\(plan)")
                #expect(acknowledged.union(quarantined) == returns, "\(plan)")
                #expect(acknowledged.isDisjoint(with: quarantined), "\(plan)")
                // Set-aside records are not read again, so the checkpoint passes them only with a later change.
                let lastKept = changes.last { !quarantined.contains($0.seq) }?.seq ?? 0
                #expect(checkpoint == lastKept, "\(plan)")
            } catch {
                Issue.record(error)
            }
        }
    }
}

/// The kiosk's side of every golden vector a real kiosk could have written: with the vector's key, nonce and token,
/// ``ClientSession`` sends exactly the vector's `hello` and `authenticate`, accepts its challenge and welcome, and
/// takes its refusals as the vector says.
@Suite struct ClientSessionVectorTests {
    /// The fixed kiosk key of `generate.py`.
    static let kioskSeed = Data(1...32)

    @Test func everyHandshakeAKioskCouldHaveWrittenReplaysFrameForFrame() throws {
        var replayed: [String] = []
        for name in ServerSessionTests.vectorNames {
            let vector = try JSONValue.parse(Data(contentsOf: ServerSessionTests.vectors.appendingPathComponent(name)))
            let steps = try #require(vector["steps"]?.arrayValue)
            guard let hello = steps.first?["frame"], hello["type"] == .string("hello"),
                let nonce = hello["nonce"]?.stringValue, let replica = hello["replicaId"]?.stringValue,
                let store = hello["storeId"]?.stringValue, let kiosk = hello["kioskId"]?.stringValue
            else { continue }
            // The token issued for this kiosk, if the vector enrolls; its fingerprint is the key a kiosk pins.
            let token = try (vector["setup"]?["enrollments"]?.arrayValue ?? []).first {
                $0["storeId"]?.stringValue == store && $0["kioskId"]?.stringValue == kiosk
            }.flatMap { try $0["token"]?.stringValue.map(EnrollmentToken.init) }
            let seed = try #require(vector["setup"]?["serverKeySeed"]?.stringValue.flatMap { Data(base64Encoded: $0) })
            let serverKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed).publicKey.rawRepresentation
            let authenticate = steps.first { $0["frame"]?["type"] == .string("authenticate") }?["frame"]
            let enrolling = authenticate?["publicKey"] != nil && authenticate?["publicKey"] != .null
            var configuration = ClientSession.Configuration(
                replicaID: replica,
                storeID: store,
                kioskID: kiosk,
                privateKey: Self.kioskSeed,
                pinnedServerKey: EnrollmentToken.fingerprint(of: serverKey),
                enrollment: enrolling ? token : nil,
                serverAddress: "hq"
            )
            // Most vectors are a version-3 kiosk's conversations (a kiosk of the previous release, which a
            // version-4 server still serves): the kiosk offers what the vector's did.
            configuration.versions = hello["versions"]?.arrayValue?.compactMap(\.integerValue).map { Int($0) } ?? []
            var client = ClientSession(configuration, kioskNonce: nonce)
            // A vector whose kiosk says something no ClientSession says (an old version, a malformed hello, another
            // device's key) is the server's to replay, not the kiosk's.
            guard Self.sent(client.start()).map(\.jsonValue) == [hello] else { continue }
            var expected = steps.dropFirst()[...]
            var outcome = "open"
            replay: while let step = expected.first {
                expected.removeFirst()
                guard step["from"]?.stringValue == "server", let frame = step["frame"] else { continue }
                let message = try SyncMessage.decode(frame)
                let actions: [ClientSession.Action]
                do {
                    actions = try client.receive(message)
                } catch {
                    #expect(
                        error.serverError?.code.rawValue == frame["code"]?.stringValue,
                        "\(name): \(error.message)"
                    )
                    outcome = "refused"
                    break replay
                }
                for case .send(let sent) in actions {
                    let wanted = expected.first { $0["from"]?.stringValue == "client" }?["frame"]
                    guard sent.jsonValue == wanted else {
                        // Another device's signature, or a hand-made frame: the rest is the server's to replay.
                        outcome = "diverged"
                        break replay
                    }
                    expected = expected.drop { $0["frame"] != wanted }.dropFirst()
                }
                if case .welcomed? = actions.first {
                    outcome = "welcomed"
                    break replay
                }
            }
            if outcome == "welcomed" || outcome == "refused" { replayed.append("\(name): \(outcome)") }
        }
        // Thirteen today: the enrollments, the enrolled kiosk, live push, the impostor check, a refusal, and every
        // vector whose trouble comes after the handshake.
        #expect(replayed.count >= 13, "\(replayed)")
        for wanted in [
            "enroll-push-pull.json: welcomed", "impostor-check.json: welcomed", "reenroll-new-key.json: welcomed",
            "enrolled-kiosk-other-key.json: refused",
        ] {
            #expect(replayed.contains(wanted), "\(replayed)")
        }
    }

    static func sent(_ actions: [ClientSession.Action]) -> [SyncMessage] {
        actions.compactMap { if case .send(let message) = $0 { message } else { nil } }
    }
}
