import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What staff capture at the kiosk when a customer brings a product back.
public struct ReturnCapture: Hashable, Sendable {
    public var orderID: OrderID
    public var gtin: GTIN
    public var reason: ReturnReason
    public var serial: ItemCode?
    public var lot: ItemCode?
    /// `YYYY-MM-DD`, from a GS1 scan.
    public var expiry: String?
    public var quantity: Int
    public var note: String?
    /// Whether the customer showed a receipt.
    public var receipt: Bool
    /// Who captured it, recorded with the creating write; `nil`: not said.
    public var operatorID: OperatorID?
    /// The customer's reference, as stored (given or hashed); `nil`: none.
    public var customerRef: CustomerReference?

    /// Creates a capture.
    public init(
        orderID: OrderID,
        gtin: GTIN,
        reason: ReturnReason,
        serial: ItemCode? = nil,
        lot: ItemCode? = nil,
        expiry: String? = nil,
        quantity: Int = 1,
        note: String? = nil,
        receipt: Bool = true,
        operatorID: OperatorID? = nil,
        customerRef: CustomerReference? = nil
    ) {
        self.orderID = orderID
        self.gtin = gtin
        self.reason = reason
        self.serial = serial
        self.lot = lot
        self.expiry = expiry
        self.quantity = quantity
        self.note = note
        self.receipt = receipt
        self.operatorID = operatorID
        self.customerRef = customerRef
    }
}

extension ReplicaStore {
    /// Records a newly captured return at this kiosk and returns it.
    ///
    /// - Throws: ``ReturnsModelError`` for a bad quantity or note; ``ReplicaStoreError`` when this replica is not
    ///   a kiosk, or SQLite fails. Nothing is stored on error.
    public func recordReturn(_ capture: ReturnCapture) throws -> ProductReturn {
        guard let storeID = identity.storeID, let kioskID = identity.kioskID else {
            throw ReplicaStoreError(
                code: .wrongStore,
                message: "replica '\(identity.replicaID)' is not a kiosk: returns are captured at a store's kiosk"
            )
        }
        if let note = capture.note { try ReturnNote.validate(note) }
        return try write { context in
            let (id, stamp) = try context.makeReturnID()
            let createdAt = Date(millisecondsSince1970: Int64(stamp.physical))
            // A unit under an open recall is flagged at capture: a certain match is a recall return, quarantined
            // at once; an uncertain one (lot or serial unknown) is held for inspection.
            let recall = try context.openRecalls().firstMatch(
                gtin: capture.gtin,
                lot: capture.lot,
                serial: capture.serial
            )
            func makeItem(
                _ verification: PurchaseVerification? = nil,
                _ exceptions: [ReturnException] = []
            ) throws -> ProductReturn {
                try ProductReturn(
                    id: id,
                    storeID: storeID,
                    kioskID: kioskID,
                    orderID: capture.orderID,
                    gtin: capture.gtin,
                    serial: capture.serial,
                    lot: capture.lot,
                    expiry: capture.expiry,
                    recallCampaign: recall?.campaign.id,
                    recallMatch: recall?.match,
                    quantity: capture.quantity,
                    reason: recall?.match == .certain ? .recall : capture.reason,
                    disposition: recall?.match == .certain ? .quarantine : .undecided,
                    receipt: capture.receipt,
                    customerRef: capture.customerRef,
                    verification: verification,
                    exceptions: exceptions,
                    createdAt: createdAt
                )
            }
            // Verified offline against the orders and policies of the last sync; HQ checks again after sync.
            let (verification, exceptions) = try context.verify(ReturnFacts(makeItem()))
            var item = try makeItem(verification, exceptions)
            if let note = capture.note {
                try item.addNote(note, by: context.replicaID.rawValue, at: createdAt)
            }
            let record = try ReturnEntity.makeRecord(
                for: item,
                by: context.replicaID,
                stamp: stamp,
                operatorID: capture.operatorID
            )
            try context.save(record, origin: .local, operation: "record")
            return try ProductReturn(record: record)
        }
    }

    /// Runs a lifecycle operation on a stored return as one local edit, and returns the return as it now is.
    ///
    /// ```swift
    /// try store.updateReturn(id, operation: "inspect") { item, author, date in
    ///     try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
    /// }
    /// ```
    ///
    /// - Parameter operation: the operation's name, for the change log.
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id, ``ReturnsModelError`` when
    ///   the lifecycle rules refuse. Nothing is stored on error.
    @discardableResult
    public func updateReturn(
        _ id: ReturnID,
        operation: String,
        operatorID: OperatorID? = nil,
        _ body: (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) throws -> ProductReturn {
        try write { context in
            guard var record = try context.load(entityType: ReturnEntity.entityType, id: id.rawValue) else {
                throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)")
            }
            let before = record
            let stamp = try context.stamp()
            try record.updateReturn(by: context.replicaID, stamp: stamp, operatorID: operatorID, body)
            let item = try ProductReturn(record: record)
            try context.save(
                record,
                origin: .local,
                operation: operation,
                item: item,
                replacing: .version(before)
            )
            guard identity.role == .server else { return item }
            // An HQ edit (a void, say) can change what other returns of the purchase verify as.
            try context.reverifySharingPurchase(with: [ReturnFacts(item)])
            return try ProductReturn(record: context.load(entityType: ReturnEntity.entityType, id: id.rawValue)!)
        }
    }

