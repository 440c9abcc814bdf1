import Foundation
import ReturnSyncJSON
import SyncEngine

/// The newest protocol version this implementation speaks.
///
/// Version 2 added live push (`watch`, `changed`, `quiet`); version 3 makes the server prove its identity in the
/// handshake and keeps enrollment tokens off the wire (Protocol/SPEC.md §4); version 4 carries the bytes of
/// attachments (`attachment-offer`, `attachment-put`, `attachment-get`; Protocol/SPEC.md §5.5).
public let currentProtocolVersion = 4

/// Every protocol version this implementation speaks. Versions 1 and 2 let an impostor pose as the server and
/// sent enrollment tokens in clear: a kiosk offering only those is told to upgrade.
public let supportedProtocolVersions = [3, 4]

/// The most bytes of an attachment one `attachment-put` or `attachment-data` carries (before base64): 1 MiB, so a
/// chunk's frame stays far below ``maximumFrameSize``.
public let maximumAttachmentChunk = 1 << 20

/// The longest a `watch` may be held, in seconds: under the server's 60-second idle timeout, so a watching kiosk's
/// next `watch` always arrives before the server would close the connection as silent.
public let maximumWatchSeconds = 50

/// The largest frame accepted, in bytes, not counting its newline (Protocol/SPEC.md, "Framing").
public let maximumFrameSize = 4 * 1024 * 1024

/// The most records one `push` or `pull-batch` may carry.
public let maximumBatchSize = 500

/// The most ids one `fetch` may ask for.
public let maximumFetchIDs = 100

/// Optional features a connection may use, negotiated per connection: the kiosk lists the ones it can use in
/// `hello`, the server grants those it has in `welcome` (Protocol/SPEC.md §4.5). A receiver ignores a name it does
/// not know, so a release adds one without a new protocol version.
public enum SyncCapability {
    /// `fetch` and `fetched`: a kiosk asks for its store's returns by id, whole (one it pruned, say).
    public static let fetch = "fetch"
    /// A kiosk may push a version whose conflict history lacks settled entries the server holds (a kiosk drops
    /// them once HQ holds them, SPEC §6): the server keeps its entries and takes the rest. A server before 0.6.0
    /// would refuse such a version as a conflicting write, so a kiosk compacts only after a server granted this.
    public static let historyCompaction = "history-compaction"
    /// Every capability this implementation has.
    public static let supported = [fetch, historyCompaction]
}

