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
    /// Loads returns from NDJSON — one ``ReturnDocument`` per line — in one transaction (a large load into a nearly
    /// empty kiosk builds most of the projection's query indexes in a second one after it: ReplicaStore+BulkLoad).
    ///
    /// A line with a `record` key (as `export` writes) is merged as it is, clocks and dots included, so importing
    /// an export is lossless and importing it twice changes nothing. A line without one is a return captured
    /// elsewhere: it becomes a new record written by this replica; `orderId`, `gtin` and `reason` are required,
    /// the other keys default as `kiosk record` would (`id` is generated, `storeId` and `kioskId` are this
    /// kiosk's), and its state must obey the lifecycle rules. Blank lines are skipped.
    ///
    /// Lines are prepared (parsed, validated, stamped, encoded) on a second thread while the transaction's thread
    /// stores the ones before them; preparation runs in line order with its own copy of the replica's clock, so
    /// stamps, ids and the line named in an error are exactly those of a one-line-at-a-time import.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/importRejected`` naming the first bad line and what is wrong
    ///   with it; nothing at all is stored then.
    /// - Parameter progress: called after each chunk of lines is stored, with the lines done and the lines in all
    ///   (for a progress display; the lines are counted first only when it is given).
    @discardableResult
    public func importReturns(
        ndjson data: Data,
        progress: ((_ linesDone: Int, _ linesTotal: Int) -> Void)? = nil
    ) throws -> ImportSummary {
        let totalLines = Self.lineCount(data)
        let summary: ImportSummary
        let deferredIndexes: Bool
        do {
            // A hand-over asked for by a transaction that then failed, or whose log stayed under the limit, is not
            // left for a later commit.
            defer { checkpointer.cancelHandOver() }
            (summary, deferredIndexes) = try importTransaction(data, totalLines: totalLines, progress)
        }
        if deferredIndexes {
            // The returns are imported and durable whatever happens here: an error building the indexes (a full
            // disk) is not the import's, and the next opening of the database builds them.
            _ = try? restoreDeferredIndexes()
            // The copy the checkpoint thread took over is over before the import returns, so that what comes next
            // (a sync, the command's exit) does not wait for it or run beside it.
            checkpointer.waitUntilIdle()
        }
        return summary
    }

    /// The one transaction of ``importReturns(ndjson:progress:)``: every line stored, or none; and whether it
    /// dropped the projection's query indexes for the caller to build.
    private func importTransaction(
        _ data: Data,
        totalLines: Int,
        _ progress: ((_ linesDone: Int, _ linesTotal: Int) -> Void)?
    ) throws -> (summary: ImportSummary, deferredIndexes: Bool) {
        try write { context in
            // A load's page cache for the transaction, then the connection's own again (a server's 64 MiB, which
            // an import used to leave at SQLite's default 2 MB).
            let restoreCache = try Self.enlargeCacheForLoad(context.db)
            defer { restoreCache() }
            // Into an empty (or nearly empty) kiosk, most of the projection's query indexes are built once at the end,
            // in a transaction of their own after this one (ReplicaStore+BulkLoad): dropped and noted in
            // `deferred_indexes` here, so a failed import rolls their drop back with the rest, and a process killed
            // after this commit has them built by the next opening of the database.
            let dropped =
                try bulkLoadPays(context.db, incoming: totalLines) && Self.deferIndexes(context.db, for: .import)

            let channel = ImportChannel(capacity: 4)
            defer { channel.cancel() }  // lets the preparing thread exit if storing stops early
            let start = (hlc: context.hlc, wallClock: context.wallClock, recalls: try context.openRecalls())
            DispatchQueue.global().async { [self] in
                prepareLines(
                    of: data,
                    startingWith: start.hlc,
                    wallClock: start.wallClock,
                    recalls: start.recalls,
                    into: channel
                )
            }

            var summary = ImportSummary(imported: 0, unchanged: 0)
            // New records written many to a statement (``WriteContext/NewRecords``), chunk by chunk.
            context.newRecords = WriteContext.NewRecords()
            while let chunk = channel.receive() {
                for line in chunk {
                    do {
                        switch line.work {
                        case .failure(let error):
                            throw error
                        case .create(let write, let givenID):
                            // A generated id is new by construction; a given one may already be stored.
                            if givenID, try context.load(entityType: write.entityType, id: write.id) != nil {
                                throw ReplicaStoreError(
                                    code: .importRejected,
                                    message: "return \(write.id) already exists"
                                )
                            }
                            // Checked above, or new by construction: nothing is replaced.
                            try context.store(
                                write,
                                origin: .import,
                                operation: nil,
                                replacing: .nothing
                            )
                            summary.imported += 1
                        case .merge(let record, let item):
                            if try context.merge(record, item: item, origin: .import).changed {
                                summary.imported += 1
                            } else {
                                summary.unchanged += 1
                            }
                        }
                    } catch {
                        throw ReplicaStoreError(
                            code: .importRejected,
                            message: "line \(line.number): \(error); nothing was imported"
                        )
                    }
                }
                // Chunk by chunk: writing them all at the end would hold every record until the last line is read,
                // and write them while the reading thread has nothing left to do beside it.
                try context.writeNewRecords()
                if let progress, let last = chunk.last { progress(last.number, max(totalLines, last.number)) }
                channel.giveBack(chunk)
            }
            try context.writeNewRecords()
            context.newRecords = nil
            if let prepared = channel.finalClock { context.hlc.witness(prepared.latest) }
            // The log of a large import passes the checkpoint's hard limit at this commit: the checkpoint thread
            // copies it into the database while this thread builds the indexes, instead of one after the other
            // (the tail of an import, BENCHMARKS.md, issue 18, thirty-third part). The indexes' commit copies what
            // is left, so the import still returns with its log copied.
            if dropped { checkpointer.handNextLargeCommitToThread() }
            return (summary, dropped)
        }
    }

    /// The lines of `data`, a last one without its newline included (blank ones too: an upper bound of the
    /// returns it holds).
    static func lineCount(_ data: Data) -> Int {
        data.withUnsafeBytes { bytes in
            var count = 0
            for byte in bytes where byte == UInt8(ascii: "\n") { count += 1 }
            return count + (bytes.last.map { $0 == UInt8(ascii: "\n") ? 0 : 1 } ?? 0)
        }
    }

    /// One prepared line of an import.
    struct PreparedLine: Sendable {
        enum Work: Sendable {
            /// A new return, encoded and ready to store.
            case create(PreparedWrite, givenID: Bool)
            /// A record to merge, with the return it holds: boxed, as `indirect`, so that a line is a few words
            /// rather than the size of a whole return, which every line of an import (nearly all `create`) was
            /// copied at, in and out of its chunk (issue 18, thirty-fourth part).
            indirect case merge(VersionedRecord, ProductReturn)
            /// The line is bad; storing stops here.
            case failure(any Error)
        }

        let number: Int
        let work: Work
    }

    /// Parses, validates, stamps and encodes every line in order, sending them in chunks; stops at the first bad
    /// line, or when the channel is cancelled.
    private func prepareLines(
        of data: Data,
        startingWith clock: HybridLogicalClock,
        wallClock: Date,
        recalls: [RecallCampaign],
        into channel: ImportChannel
    ) {
        var hlc = clock
        var random = BatchedSystemRandomNumberGenerator()
        var chunk: [PreparedLine] = []
        chunk.reserveCapacity(ImportChannel.chunkSize)
        var lineNumber = 0
        var stopped = false
        data.forEachLine { line in
            guard !stopped else { return }
            lineNumber += 1
            guard line.contains(where: { !Self.isJSONWhitespace($0) }) else { return }
            let work: PreparedLine.Work
            do {
                work = try prepareLine(line, hlc: &hlc, random: &random, wallClock: wallClock, recalls: recalls)
            } catch {
                work = .failure(error)
                stopped = true
            }
            chunk.append(PreparedLine(number: lineNumber, work: work))
            if chunk.count == ImportChannel.chunkSize || stopped {
                channel.freeSpent()
                if !channel.send(chunk) { stopped = true }
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty { _ = channel.send(chunk) }
        channel.finish(clock: hlc)
    }

    private func prepareLine(
        _ line: Data,
        hlc: inout HybridLogicalClock,
        random: inout BatchedSystemRandomNumberGenerator,
        wallClock: Date,
        recalls: [RecallCampaign]
    ) throws -> PreparedLine.Work {
        // A flat line is read from its bytes; anything else through the tree, which names what is wrong with it.
        let document = try ReturnDocument.scanned(line) ?? ReturnDocument(jsonValue: JSONValue.parse(line))
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
            if let stamp = record.latestStamp {
                try HybridLogicalClock.checkDrift(stamp, wallClock: UInt64(max(0, wallClock.millisecondsSince1970)))
                hlc.witness(stamp)
            }
            return .merge(record, item)
        }
        let stamp = try hlc.tick(wallClock: UInt64(max(0, wallClock.millisecondsSince1970)))
        let generatedID = ReturnID.make(milliseconds: stamp.physical, sequence: stamp.logical, using: &random)
        let item = try makeReturn(from: document, id: generatedID, at: wallClock, recalls: recalls)
        let violations = ReturnRules.violations(of: item)
        guard violations.isEmpty else {
            throw ReplicaStoreError(
                code: .importRejected,
                message: "return \(item.id) breaks a lifecycle rule: \(violations.joined(separator: "; "))"
            )
        }
        // Encoded here rather than on the storing thread (measured, that thread was the busier one). A kiosk needs
        // only the record's JSON, written straight from the return (issue 18, thirty-second part); a server keeps
        // the record for the steps it supersedes.
        if identity.role != .server {
            let json = ReturnEntity.creationJSON(for: item, by: identity.replicaID, stamp: stamp)
            return .create(PreparedWrite(created: item, json: json, stamp: stamp), givenID: document.id != nil)
        }
        let record = try ReturnEntity.makeRecord(for: item, by: identity.replicaID, stamp: stamp)
        return .create(try PreparedWrite(record, item: item), givenID: document.id != nil)
    }

    private func makeReturn(
        from document: ReturnDocument,
        id generatedID: ReturnID,
        at now: Date,
        recalls: [RecallCampaign]
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
        let gtin = try GTIN(required(document.gtin, "gtin"))
        let serial = try document.serial.map { try ItemCode($0, kind: "serial") }
        let lot = try document.lot.map { try ItemCode($0, kind: "lot") }
        // A line that says its recall status keeps it; any other is checked against the open campaigns, as a
        // capture at this kiosk would be.
        let stated = try document.recallCampaign.map { campaign in
            (campaign, try RecallCampaign.Match.parse(document.recallMatch ?? RecallCampaign.Match.certain.rawValue))
        }
        let recall =
            stated ?? recalls.firstMatch(gtin: gtin, lot: lot, serial: serial).map { ($0.campaign.id, $0.match) }
        let certain = recall?.1 == .certain && stated == nil
        return try ProductReturn(
            id: document.id.map(ReturnID.init) ?? generatedID,
            storeID: storeID,
            kioskID: kioskID,
            orderID: OrderID(required(document.orderId, "orderId")),
            gtin: gtin,
            serial: serial,
            lot: lot,
            expiry: try document.expiry.map(ReturnDates.validatedDay),
            recallCampaign: recall?.0,
            recallMatch: recall?.1,
            quantity: document.quantity ?? 1,
            reason: certain ? .recall : ReturnReason.parse(required(document.reason, "reason")),
            status: document.status.map(ReturnStatus.parse) ?? .received,
            condition: document.condition.map(ItemCondition.parse) ?? .unknown,
            testResult: document.testResult.map(TestResult.parse) ?? .notTested,
            disposition: document.disposition.map(Disposition.parse) ?? (certain ? .quarantine : .undecided),
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
}

/// Carries prepared chunks of an import from the preparing thread to the transaction's thread: a bounded queue,
/// so preparation runs at most a few chunks ahead and memory stays flat.
///
/// `@unchecked Sendable`: every stored property is read and written only with `condition` locked.
final class ImportChannel: @unchecked Sendable {
    static let chunkSize = 512

    private let condition = NSCondition()
    private let capacity: Int
    private var queue: [[ReplicaStore.PreparedLine]] = []
    /// Chunks the storing thread is done with, freed by the preparing thread, which made them, before it sends the
    /// next: freed where they were stored, their records, dictionaries and strings were about a quarter of the storing
    /// thread — the import's bound — and the two threads contended for the allocator's lock (issue 18, thirtieth
    /// part). The last few chunks, stored after the preparing thread has finished, are freed where they were stored.
    private var spent: [[ReplicaStore.PreparedLine]] = []
    private var finished = false
    private var cancelled = false
    private var clock: HybridLogicalClock?

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues a chunk, waiting while the queue is full; `false` once the receiver has gone.
    func send(_ chunk: [ReplicaStore.PreparedLine]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        queue.append(chunk)
        condition.broadcast()
        return true
    }

    /// Hands back a chunk the storing thread has stored, for the preparing thread to free; kept only while that
    /// thread may still send.
    func giveBack(_ chunk: [ReplicaStore.PreparedLine]) {
        condition.lock()
        defer { condition.unlock() }
        if !finished && !cancelled { spent.append(chunk) }
    }

    /// Frees, on the calling thread (the preparing one), the chunks handed back since its last call.
    func freeSpent() {
        let chunks = takeSpent()
        withExtendedLifetime(chunks) {}  // released here, after the lock is let go
    }

    private func takeSpent() -> [[ReplicaStore.PreparedLine]] {
        condition.lock()
        defer { condition.unlock() }
        defer { spent = [] }
        return spent
    }

    /// Marks the end of the lines, with the preparing thread's clock after the last one.
    func finish(clock: HybridLogicalClock) {
        condition.lock()
        self.clock = clock
        finished = true
        condition.broadcast()
        condition.unlock()
        freeSpent()  // the last handed back: none is kept once finished
    }

    /// The next chunk, waiting for it; `nil` after the last one.
    func receive() -> [ReplicaStore.PreparedLine]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !finished { condition.wait() }
        guard !queue.isEmpty else { return nil }
        condition.broadcast()
        return queue.removeFirst()
    }

    /// Stops the sender; chunks not yet received are dropped.
    func cancel() {
        condition.lock()
        defer { condition.unlock() }
        cancelled = true
        queue.removeAll()
        condition.broadcast()
    }

    /// The preparing thread's clock, once it has finished.
    var finalClock: HybridLogicalClock? {
        condition.lock()
        defer { condition.unlock() }
        return clock
    }
}

extension Data {
    /// Calls `body` with each line (without its `\n`), the last one even without a final newline.
    func forEachLine(_ body: (Data) throws -> Void) rethrows {
        try withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                // memchr: Data's generic firstIndex(of:) showed up in import profiles.
                let newline = memchr(base + offset, 0x0A, raw.count - offset)
                let end = newline.map { base.distance(to: UnsafeRawPointer($0)) } ?? raw.count
                try body(self[(startIndex + offset)..<(startIndex + end)])
                offset = end + 1
            }
        }
    }
}
