import Crypto
import Foundation
import ReturnSyncJSON
import ReturnsModel
import SyncCore
import SyncEngine
import Testing
import WireProtocol

/// The server's conversation, message by message, without sockets or storage.
@Suite struct ServerSessionTests {
    static let serverSeed = Data(1...32)
    static let kioskSeed = Data(33...64)
    static var kioskKey: Curve25519.Signing.PrivateKey { try! .init(rawRepresentation: kioskSeed) }
    static let kioskNonce = Data(repeating: 7, count: 32).base64EncodedString()
    static let serverNonce = Data(repeating: 0, count: 32).base64EncodedString()

    static func session() -> ServerSession {
        ServerSession(
            try! ServerSession.Configuration(serverID: "hq", identitySeed: serverSeed),
            makeNonce: { serverNonce }
        )
    }

    static let hello = SyncMessage.hello(
        versions: [3],
        replicaID: "store-1/a",
        storeID: "store-1",
        kioskID: "a",
        nonce: kioskNonce
    )

    static func signature(by key: Curve25519.Signing.PrivateKey = kioskKey) -> String {
        try! key.signature(
            for: authenticationPayload(
                serverNonce: serverNonce,
                kioskNonce: kioskNonce,
                replicaID: "store-1/a",
                serverID: "hq"
            )
        ).base64EncodedString()
    }