/// A message of the sync protocol. Each travels as one line of UTF-8 JSON with a `type` key.
public enum SyncMessage: Hashable, Sendable {
    /// Client → server, first: who the kiosk is, which protocol versions it speaks, and (version 3) a fresh nonce
    /// the server must sign.
    /// `capabilities`: the optional features it can use (``SyncCapability``; `nil`: none, as before release 0.5.0).
    case hello(
        versions: [Int],
        replicaID: String,
        storeID: String,
        kioskID: String,
        nonce: String? = nil,
        capabilities: [String]? = nil
    )
    /// Server → client: the version chosen, a fresh nonce to sign, and (version 3) the server's public key and its
    /// signature of both nonces: the server proves who it is before the kiosk sends anything that matters.
    case challenge(
        version: Int,
        nonce: String,
        serverID: String,
        serverKey: String? = nil,
        serverSignature: String? = nil
    )
    /// Client → server: the signature of the challenge; on enrollment also the kiosk's new public key and the proof
    /// that it holds the enrollment token (a signature by the key the token derives, never the token itself).
    case authenticate(signature: String, publicKey: String?, tokenProof: String?)
    /// Server → client: authenticated. `serverTime` is the server's wall clock as it sent the frame, in milliseconds
    /// since the Unix epoch (servers from release 0.4.0 send it): a kiosk whose clock is wrong corrects its stamps
    /// by it (Protocol/SPEC.md §6).
    /// `capabilities`: those of the kiosk's `hello` the server grants on this connection (`nil`: none — servers
    /// before release 0.5.0 grant nothing).
    case welcome(replicaID: String, storeID: String, serverTime: Int64? = nil, capabilities: [String]? = nil)
    /// Client → server: changed records, at most ``maximumBatchSize``.
    case push(batch: Int, records: [VersionedRecord])
    /// A `push` whose records are already in their JSON form (as a replica stores them), sent as they are: the
    /// sender saves decoding and re-encoding each one. Only for sending; a received `push` decodes as ``push``.
    case encodedPush(batch: Int, records: [String])
    /// Server → client: batch `batch` is merged and committed.
    case pushAck(batch: Int, merged: Int, unchanged: Int, conflicts: [RecordField])
    /// Client → server: records changed after `cursor`, at most `limit`; with `estimate`, the answer says about how
    /// many records wait in all (for a progress display).
    case pull(cursor: String, limit: Int, estimate: Bool = false)
    /// Server → client: some records of the kiosk's store, the cursor to ask from next, whether more wait, and when
    /// asked for, about how many records waited after the pull's cursor.
    case pullBatch(records: [VersionedRecord], cursor: String, more: Bool, estimate: Int? = nil)
    /// A `pull-batch` whose records are already in their JSON form, sent as they are. Only for sending.
    case encodedPullBatch(records: [String], cursor: String, more: Bool, estimate: Int? = nil)
    /// Client → server (version 2): the kiosk is up to date at `cursor` and waits, connected, for its store's next
    /// change, at most `seconds`. Answered by ``changed`` or ``quiet``.
    case watch(cursor: String, seconds: Int)
    /// Server → client (version 2): the store's feed has records after the watched cursor; pull them.
    case changed
    /// Server → client (version 2): nothing new before the watch's time ran out, the kiosk sent another request,
    /// or the server is shutting down.
    case quiet
    /// Client → server (version 4): the kiosk holds the bytes of attachment `digest`; how many does the server hold?
    /// Answered by ``attachmentAck``.
    case attachmentOffer(digest: String)
    /// Client → server (version 4): bytes of attachment `digest` from `offset`, which must be what the server holds.
    /// Answered by ``attachmentAck`` once they are durable.
    case attachmentPut(digest: String, offset: Int, data: [UInt8])
    /// Server → client (version 4): the server holds the first `held` of the attachment's `size` bytes; `complete`
    /// once it holds them all and they hash to `digest`.
    case attachmentAck(digest: String, size: Int, held: Int, complete: Bool)
    /// Client → server (version 4): the bytes of attachment `digest` from `offset`. Answered by ``attachmentData``.
    case attachmentGet(digest: String, offset: Int)
    /// Server → client (version 4): bytes of attachment `digest` from `offset` (at most ``maximumAttachmentChunk``),
    /// of `size` in all.
    case attachmentData(digest: String, offset: Int, size: Int, data: [UInt8])
    /// Client → server (capability `fetch`): the kiosk's store's returns with these ids, whole; at most
    /// ``maximumFetchIDs``. Answered by ``fetched``.
    case fetch(ids: [String])
    /// Server → client (capability `fetch`): the returns asked for that the server holds for the kiosk's store, and
    /// the ids it does not — unknown, or another store's: the same answer either way.
    case fetched(records: [VersionedRecord], missing: [String])
    /// Either side: done; the connection closes.
    case bye
    /// Either side: something went wrong.
    case error(ProtocolError)

    /// A field of a record, as conflicts are reported: the engine's own shape.
    public typealias RecordField = RecordConflict

    /// The message's `type`.
    public var type: String {
        switch self {
        case .hello: return "hello"
        case .challenge: return "challenge"
        case .authenticate: return "authenticate"
        case .welcome: return "welcome"
        case .push, .encodedPush: return "push"
        case .pushAck: return "push-ack"
        case .pull: return "pull"
        case .pullBatch, .encodedPullBatch: return "pull-batch"
        case .watch: return "watch"
        case .changed: return "changed"
        case .quiet: return "quiet"
        case .attachmentOffer: return "attachment-offer"
        case .attachmentPut: return "attachment-put"
        case .attachmentAck: return "attachment-ack"
        case .attachmentGet: return "attachment-get"
        case .attachmentData: return "attachment-data"
        case .fetch: return "fetch"
        case .fetched: return "fetched"
        case .bye: return "bye"
        case .error: return "error"
        }
    }
}