    /// The stored record of a return.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id.
    public func returnRecord(_ id: ReturnID) throws -> VersionedRecord {
        guard let record = try record(entityType: ReturnEntity.entityType, id: id.rawValue) else {
            throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)")
        }
        return record
    }

    /// The stored version of any record, or `nil`.
    public func record(entityType: String, id: String) throws -> VersionedRecord? {
        let json = try read { db in
            try String.fetchOne(
                db,
                sql: "SELECT record FROM records WHERE entity_type = ? AND id = ?",
                arguments: [entityType, id]
            )
        }
        return try json.map(Self.decodeRecord)
    }

    /// The stored records of returns matching the filters, oldest first.
    public func returnRecords(
        status: ReturnStatus? = nil,
        reason: ReturnReason? = nil,
        store: StoreID? = nil
    ) throws -> [VersionedRecord] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let store {
            conditions.append("r.store_id = ?")
            arguments += [store.rawValue]
        }
        if let status {
            conditions.append("r.status = ?")
            arguments += [status.rawValue]
        }
        if let reason {
            conditions.append("r.reason = ?")
            arguments += [reason.rawValue]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let rows = try read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT rec.record FROM returns r
                    JOIN records rec ON rec.entity_type = 'return' AND rec.id = r.id
                    \(filter) ORDER BY r.created_at, r.id
                    """,
                arguments: arguments
            )
        }
        return try rows.map(Self.decodeRecord)
    }

    /// Merges a version received from a peer (or an import), auditing any conflict it brings.
    ///
    /// Receiving a version already known changes nothing. A recall campaign that arrives or changes flags the
    /// returns held here that it covers (``ProductReturn/flagRecall(_:by:at:)``), in the same transaction.
    @discardableResult
    public func merge(_ remote: VersionedRecord, origin: ChangeOrigin = .merge) throws -> MergeOutcome {
        try write { context in
            let outcome = try context.merge(remote, origin: origin)
            if outcome.changed, remote.entityType == RecallEntity.entityType {
                try context.flagReturns(underMerged: [remote.id])
            }
            return outcome
        }
    }
}

/// A store a return is edited in: a kiosk's, or HQ's on either server backend. Each edit is one local edit under the
/// store's replica id, durable when it returns.
public protocol ReturnEditing: Sendable {
    /// Runs a lifecycle operation on a stored return as one edit, and returns the return as it now is.
    ///
    /// - Parameter operation: the operation's name, for the change log.
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id, ``ReturnsModelError`` when the
    ///   lifecycle rules refuse. Nothing is stored on error.
    func editReturn(
        _ id: ReturnID,
        operation: String,
        operatorID: OperatorID?,
        _ body: @escaping @Sendable (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) async throws -> ProductReturn

    /// The ids of the returns held whose id starts with `prefix` (canonical text), in order, at most `limit`: what
    /// ``resolveReturnID(_:)`` turns a short id into.
    func returnIDs(withPrefix prefix: String, limit: Int) async throws -> [ReturnID]

    /// What decides a stored return's refund here: its order line's price and currency, the policy's fee.
    func refundTerms(of id: ReturnID) async throws -> RefundTerms
}

extension ReplicaStore: ReturnEditing {
    public func editReturn(
        _ id: ReturnID,
        operation: String,
        operatorID: OperatorID?,
        _ body: @escaping @Sendable (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) async throws -> ProductReturn {
        try updateReturn(id, operation: operation, operatorID: operatorID, body)
    }
}

extension ReturnEditing {
    /// Runs a lifecycle operation as one edit with no operator recorded.
    public func editReturn(
        _ id: ReturnID,
        operation: String,
        _ body: @escaping @Sendable (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) async throws -> ProductReturn {
        try await editReturn(id, operation: operation, operatorID: nil, body)
    }

    /// This store with every edit made through it recorded as `operatorID`'s (`nil`: as it is).
    public func operated(by operatorID: OperatorID?) -> any ReturnEditing {
        guard let operatorID else { return self }
        return OperatedStore(base: self, operatorID: operatorID)
    }
}

/// A store whose edits record an operator: what the command lines hand to the edits they share.
struct OperatedStore: ReturnEditing {
    let base: any ReturnEditing
    let operatorID: OperatorID

    func editReturn(
        _ id: ReturnID,
        operation: String,
        operatorID: OperatorID?,
        _ body: @escaping @Sendable (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) async throws -> ProductReturn {
        try await base.editReturn(id, operation: operation, operatorID: operatorID ?? self.operatorID, body)
    }

    func returnIDs(withPrefix prefix: String, limit: Int) async throws -> [ReturnID] {
        try await base.returnIDs(withPrefix: prefix, limit: limit)
    }

    func refundTerms(of id: ReturnID) async throws -> RefundTerms { try await base.refundTerms(of: id) }
}
