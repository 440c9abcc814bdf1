import Foundation
import GRDB
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What an import did.
public struct ImportSummary: Hashable, Sendable {
    /// Returns created or changed by the import.
    public var imported: Int
    /// Lines whose record this replica already knew: nothing to do.
    public var unchanged: Int

    /// Creates a summary.
    public init(imported: Int, unchanged: Int) {
        self.imported = imported
        self.unchanged = unchanged
    }
}

extension ReplicaStore {
    /// Loads returns from NDJSON — one ``ReturnDocument`` per line — in one transaction.
    ///
    /// A line with a `record` key (as `export` writes) is merged as it is, clocks and dots included, so importing
    /// an export is lossless and importing it twice changes nothing. A line without one is a return captured
    /// elsewhere: it becomes a new record written by this replica; `orderId`, `gtin` and `reason` are required,
    /// the other keys default as `kiosk record` would (`id` is generated, `storeId` and `kioskId` are this
    /// kiosk's), and its state must obey the lifecycle rules. Blank lines are skipped.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/importRejected`` naming the first bad line and what is wrong
    ///   with it; nothing at all is stored then.
    @discardableResult
    public func importReturns(ndjson data: Data) throws -> ImportSummary {
        try write { context in
            // A large import dirties far more pages than SQLite's default 2 MB cache holds; spilling them to the
            // WAL mid-transaction and reading them back costs more than the inserts themselves.
            try context.db.execute(sql: "PRAGMA cache_size = -131072")
            defer { try? context.db.execute(sql: "PRAGMA cache_size = -2000") }
            var summary = ImportSummary(imported: 0, unchanged: 0)
            var lineNumber = 0
            try data.forEachLine { line in
                lineNumber += 1
                guard line.contains(where: { !Self.isJSONWhitespace($0) }) else { return }
                do {
                    let document = try ReturnDocument(jsonValue: JSONValue.parse(line))
                    if try importDocument(document, context: &context) {
                        summary.imported += 1
                    } else {
                        summary.unchanged += 1
                    }
                } catch {
                    throw ReplicaStoreError(
                        code: .importRejected,
                        message: "line \(lineNumber): \(Self.describe(error)); nothing was imported"
                    )
                }
            }
            return summary
        }
    }

    /// Imports one document; returns whether it changed anything.
    private func importDocument(_ document: ReturnDocument, context: inout WriteContext) throws -> Bool {
        if let record = document.record {
            guard record.entityType == ReturnEntity.entityType else {
                throw ReplicaStoreError(
                    code: .importRejected,
                    message: "record '\(record.id)' is a \(record.entityType), not a return"
                )
            }
            let item = try ProductReturn(record: record)
            try requireOwnStore(item.storeID)
            try checkConsistency(document, with: item)
            return try context.merge(record, origin: .import).changed
        }
        let (generatedID, stamp) = context.makeReturnID()
        let item = try makeReturn(from: document, id: generatedID, at: context.wallClock)
        // A generated id is new by construction; a given one may already be stored.
        if document.id != nil, try context.load(entityType: ReturnEntity.entityType, id: item.id.rawValue) != nil {
            throw ReplicaStoreError(code: .importRejected, message: "return \(item.id) already exists")
        }
        let violations = ReturnRules.violations(of: item)
        guard violations.isEmpty else {
            throw ReplicaStoreError(
                code: .importRejected,
                message: "return \(item.id) breaks a lifecycle rule: \(violations.joined(separator: "; "))"
            )
        }
        let record = try ReturnEntity.makeRecord(for: item, by: context.replicaID, stamp: stamp)
        let dot = try Dot(replica: context.replicaID, counter: record.clock[context.replicaID])
        try context.save(record, origin: .import, operation: "import", dot: dot, item: item)
        return true
    }

    private func makeReturn(
        from document: ReturnDocument,
        id generatedID: ReturnID,
        at now: Date
    ) throws -> ProductReturn {
        func required(_ value: String?, _ key: String) throws -> String {
            guard let value else {
                throw ReplicaStoreError(code: .importRejected, message: "missing key '\(key)'")
            }
            return value
        }
        let storeID = try document.storeId.map(StoreID.init) ?? identity.storeID
        guard let storeID else { throw ReplicaStoreError(code: .importRejected, message: "missing key 'storeId'") }
        try requireOwnStore(storeID)
        let kioskID = try document.kioskId.map(KioskID.init) ?? identity.kioskID
        guard let kioskID else { throw ReplicaStoreError(code: .importRejected, message: "missing key 'kioskId'") }
        let createdAt = document.createdAt ?? now
        let notes = try (document.notes ?? []).map {
            try ReturnNote(text: $0.text, author: identity.replicaID.rawValue, createdAt: $0.createdAt ?? createdAt)
        }
        return try ProductReturn(
            id: document.id.map(ReturnID.init) ?? generatedID,
            storeID: storeID,
            kioskID: kioskID,
            orderID: OrderID(required(document.orderId, "orderId")),
            gtin: GTIN(required(document.gtin, "gtin")),
            serial: document.serial.map { try ItemCode($0, kind: "serial") },
            lot: document.lot.map { try ItemCode($0, kind: "lot") },
            quantity: document.quantity ?? 1,
            reason: ReturnReason.parse(required(document.reason, "reason")),
            status: document.status.map(ReturnStatus.parse) ?? .received,
            condition: document.condition.map(ItemCondition.parse) ?? .unknown,
            testResult: document.testResult.map(TestResult.parse) ?? .notTested,
            disposition: document.disposition.map(Disposition.parse) ?? .undecided,
            notes: notes,
            createdAt: createdAt
        )
    }