extension SyncMessage {
    /// The message as a JSON object.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = ["type": .string(type)]
        switch self {
        case .hello(let versions, let replicaID, let storeID, let kioskID, let nonce, let capabilities):
            members["versions"] = .array(versions.map { .integer(Int64($0)) })
            members["replicaId"] = .string(replicaID)
            members["storeId"] = .string(storeID)
            members["kioskId"] = .string(kioskID)
            if let nonce { members["nonce"] = .string(nonce) }
            if let capabilities { members["capabilities"] = .array(capabilities.map(JSONValue.string)) }
        case .challenge(let version, let nonce, let serverID, let serverKey, let serverSignature):
            members["version"] = .integer(Int64(version))
            members["nonce"] = .string(nonce)
            members["serverId"] = .string(serverID)
            if let serverKey { members["serverKey"] = .string(serverKey) }
            if let serverSignature { members["serverSignature"] = .string(serverSignature) }
        case .authenticate(let signature, let publicKey, let tokenProof):
            members["signature"] = .string(signature)
            if let publicKey { members["publicKey"] = .string(publicKey) }
            if let tokenProof { members["tokenProof"] = .string(tokenProof) }
        case .welcome(let replicaID, let storeID, let serverTime, let capabilities):
            members["replicaId"] = .string(replicaID)
            members["storeId"] = .string(storeID)
            if let serverTime { members["serverTime"] = .integer(serverTime) }
            if let capabilities { members["capabilities"] = .array(capabilities.map(JSONValue.string)) }
        case .push(let batch, let records):
            members["batch"] = .integer(Int64(batch))
            members["records"] = .array(records.map(\.jsonValue))
        case .encodedPush(let batch, let records):
            members["batch"] = .integer(Int64(batch))
            members["records"] = .array(records.map { (try? JSONValue.parse(Array($0.utf8))) ?? .null })
        case .pushAck(let batch, let merged, let unchanged, let conflicts):
            members["batch"] = .integer(Int64(batch))
            members["merged"] = .integer(Int64(merged))
            members["unchanged"] = .integer(Int64(unchanged))
            members["conflicts"] = .array(
                conflicts.map { .object(["recordId": .string($0.recordID), "field": .string($0.field)]) }
            )
        case .pull(let cursor, let limit, let estimate):
            members["cursor"] = .string(cursor)
            members["limit"] = .integer(Int64(limit))
            if estimate { members["estimate"] = .bool(true) }
        case .pullBatch(let records, let cursor, let more, let estimate):
            members["records"] = .array(records.map(\.jsonValue))
            members["cursor"] = .string(cursor)
            members["more"] = .bool(more)
            if let estimate { members["estimate"] = .integer(Int64(estimate)) }
        case .encodedPullBatch(let records, let cursor, let more, let estimate):
            members["records"] = .array(records.map { (try? JSONValue.parse(Array($0.utf8))) ?? .null })
            members["cursor"] = .string(cursor)
            members["more"] = .bool(more)
            if let estimate { members["estimate"] = .integer(Int64(estimate)) }
        case .watch(let cursor, let seconds):
            members["cursor"] = .string(cursor)
            members["seconds"] = .integer(Int64(seconds))
        case .attachmentOffer(let digest):
            members["digest"] = .string(digest)
        case .attachmentPut(let digest, let offset, let data):
            members["digest"] = .string(digest)
            members["offset"] = .integer(Int64(offset))
            members["data"] = .string(Data(data).base64EncodedString())
        case .attachmentAck(let digest, let size, let held, let complete):
            members["digest"] = .string(digest)
            members["size"] = .integer(Int64(size))
            members["held"] = .integer(Int64(held))
            members["complete"] = .bool(complete)
        case .attachmentGet(let digest, let offset):
            members["digest"] = .string(digest)
            members["offset"] = .integer(Int64(offset))
        case .attachmentData(let digest, let offset, let size, let data):
            members["digest"] = .string(digest)
            members["offset"] = .integer(Int64(offset))
            members["size"] = .integer(Int64(size))
            members["data"] = .string(Data(data).base64EncodedString())
        case .fetch(let ids):
            members["ids"] = .array(ids.map(JSONValue.string))
        case .fetched(let records, let missing):
            members["records"] = .array(records.map(\.jsonValue))
            members["missing"] = .array(missing.map(JSONValue.string))
        case .bye, .changed, .quiet:
            break
        case .error(let error):
            members["code"] = .string(error.code.rawValue)
            members["message"] = .string(error.message)
            members["retryable"] = .bool(error.code.isRetryable)
            if let recordID = error.recordID { members["recordId"] = .string(recordID) }
        }
        return .object(members)
    }

    /// The message's frame: compact JSON, without the newline.
    public func encoded() -> [UInt8] {
        switch self {
        case .encodedPush(let batch, let records):
            // Keys in the order the serializer sorts them, so the frame equals that of the decoded `push`.
            return Self.frame(prefix: "{\"batch\":\(batch),\"records\":[", records, suffix: "],\"type\":\"push\"}")
        case .encodedPullBatch(let records, let cursor, let more, let estimate):
            let estimateKey = estimate.map { "\"estimate\":\($0)," } ?? ""
            return Self.frame(
                prefix:
                    "{\"cursor\":\(JSONValue.string(cursor).serializedString),\(estimateKey)\"more\":\(more),\"records\":[",
                records,
                suffix: "],\"type\":\"pull-batch\"}"
            )
        default:
            return jsonValue.serialized()
        }
    }

    private static func frame(prefix: String, _ records: [String], suffix: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.utf8.count + suffix.utf8.count + records.reduce(0) { $0 + $1.utf8.count + 1 })
        bytes.append(contentsOf: prefix.utf8)
        for (index, record) in records.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: record.utf8)
        }
        bytes.append(contentsOf: suffix.utf8)
        return bytes
    }

    /// Decodes a frame.
    ///
    /// - Throws: ``ProtocolError`` with code `malformed-frame` naming what is wrong (not JSON, unknown `type`, a
    ///   missing or mistyped key), or `invalid-record` for a record that breaks the record invariants.
    public static func decode(_ frame: some Collection<UInt8>) throws -> SyncMessage {
        if let message = scanned(frame) { return message }
        let value: JSONValue
        do {
            value = try JSONValue.parse(frame)
        } catch let error as JSONError {
            throw ProtocolError(.malformedFrame, error.description)
        }
        return try decode(value)
    }

    /// A frame read straight from its bytes, its records without a JSON tree (most of a push's or a pull's
    /// decoding time); `nil` for a frame this reader does not take — anything unusual, anything wrong — which
    /// ``decode(_:)-(Collection<UInt8>)`` then reads through the tree, for the same verdict and error as always.
    public static func scanned(_ frame: some Collection<UInt8>) -> SyncMessage? {
        try? JSONScanner.scan(frame) { scanner -> SyncMessage? in
            guard scanner.consume(UInt8(ascii: "{")) else { return nil }
            var members: [String: JSONValue] = [:]
            var records: [VersionedRecord]?
            if !scanner.consume(UInt8(ascii: "}")) {
                repeat {
                    guard let key = try scanner.string(), members[key] == nil, scanner.consume(UInt8(ascii: ":"))
                    else { return nil }
                    if key == "records" {
                        guard scanner.consume(UInt8(ascii: "[")) else { return nil }
                        var read: [VersionedRecord] = []
                        if !scanner.consume(UInt8(ascii: "]")) {
                            repeat {
                                guard read.count < maximumBatchSize,
                                    let record = VersionedRecord.scanned(from: &scanner, depth: 3)
                                else { return nil }
                                read.append(record)
                            } while scanner.consume(UInt8(ascii: ","))
                            guard scanner.consume(UInt8(ascii: "]")) else { return nil }
                        }
                        records = read
                        members[key] = .array([])  // present; the records themselves are `records`
                    } else {
                        members[key] = try scanner.value(depth: 1)
                    }
                } while scanner.consume(UInt8(ascii: ","))
                guard scanner.consume(UInt8(ascii: "}")) else { return nil }
            }
            guard scanner.isAtEnd() else { return nil }
            return try decode(members, records: records)
        } ?? nil
    }

    /// Decodes a message from its JSON object.
    public static func decode(_ value: JSONValue) throws -> SyncMessage {
        guard case .object(let members) = value else {
            throw ProtocolError(.malformedFrame, "a frame is a JSON object, got \(value.typeName)")
        }
        return try decode(members, records: nil)
    }

    /// Decodes a message from its members; `records`, when given, are the `records` key's, already read.
    private static func decode(_ members: [String: JSONValue], records: [VersionedRecord]?) throws -> SyncMessage {
        let reader = MessageReader(members: members, records: records)
        let type = try reader.string("type")
        switch type {
        case "hello":
            return .hello(
                versions: try reader.array("versions").enumerated().map { index, element in
                    guard case .integer(let version) = element, let small = Int(exactly: version) else {
                        throw ProtocolError(.malformedFrame, "key 'versions[\(index)]': expected an integer")
                    }
                    return small
                },
                replicaID: try reader.string("replicaId"),
                storeID: try reader.string("storeId"),
                kioskID: try reader.string("kioskId"),
                nonce: try reader.optionalString("nonce"),
                capabilities: try reader.optionalStrings("capabilities")
            )
        case "challenge":
            return .challenge(
                version: try reader.int("version"),
                nonce: try reader.string("nonce"),
                serverID: try reader.string("serverId"),
                serverKey: try reader.optionalString("serverKey"),
                serverSignature: try reader.optionalString("serverSignature")
            )
        case "authenticate":
            return .authenticate(
                signature: try reader.string("signature"),
                publicKey: try reader.optionalString("publicKey"),
                tokenProof: try reader.optionalString("tokenProof")
            )
        case "welcome":
            return .welcome(
                replicaID: try reader.string("replicaId"),
                storeID: try reader.string("storeId"),
                serverTime: try reader.optionalInt("serverTime").map(Int64.init),
                capabilities: try reader.optionalStrings("capabilities")
            )
        case "push":
            return .push(batch: try reader.int("batch"), records: try reader.records("records"))
        case "push-ack":
            return .pushAck(
                batch: try reader.int("batch"),
                merged: try reader.int("merged"),
                unchanged: try reader.int("unchanged"),
                conflicts: try reader.array("conflicts").map { element in
                    guard case .string(let recordID)? = element["recordId"], case .string(let field)? = element["field"]
                    else { throw ProtocolError(.malformedFrame, "key 'conflicts': expected {recordId, field} objects") }
                    return RecordField(recordID: recordID, field: field)
                }
            )
        case "pull":
            return .pull(
                cursor: try reader.string("cursor"),
                limit: try reader.int("limit"),
                estimate: try reader.optionalBool("estimate") ?? false
            )
        case "pull-batch":
            return .pullBatch(
                records: try reader.records("records"),
                cursor: try reader.string("cursor"),
                more: try reader.bool("more"),
                estimate: try reader.optionalInt("estimate")
            )
        case "watch":
            return .watch(cursor: try reader.string("cursor"), seconds: try reader.int("seconds"))
        case "changed":
            return .changed
        case "quiet":
            return .quiet
        case "attachment-offer":
            return .attachmentOffer(digest: try reader.string("digest"))
        case "attachment-put":
            return .attachmentPut(
                digest: try reader.string("digest"),
                offset: try reader.int("offset"),
                data: try reader.base64("data")
            )
        case "attachment-ack":
            return .attachmentAck(
                digest: try reader.string("digest"),
                size: try reader.int("size"),
                held: try reader.int("held"),
                complete: try reader.bool("complete")
            )
        case "attachment-get":
            return .attachmentGet(digest: try reader.string("digest"), offset: try reader.int("offset"))
        case "attachment-data":
            return .attachmentData(
                digest: try reader.string("digest"),
                offset: try reader.int("offset"),
                size: try reader.int("size"),
                data: try reader.base64("data")
            )
        case "fetch":
            let ids = try reader.strings("ids")
            guard (1...maximumFetchIDs).contains(ids.count) else {
                throw ProtocolError(
                    .limitExceeded,
                    "key 'ids': \(ids.count) ids in one fetch: expected 1 to \(maximumFetchIDs)"
                )
            }
            return .fetch(ids: ids)
        case "fetched":
            return .fetched(records: try reader.records("records"), missing: try reader.strings("missing"))
        case "bye":
            return .bye
        case "error":
            let codeText = try reader.string("code")
            guard let code = ProtocolError.Code(rawValue: codeText) else {
                throw ProtocolError(.malformedFrame, "unknown error code '\(codeText)'")
            }
            var error = ProtocolError(code, try reader.string("message"))
            error.recordID = try reader.optionalString("recordId")
            return .error(error)
        default:
            throw ProtocolError(
                .malformedFrame,
                "unknown message type '\(type)': expected hello, challenge, authenticate, welcome, push, push-ack, "
                    + "pull, pull-batch, watch, changed, quiet, attachment-offer, attachment-put, attachment-ack, "
                    + "attachment-get, attachment-data, fetch, fetched, bye or error"
            )
        }
    }
}