    static func expect(
        _ code: ProtocolError.Code,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws(ProtocolError) -> [ServerSession.Action]
    ) {
        do {
            let actions = try body()
            Issue.record("no \(code.rawValue): \(actions)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    /// A session past `welcome` for kiosk store-1/a.
    /// A session past `welcome`; on the newest version both speak, unless the kiosk offers fewer `versions`.
    static func established(versions: [Int] = supportedProtocolVersions) throws(ProtocolError) -> ServerSession {
        var session = session()
        _ = try session.receive(
            .hello(versions: versions, replicaID: "store-1/a", storeID: "store-1", kioskID: "a", nonce: kioskNonce)
        )
        _ = try session.receive(.authenticate(signature: signature(), publicKey: nil, tokenProof: nil))
        _ = try session.kioskFound(publicKey: kioskKey.publicKey.rawRepresentation, revoked: false)
        _ = try session.admitted(true)
        return session
    }

    @Test func theChallengeProvesTheServersKeyOverTheKiosksNonce() throws {
        var session = Self.session()
        let actions = try session.receive(Self.hello)
        guard case .send(.challenge(let version, let nonce, let serverID, let key, let signature))? = actions.first
        else {
            Issue.record("not a challenge: \(actions)")
            return
        }
        #expect(version == 3 && nonce == Self.serverNonce && serverID == "hq")
        let identity = try Curve25519.Signing.PrivateKey(rawRepresentation: Self.serverSeed)
        #expect(key == identity.publicKey.rawRepresentation.base64EncodedString())
        let payload = serverProofPayload(
            kioskNonce: Self.kioskNonce,
            serverNonce: nonce,
            serverID: "hq",
            replicaID: "store-1/a"
        )
        let proof = try #require(signature.flatMap { Data(base64Encoded: $0) })
        #expect(identity.publicKey.isValidSignature(proof, for: payload))
    }

    /// The configuration makes the server's key once and every session signs with it, on whatever thread its
    /// connection runs: each of many concurrent challenges proves the key over its own kiosk's nonce, and no other.
    @Test func sessionsSharingOneConfigurationEachSignTheirOwnChallengeConcurrently() async throws {
        let configuration = try ServerSession.Configuration(serverID: "hq", identitySeed: Self.serverSeed)
        #expect(configuration.identitySeed == Self.serverSeed)
        // Bytes, not the key: swift-crypto's key types are not `Sendable`.
        let serverKeyBytes = try Curve25519.Signing.PrivateKey(rawRepresentation: Self.serverSeed).publicKey
            .rawRepresentation
        let results = await withTaskGroup(of: (Int, Bool, Bool).self) { group in
            for index in 0..<64 {
                group.addTask {
                    let kioskNonce = Data(repeating: UInt8(index), count: 32).base64EncodedString()
                    var session = ServerSession(configuration, makeNonce: { Self.serverNonce })
                    let actions = try? session.receive(
                        .hello(
                            versions: [3],
                            replicaID: "store-1/k\(index)",
                            storeID: "store-1",
                            kioskID: "k\(index)",
                            nonce: kioskNonce
                        )
                    )
                    guard case .send(.challenge(_, let nonce, _, let key, let signature))? = actions?.first,
                        let proof = signature.flatMap({ Data(base64Encoded: $0) }),
                        let serverKey = try? Curve25519.Signing.PublicKey(rawRepresentation: serverKeyBytes)
                    else { return (index, false, false) }
                    func payload(kiosk: Int) -> [UInt8] {
                        serverProofPayload(
                            kioskNonce: Data(repeating: UInt8(kiosk), count: 32).base64EncodedString(),
                            serverNonce: nonce,
                            serverID: "hq",
                            replicaID: "store-1/k\(kiosk)"
                        )
                    }
                    let own =
                        key == serverKey.rawRepresentation.base64EncodedString()
                        && serverKey.isValidSignature(proof, for: payload(kiosk: index))
                    return (index, own, serverKey.isValidSignature(proof, for: payload(kiosk: (index + 1) % 64)))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 64)
        #expect(results.allSatisfy { $0.1 }, "every challenge proves the server's key over its own kiosk's nonce")
        #expect(results.allSatisfy { !$0.2 }, "and over no other kiosk's")
    }

    @Test func anEnrolledKioskIsLookedUpCheckedAndAdmitted() throws {
        var session = Self.session()
        _ = try session.receive(Self.hello)
        let lookUp = try session.receive(.authenticate(signature: Self.signature(), publicKey: nil, tokenProof: nil))
        guard case .lookUpKiosk(let kiosk)? = lookUp.first else {
            Issue.record("\(lookUp)")
            return
        }
        #expect(kiosk.replicaID.rawValue == "store-1/a" && kiosk.storeID.rawValue == "store-1")
        let admit = try session.kioskFound(publicKey: Self.kioskKey.publicKey.rawRepresentation, revoked: false)
        guard case .admit? = admit.first else {
            Issue.record("\(admit)")
            return
        }
        let welcome = try session.admitted(true, serverTime: 1_764_806_400_000)
        guard case .send(.welcome(let replica, let store, let serverTime, let granted))? = welcome.first else {
            Issue.record("\(welcome)")
            return
        }
        #expect(replica == "store-1/a" && store == "store-1")
        #expect(serverTime == 1_764_806_400_000, "the server's clock, for a kiosk to correct its own by")
        #expect(granted == nil, "a kiosk that asked for no capability gets the welcome it always got")
        #expect(session.authenticatedKiosk == kiosk)
    }

    @Test func refusedHandshakes() throws {
        Self.expect(.unexpectedMessage) { () throws(ProtocolError) in
            var session = Self.session()
            return try session.receive(.bye)
        }
        Self.expect(.unsupportedVersion) { () throws(ProtocolError) in
            var session = Self.session()
            return try session.receive(
                .hello(versions: [1, 2], replicaID: "store-1/a", storeID: "store-1", kioskID: "a", nonce: nil)
            )
        }
        Self.expect(.malformedFrame) { () throws(ProtocolError) in
            var session = Self.session()
            return try session.receive(
                .hello(versions: [3], replicaID: "store-1/a", storeID: "store-1", kioskID: "a", nonce: "c2hvcnQ=")
            )
        }
        Self.expect(.authenticationFailed) { () throws(ProtocolError) in
            var session = Self.session()
            return try session.receive(
                .hello(versions: [3], replicaID: "store-2/a", storeID: "store-1", kioskID: "a", nonce: Self.kioskNonce)
            )
        }
        // Not enrolled; another key; revoked; over its rate.
        let other = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation  // another device's
        let key = Self.kioskKey.publicKey.rawRepresentation
        for (publicKey, revoked, code) in [
            (nil, false, ProtocolError.Code.authenticationFailed), (other, false, .authenticationFailed),
            (key, true, .authenticationFailed),
        ] as [(Data?, Bool, ProtocolError.Code)] {
            Self.expect(code) { () throws(ProtocolError) in
                var session = Self.session()
                _ = try session.receive(Self.hello)
                _ = try session.receive(.authenticate(signature: Self.signature(), publicKey: nil, tokenProof: nil))
                return try session.kioskFound(publicKey: publicKey, revoked: revoked)
            }
        }
        Self.expect(.rateLimited) { () throws(ProtocolError) in
            var session = Self.session()
            _ = try session.receive(Self.hello)
            _ = try session.receive(.authenticate(signature: Self.signature(), publicKey: nil, tokenProof: nil))
            _ = try session.kioskFound(publicKey: key, revoked: false)
            return try session.admitted(false)
        }
        // A second hello after welcome.
        Self.expect(.unexpectedMessage) { () throws(ProtocolError) in
            var session = try Self.established()
            return try session.receive(Self.hello)
        }
    }

    @Test func requestsAreCheckedAndSyncsBeginAndEndWhereTheSpecSays() throws {
        var session = try Self.established()
        let kiosk = try #require(session.authenticatedKiosk)
        // Every storage action names the authenticated kiosk: the driver looks nothing up.
        func kinds(_ actions: [ServerSession.Action]) -> [String] {
            actions.map { action in
                switch action {
                case .push(let by, let batch, _): return by == kiosk ? "push \(batch)" : "push by \(by)"
                case .pull(let by, let cursor, let limit, let estimate):
                    return by == kiosk ? "pull \(cursor) \(limit) \(estimate)" : "pull by \(by)"
                case .watch(let by, let cursor, let seconds):
                    return by == kiosk ? "watch \(cursor) \(seconds)" : "watch by \(by)"
                case .syncEnded(let by, _): return by == kiosk ? "syncEnded" : "syncEnded by \(by)"
                case .send(let message): return "send \(message.type)"
                default: return "\(action)"
                }
            }
        }
        #expect(kinds(try session.receive(.push(batch: 1, records: []))) == ["push 1"])
        #expect(kinds(try session.receive(.pull(cursor: "7", limit: 9_999, estimate: true))) == ["pull 7 500 true"])
        #expect(kinds(try session.receive(.watch(cursor: "7", seconds: 25))) == ["syncEnded", "watch 7 25"])
        // A renewal ends the watch and starts no sync; a push does.
        #expect(kinds(try session.receive(.watch(cursor: "7", seconds: 25))) == ["endWatch", "watch 7 25"])
        #expect(kinds(try session.receive(.push(batch: 2, records: []))) == ["endWatch", "syncStarted", "push 2"])
        #expect(kinds(try session.receive(.bye)) == ["syncEnded", "send bye", "close"])
        Self.expect(.unexpectedMessage) { () throws(ProtocolError) in try session.receive(.bye) }

        for (bad, code) in [
            (SyncMessage.push(batch: 0, records: []), ProtocolError.Code.malformedFrame),
            (.pull(cursor: "0", limit: 0), .malformedFrame), (.pull(cursor: "-1", limit: 5), .malformedFrame),
            (.pull(cursor: "x", limit: 5), .malformedFrame), (.watch(cursor: "0", seconds: 51), .malformedFrame),
            (.watch(cursor: "0", seconds: 0), .malformedFrame), (.changed, .unexpectedMessage),
        ] {
            Self.expect(code) { () throws(ProtocolError) in
                var fresh = try Self.established()
                return try fresh.receive(bad)
            }
        }
    }

    // MARK: The golden vectors, without sockets

    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Protocol/vectors")

    static var vectorNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: vectors.path)) ?? []).filter { $0.hasSuffix(".json") }
            .sorted()
    }

    /// Every vector's handshake, up to `welcome` or the error that ends it, replayed against the session with an
    /// in-memory list of enrollments: the same frames as the real server sends.
    @Test(arguments: vectorNames)
    func theHandshakeOfEveryVector(name: String) throws {
        let vector = try JSONValue.parse(Data(contentsOf: Self.vectors.appendingPathComponent(name)))
        let setup = try #require(vector["setup"])
        let nonce = try #require(setup["nonce"]?.stringValue)
        let seed = try #require(setup["serverKeySeed"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        // As the socket replay sets it up: enrolled kiosks first (each with a token of its own), then the vector's
        // tokens, which are then the ones waiting.
        var enrolled: [String: Data] = [:]
        for kiosk in setup["enrolled"]?.arrayValue ?? [] {
            let id = "\(kiosk["storeId"]?.stringValue ?? "")/\(kiosk["kioskId"]?.stringValue ?? "")"
            enrolled[id] = kiosk["publicKey"]?.stringValue.flatMap { Data(base64Encoded: $0) }
        }
        var pending: [(kiosk: String, key: Data)] = try (setup["enrollments"]?.arrayValue ?? []).map {
            let token = try EnrollmentToken(try #require($0["token"]?.stringValue))
            let id = "\($0["storeId"]?.stringValue ?? "")/\($0["kioskId"]?.stringValue ?? "")"
            return (id, token.proofKey.publicKey.rawRepresentation)
        }
        var session = ServerSession(try .init(serverID: "hq", identitySeed: seed), makeNonce: { nonce })
        // The server's clock, as the vector's welcome says it (the socket replay takes the real one).
        let serverTime = try #require(vector["steps"]?.arrayValue).lazy.compactMap { step in
            step["frame"]?["type"] == .string("welcome") ? step["frame"]?["serverTime"]?.integerValue : nil
        }.first
        var sent: [JSONValue] = []
        var closed = false
        func perform(_ actions: [ServerSession.Action]) throws(ProtocolError) {
            var actions = actions
            while !actions.isEmpty {
                switch actions.removeFirst() {
                case .send(let message): sent.append(message.jsonValue)
                case .lookUpKiosk(let kiosk):
                    actions += try session.kioskFound(publicKey: enrolled[kiosk.replicaID.rawValue], revoked: false)
                case .redeem(let enrollment):
                    let id = enrollment.kiosk.replicaID.rawValue
                    guard let index = pending.firstIndex(where: { $0.kiosk == id && enrollment.proves($0.key) }) else {
                        throw ProtocolError(.enrollmentRefused, "no usable token for \(id)")
                    }
                    pending.remove(at: index)
                    enrolled[id] = enrollment.publicKey
                    actions += try session.enrolled()
                case .admit: actions += try session.admitted(true, serverTime: serverTime)
                case .close: closed = true
                default: return  // past the handshake: the socket tests replay the rest
                }
            }
        }
        var expected: [JSONValue] = []
        for step in try #require(vector["steps"]?.arrayValue) {
            if step["from"]?.stringValue == "server", let frame = step["frame"] { expected.append(frame) }
        }
        steps: for step in try #require(vector["steps"]?.arrayValue) where step["from"]?.stringValue == "client" {
            guard session.authenticatedKiosk == nil, !closed else { break }
            let message: SyncMessage
            do {
                if let raw = step["raw"]?.stringValue {
                    message = try SyncMessage.decode(Array(raw.utf8))
                } else {
                    message = try SyncMessage.decode(try #require(step["frame"]))
                }
            } catch let error as ProtocolError {
                sent.append(SyncMessage.error(error).jsonValue)
                break steps
            }
            do {
                try perform(try session.receive(message))
            } catch {
                sent.append(SyncMessage.error(error).jsonValue)
                break steps
            }
        }
        // What the session sent is the vector's server frames, in order (errors by code and retryability).
        #expect(!sent.isEmpty && sent.count <= expected.count, "\(name): sent \(sent.count) frames")
        for (actual, wanted) in zip(sent, expected) {
            if wanted["type"] == .string("error") {
                #expect(actual["code"] == wanted["code"], "\(name): \(actual.serializedString)")
                #expect(actual["retryable"] == wanted["retryable"], "\(name)")
            } else {
                #expect(actual == wanted, "\(name): \(actual.serializedString)")
            }
        }
    }
}