    /// A kiosk holds its own store's returns only; the server holds every store's.
    func requireOwnStore(_ storeID: StoreID) throws {
        if let own = identity.storeID, own != storeID {
            throw ReplicaStoreError(
                code: .wrongStore,
                message: "return belongs to store '\(storeID)', but this kiosk is in store '\(own)'"
            )
        }
    }

    /// A line that carries a record must not say something else in its visible keys: the record is authoritative,
    /// and silently ignoring an edited key would lose what its editor meant.
    private func checkConsistency(_ document: ReturnDocument, with item: ProductReturn) throws {
        let pairs: [(String, String?, String)] = [
            ("id", document.id, item.id.rawValue),
            ("storeId", document.storeId, item.storeID.rawValue),
            ("kioskId", document.kioskId, item.kioskID.rawValue),
            ("orderId", document.orderId, item.orderID.rawValue),
            ("gtin", try document.gtin.map { try GTIN($0).digits }, item.gtin.digits),
            ("quantity", document.quantity.map(String.init), String(item.quantity)),
            ("reason", document.reason, item.reason.rawValue),
            ("status", document.status, item.status.rawValue),
            ("condition", document.condition, item.condition.rawValue),
            ("testResult", document.testResult, item.testResult.rawValue),
            ("disposition", document.disposition, item.disposition.rawValue),
        ]
        for (key, given, recorded) in pairs {
            if let given, given != recorded {
                throw ReplicaStoreError(
                    code: .importRejected,
                    message: "'\(key)' is '\(given)' but the line's record says '\(recorded)'"
                )
            }
        }
    }

    /// Writes every return as NDJSON, one ``ReturnDocument`` with its full `record` per line, ordered by id, from
    /// one consistent snapshot. Returns how many it wrote.
    @discardableResult
    public func exportReturns(to write: (Data) throws -> Void) throws -> Int {
        try read { db in
            var count = 0
            var buffer: [UInt8] = []
            let cursor = try String.fetchCursor(
                db,
                sql: "SELECT record FROM records WHERE entity_type = ? ORDER BY id",
                arguments: [ReturnEntity.entityType]
            )
            while let json = try cursor.next() {
                let record = try Self.decodeRecord(json)
                try ReturnDocument(record: record, includeRecord: true).jsonValue.write(into: &buffer)
                buffer.append(UInt8(ascii: "\n"))
                count += 1
                if buffer.count >= 1 << 20 {
                    try write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if !buffer.isEmpty { try write(Data(buffer)) }
            return count
        }
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// A one-line description of an import failure.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as JSONError:
            return error.description
        case let error as DecodingError:
            switch error {
            case .dataCorrupted(let context):
                let path = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }
                let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
                let detail = underlying ?? context.debugDescription
                return path.isEmpty || detail.contains("key '")
                    ? (path.isEmpty && detail.contains("not valid JSON") ? "not valid JSON" : detail)
                    : "key '\(path.joined(separator: "."))': \(detail)"
            case .keyNotFound(let key, let context):
                let path = (context.codingPath + [key]).map(\.stringValue)
                return "missing key '\(path.joined(separator: "."))'"
            case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                return "key '\(path)': expected \(Self.jsonTypeName(type))"
            @unknown default:
                return "\(error)"
            }
        default:
            return "\(error)"
        }
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is UInt64.Type, is Int64.Type, is UInt32.Type: return "an integer"
        case is Bool.Type: return "true or false"
        default: return "a value of another type"
        }
    }
}

extension Data {
    /// Calls `body` with each line (without its `\n`), the last one even without a final newline.
    func forEachLine(_ body: (Data) throws -> Void) throws {
        var start = startIndex
        while start < endIndex {
            let end = self[start...].firstIndex(of: UInt8(ascii: "\n")) ?? endIndex
            try body(self[start..<end])
            start = end < endIndex ? index(after: end) : endIndex
        }
    }
}