/// Reads a message's keys with errors that name them.
private struct MessageReader {
    let members: [String: JSONValue]
    /// The `records` key's records when the frame's bytes were read without a tree.
    var records: [VersionedRecord]?

    func member(_ key: String) throws -> JSONValue {
        guard let value = members[key] else { throw ProtocolError(.malformedFrame, "missing key '\(key)'") }
        return value
    }

    func string(_ key: String) throws -> String {
        guard case .string(let text) = try member(key) else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected a string")
        }
        return text
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = members[key], value != .null else { return nil }
        guard case .string(let text) = value else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected a string")
        }
        return text
    }

    func int(_ key: String) throws -> Int {
        guard case .integer(let number) = try member(key), number >= 0, let value = Int(exactly: number) else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected a non-negative integer")
        }
        return value
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = members[key], value != .null else { return nil }
        guard case .bool(let flag) = value else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected true or false")
        }
        return flag
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = members[key], value != .null else { return nil }
        guard case .integer(let number) = value, number >= 0, let small = Int(exactly: number) else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected a non-negative integer")
        }
        return small
    }

    func bool(_ key: String) throws -> Bool {
        guard case .bool(let flag) = try member(key) else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected true or false")
        }
        return flag
    }

    /// Bytes in base64 (RFC 4648 §4, with padding); more than ``maximumAttachmentChunk`` of them is
    /// `limit-exceeded`, told before they are decoded.
    func base64(_ key: String) throws -> [UInt8] {
        let text = try string(key)
        guard text.utf8.count <= (maximumAttachmentChunk + 2) / 3 * 4 else {
            throw ProtocolError(
                .limitExceeded,
                "key '\(key)': about \(text.utf8.count / 4 * 3) bytes in one chunk: at most \(maximumAttachmentChunk)"
            )
        }
        guard let data = Data(base64Encoded: text) else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected base64")
        }
        guard data.count <= maximumAttachmentChunk else {
            throw ProtocolError(
                .limitExceeded,
                "key '\(key)': \(data.count) bytes in one chunk: at most \(maximumAttachmentChunk)"
            )
        }
        return Array(data)
    }

    /// An array of strings.
    func strings(_ key: String) throws -> [String] {
        try array(key).map { element in
            guard case .string(let text) = element else {
                throw ProtocolError(.malformedFrame, "key '\(key)': expected an array of strings")
            }
            return text
        }
    }

    /// An array of strings, or `nil` when absent (at most 64 of them: names of capabilities).
    func optionalStrings(_ key: String) throws -> [String]? {
        guard let value = members[key], value != .null else { return nil }
        let strings = try strings(key)
        guard strings.count <= 64 else {
            throw ProtocolError(.malformedFrame, "key '\(key)': \(strings.count) names: at most 64")
        }
        return strings
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard case .array(let elements) = try member(key) else {
            throw ProtocolError(.malformedFrame, "key '\(key)': expected an array")
        }
        return elements
    }

    func records(_ key: String) throws -> [VersionedRecord] {
        if let records, key == "records" { return records }
        let elements = try array(key)
        guard elements.count <= maximumBatchSize else {
            throw ProtocolError(
                .limitExceeded,
                "\(elements.count) records in one batch: at most \(maximumBatchSize) are allowed"
            )
        }
        return try elements.enumerated().map { index, element in
            do {
                return try VersionedRecord(jsonValue: element)
            } catch let error as SyncEngineError {
                throw ProtocolError(.invalidRecord, "key '\(key)[\(index)]': \(error.message)")
            }
        }
    }
}

/// The bytes the server signs to prove who it is (version 3): a fixed label, the kiosk's nonce, the server's nonce,
/// the server's id and the kiosk's replica id, one per line. The kiosk's nonce is fresh for every connection, so
/// a recorded challenge is useless to an impostor.
public func serverProofPayload(kioskNonce: String, serverNonce: String, serverID: String, replicaID: String) -> [UInt8]
{
    Array("returnsync-server-v3\n\(kioskNonce)\n\(serverNonce)\n\(serverID)\n\(replicaID)".utf8)
}

/// The bytes a kiosk signs to authenticate (version 3): a fixed label, both nonces, the kiosk's replica id and the
/// server's id, one per line. Binding the nonces (fresh per connection) makes a captured signature useless on any
/// other connection; binding both ids makes it useless for any other kiosk or server.
public func authenticationPayload(
    serverNonce: String,
    kioskNonce: String,
    replicaID: String,
    serverID: String
)
    -> [UInt8]
{
    Array("returnsync-auth-v3\n\(serverNonce)\n\(kioskNonce)\n\(replicaID)\n\(serverID)".utf8)
}

/// The bytes an enrolling kiosk signs with its token's key (version 3): a fixed label, both nonces, the ids and the
/// kiosk's new public key. It proves the kiosk holds the token without revealing it, and binds the token to this
/// connection and this key: nobody who sees the proof can enroll a key of their own with it.
public func enrollmentPayload(
    serverNonce: String,
    kioskNonce: String,
    replicaID: String,
    serverID: String,
    publicKey: String
) -> [UInt8] {
    Array("returnsync-enroll-v3\n\(serverNonce)\n\(kioskNonce)\n\(replicaID)\n\(serverID)\n\(publicKey)".utf8)
}
