import Foundation
import ReturnsModel
import SyncEngine

/// How a return is stored as a replicated record: its field names, value encodings and merge policies.
///
/// Every field is a register except `notes`, a grow-only set. Field names are the camelCase keys of the JSON form.
/// `updatedAt` is not stored: it is the newest stamp in the record, so concurrent edits never conflict on it.
public enum ReturnEntity {
    /// The entity type of return records.
    public static let entityType = "return"

    /// Field names.
    public enum Field {
        public static let storeID = "storeId"
        public static let kioskID = "kioskId"
        public static let orderID = "orderId"
        public static let gtin = "gtin"
        public static let serial = "serial"
        public static let lot = "lot"
        /// `YYYY-MM-DD`, from a GS1 scan; absent when unknown.
        public static let expiry = "expiry"
        /// The recall campaign matched at capture, or found later; absent when none. Written with `recallMatch`.
        public static let recallCampaign = "recallCampaign"
        /// `certain` or `uncertain`; absent when no campaign matched.
        public static let recallMatch = "recallMatch"
        /// The repair record: each edit writes all four, so the visible ones (latest write) belong together.
        public static let repairVendor = "repairVendor"
        public static let repairStatus = "repairStatus"
        public static let repairSentOn = "repairSentOn"
        public static let repairBackOn = "repairBackOn"
        /// The custody hand-off, written together like the repair fields.
        public static let handoffParty = "handoffParty"
        public static let handoffDocument = "handoffDocument"
        public static let handoffWeightGrams = "handoffWeightGrams"
        public static let handoffCount = "handoffCount"
        public static let handoffOn = "handoffOn"
        /// The refund, written together once: amount and fee in minor units of the currency, the method, an
        /// exchange's replacement GTIN, and why the amount differs from the computed one.
        public static let refundAmount = "refundAmount"
        public static let refundFee = "refundFee"
        public static let refundCurrency = "refundCurrency"
        public static let refundMethod = "refundMethod"
        public static let refundExchangeGTIN = "refundExchangeGtin"
        public static let refundReason = "refundReason"
        /// The replica that decided the refund: two refunds of one return always conflict here.
        public static let refundBy = "refundBy"
        /// The vendor RMA and its shipment, written together.
        public static let rmaNumber = "rmaNumber"
        public static let rmaCarrier = "rmaCarrier"
        public static let rmaTracking = "rmaTracking"
        public static let rmaShippedOn = "rmaShippedOn"
        /// The vendor's credit, written together: minor units, currency, day received.
        public static let vendorCreditAmount = "vendorCreditAmount"
        public static let vendorCreditCurrency = "vendorCreditCurrency"
        public static let vendorCreditOn = "vendorCreditOn"
        /// The customer's reference, as given or hashed (written at capture); absent when none was given.
        public static let customerRef = "customerRef"
        /// `false` when the customer had no receipt; absent means a receipt was shown.
        public static let receipt = "receipt"
        /// A ``PurchaseVerification`` spelling: the kiosk's at capture, HQ's after sync.
        public static let verification = "verification"
        /// Comma-separated ``ReturnException`` spellings; absent or empty: none.
        public static let exceptions = "exceptions"
        /// HQ's review: outcome, note and the exceptions it covered, written together.
        public static let reviewOutcome = "reviewOutcome"
        public static let reviewNote = "reviewNote"
        public static let reviewExceptions = "reviewExceptions"
        public static let quantity = "quantity"
        public static let reason = "reason"
        public static let status = "status"
        public static let condition = "condition"
        public static let testResult = "testResult"
        public static let disposition = "disposition"
        /// Milliseconds since the Unix epoch.
        public static let createdAt = "createdAt"
        /// The grow-only set of note texts; each element's dot and stamp say who added it and when.
        public static let notes = "notes"
        /// The grow-only set of the operators who made the edits: each edit an operator made adds their id, tagged
        /// with the edit's own dot — which replica, which write, when.
        public static let editors = "editors"
        /// Photos and documents: a grow-only set of ``Attachment/element`` texts, each tagged with the write that
        /// added it (who and when).
        public static let attachments = "attachments"
    }

    /// The domain's conflict policies.
    ///
    /// - status shows the furthest stage of the lifecycle, voided over all;
    /// - disposition resolves safety-first: quarantine > dispose > recycle > return-to-vendor > repair >
    ///   repackage > restock > undecided;
    /// - every other field shows the value with the latest hybrid logical clock stamp.
    public static let policy = EntityPolicy(
        defaultPolicy: .latestStamp,
        fieldPolicies: [
            Field.status: .ranked(ReturnStatus.precedenceOrder.map { .string($0.rawValue) }),
            Field.disposition: .ranked(Disposition.safetyOrder.map { .string($0.rawValue) }),
        ]
    )

    /// The edit that records `update`: every field it wrote, and the notes it added.
    public static func edit(for update: ReturnUpdate) -> RecordEdit {
        var edit = RecordEdit()
        if let status = update.status { edit.set(Field.status, to: .string(status.rawValue)) }
        if let condition = update.condition { edit.set(Field.condition, to: .string(condition.rawValue)) }
        if let testResult = update.testResult { edit.set(Field.testResult, to: .string(testResult.rawValue)) }
        if let disposition = update.disposition { edit.set(Field.disposition, to: .string(disposition.rawValue)) }
        for text in update.addedNotes { edit.add(.string(text), to: Field.notes) }
        for attachment in update.addedAttachments { edit.add(.string(attachment.element), to: Field.attachments) }
        if let repair = update.repair {
            edit.set(Field.repairVendor, to: .string(repair.vendor))
            edit.set(Field.repairStatus, to: .string(repair.status.rawValue))
            edit.set(Field.repairSentOn, to: .string(repair.sentOn))
            edit.set(Field.repairBackOn, to: repair.backOn.map(FieldValue.string) ?? .null)
        }
        if let handoff = update.handoff {
            edit.set(Field.handoffParty, to: .string(handoff.party))
            edit.set(Field.handoffDocument, to: .string(handoff.document))
            edit.set(Field.handoffWeightGrams, to: handoff.weightGrams.map { .integer(Int64($0)) } ?? .null)
            edit.set(Field.handoffCount, to: handoff.count.map { .integer(Int64($0)) } ?? .null)
            edit.set(Field.handoffOn, to: .string(handoff.handedOverOn))
        }
        if let verification = update.verification {
            edit.set(Field.verification, to: .string(verification.rawValue))
        }
        if let exceptions = update.exceptions { edit.set(Field.exceptions, to: .string(encode(exceptions))) }
        if let refund = update.refund {
            edit.set(Field.refundAmount, to: .integer(refund.amountMinor))
            edit.set(Field.refundFee, to: .integer(refund.feeMinor))
            edit.set(Field.refundCurrency, to: .string(refund.currency.code))
            edit.set(Field.refundMethod, to: .string(refund.method.rawValue))
            edit.set(Field.refundExchangeGTIN, to: refund.exchangeGTIN.map { .string($0.digits) } ?? .null)
            edit.set(Field.refundReason, to: refund.reason.map(FieldValue.string) ?? .null)
            edit.set(Field.refundBy, to: .string(refund.decidedBy ?? ""))
        }
        if let shipment = update.vendorShipment {
            edit.set(Field.rmaNumber, to: .string(shipment.rma))
            edit.set(Field.rmaCarrier, to: shipment.carrier.map(FieldValue.string) ?? .null)
            edit.set(Field.rmaTracking, to: shipment.tracking.map(FieldValue.string) ?? .null)
            edit.set(Field.rmaShippedOn, to: shipment.shippedOn.map(FieldValue.string) ?? .null)
        }
        if let credit = update.vendorCredit {
            edit.set(Field.vendorCreditAmount, to: .integer(credit.amountMinor))
            edit.set(Field.vendorCreditCurrency, to: .string(credit.currency.code))
            edit.set(Field.vendorCreditOn, to: .string(credit.receivedOn))
        }
        if let recall = update.recall {
            edit.set(Field.recallCampaign, to: .string(recall.campaign))
            edit.set(Field.recallMatch, to: .string(recall.match.rawValue))
        }
        if let review = update.review {
            edit.set(Field.reviewOutcome, to: .string(review.outcome.rawValue))
            edit.set(Field.reviewNote, to: review.note.map(FieldValue.string) ?? .null)
            edit.set(Field.reviewExceptions, to: .string(encode(review.exceptions)))
        }
        return edit
    }

    /// A new record holding `item`, written at `replica` as one edit: every field and note tagged with its dot.
    ///
    /// - Parameter operatorID: the person who captured it, recorded in ``Field/editors`` with the creating write.
    public static func makeRecord(
        for item: ProductReturn,
        by replica: ReplicaID,
        stamp: HLCTimestamp,
        operatorID: OperatorID? = nil
    ) throws -> VersionedRecord {
        // Built directly rather than through a RecordEdit: this runs once per captured or imported return, and
        // the result is exactly what applying the creation edit to an empty record gives.
        var clock = VectorClock()
        let dot = clock.increment(replica)
        let values = creationValues(of: item, operatorID: operatorID)
        var registers: [String: [DottedValue]] = [:]
        registers.reserveCapacity(values.registers.count)
        for (name, value) in values.registers { registers[name] = [DottedValue(value: value, dot: dot, stamp: stamp)] }
        var sets: [String: [DottedValue]] = [:]
        for (name, elements) in values.sets {
            sets[name] = elements.map { DottedValue(value: $0, dot: dot, stamp: stamp) }
        }
        return try VersionedRecord(
            entityType: entityType,
            id: item.id.rawValue,
            clock: clock,
            registers: registers,
            sets: sets
        )
    }

    /// The compact JSON of ``makeRecord(for:by:stamp:operatorID:)``'s record, written without making the record
    /// (``VersionedRecord/firstWriteJSON(entityType:id:replica:stamp:registers:sets:)``): what a kiosk import stores
    /// for each new return.
    public static func creationJSON(
        for item: ProductReturn,
        by replica: ReplicaID,
        stamp: HLCTimestamp,
        operatorID: OperatorID? = nil
    ) -> String {
        let values = creationValues(of: item, operatorID: operatorID)
        return VersionedRecord.firstWriteJSON(
            entityType: entityType,
            id: item.id.rawValue,
            replica: replica,
            stamp: stamp,
            registers: values.registers,
            sets: values.sets
        )
    }

    /// What a new return's creating write sets and adds: its registers, each with its value, and its sets' elements
    /// (the notes, and the operator who made it).
    ///
    /// The registers come in their names' order, the order the record's JSON lists them in, which spares
    /// ``VersionedRecord/firstWriteJSON(entityType:id:replica:stamp:registers:sets:)`` sorting them for each return
    /// of an import (a sixteenth of its bound thread, issue 18); a test holds this order.
    static func creationValues(
        of item: ProductReturn,
        operatorID: OperatorID?
    ) -> (registers: [(name: String, value: FieldValue)], sets: [(name: String, elements: [FieldValue])]) {
        // Appended into room for every register a creating write may set: one allocation (a literal, and then room
        // for the optional ones, made two).
        var registers: [(name: String, value: FieldValue)] = []
        registers.reserveCapacity(20)
        registers.append((Field.condition, .string(item.condition.rawValue)))
        registers.append((Field.createdAt, .integer(item.createdAt.millisecondsSince1970)))
        if let customer = item.customerRef { registers.append((Field.customerRef, .string(customer.rawValue))) }
        registers.append((Field.disposition, .string(item.disposition.rawValue)))
        if !item.exceptions.isEmpty { registers.append((Field.exceptions, .string(encode(item.exceptions)))) }
        if let expiry = item.expiry { registers.append((Field.expiry, .string(expiry))) }
        registers.append((Field.gtin, .string(item.gtin.digits)))
        registers.append((Field.kioskID, .string(item.kioskID.rawValue)))
        if let lot = item.lot { registers.append((Field.lot, .string(lot.rawValue))) }
        registers.append((Field.orderID, .string(item.orderID.rawValue)))
        registers.append((Field.quantity, .integer(Int64(item.quantity))))
        registers.append((Field.reason, .string(item.reason.rawValue)))
        if let campaign = item.recallCampaign, let match = item.recallMatch {
            registers.append((Field.recallCampaign, .string(campaign)))
            registers.append((Field.recallMatch, .string(match.rawValue)))
        }
        if !item.receipt { registers.append((Field.receipt, .bool(false))) }
        if let serial = item.serial { registers.append((Field.serial, .string(serial.rawValue))) }
        registers.append((Field.status, .string(item.status.rawValue)))
        registers.append((Field.storeID, .string(item.storeID.rawValue)))
        registers.append((Field.testResult, .string(item.testResult.rawValue)))
        if let verification = item.verification {
            registers.append((Field.verification, .string(verification.rawValue)))
        }
        var sets: [(name: String, elements: [FieldValue])] = []
        if !item.notes.isEmpty { sets.append((Field.notes, item.notes.map { .string($0.text) })) }
        if let operatorID { sets.append((Field.editors, [.string(operatorID.rawValue)])) }
        return (registers, sets)
    }

    /// Exceptions as a field value: sorted spellings, comma-separated.
    static func encode(_ exceptions: [ReturnException]) -> String {
        exceptions.sorted().map(\.rawValue).joined(separator: ",")
    }

    /// Exceptions from a field value, every spelling known (what a push must hold).
    static func decodeExceptions(_ text: String?) throws -> [ReturnException] {
        try (text ?? "").split(separator: ",").map { try ReturnException.parse(String($0)) }
    }

    /// Exceptions from a stored field value, skipping spellings this version does not know: a newer HQ may flag
    /// returns for reasons an older kiosk has no name for, and its returns must still decode there (pushes are
    /// checked strictly, ``ReturnWriteRules``).
    static func knownExceptions(_ text: String?) -> [ReturnException] {
        (text ?? "").split(separator: ",").compactMap { ReturnException(rawValue: String($0)) }
    }

    /// The wall-clock time of a stamp: when the write that carries it happened.
    public static func date(of stamp: HLCTimestamp) -> Date {
        Date(millisecondsSince1970: Int64(stamp.physical))
    }
}

extension ReturnEntity {
    /// The registers a return record may hold (Protocol/SPEC.md §6, schema/return-fields.json); anything else is
    /// refused when pushed. A new field goes in ``Field``, in `ReturnRegister` (which numbers them for reading a
    /// return; this set is its names), in its label below and in the schema.
    public static let registerFields: Set<String> = Set(ReturnRegister.allCases.map(\.name))

    /// The grow-only sets a return record may hold.
    public static let setFields: Set<String> = [Field.notes, Field.editors, Field.attachments]

    /// The words a person reads for a field of a return record (`repairStatus` → `repair status`), for reports
    /// and conflict lists; an unknown name is returned as it is.
    public static func label(of field: String) -> String {
        labels[field] ?? field
    }

    static let labels: [String: String] = [
        Field.storeID: "store", Field.kioskID: "kiosk", Field.orderID: "order", Field.gtin: "GTIN",
        Field.serial: "serial number", Field.lot: "lot", Field.expiry: "expiry date",
        Field.recallCampaign: "recall campaign", Field.recallMatch: "recall match", Field.repairVendor: "repairer",
        Field.repairStatus: "repair status", Field.repairSentOn: "sent for repair on",
        Field.repairBackOn: "back from repair on", Field.handoffParty: "handed over to",
        Field.handoffDocument: "hand-off document", Field.handoffWeightGrams: "hand-off weight (g)",
        Field.handoffCount: "hand-off count", Field.handoffOn: "handed over on", Field.receipt: "receipt shown",
        Field.verification: "purchase verification", Field.exceptions: "exceptions",
        Field.reviewOutcome: "HQ review", Field.reviewNote: "HQ review note",
        Field.reviewExceptions: "exceptions reviewed", Field.quantity: "quantity", Field.reason: "reason",
        Field.status: "status", Field.condition: "condition", Field.testResult: "test result",
        Field.disposition: "disposition", Field.createdAt: "captured at", Field.notes: "notes",
        Field.editors: "edited by", Field.customerRef: "customer", Field.attachments: "attachments",
        Field.refundAmount: "refund (minor units)", Field.refundFee: "restocking fee (minor units)",
        Field.refundCurrency: "refund currency", Field.refundMethod: "refund method",
        Field.refundExchangeGTIN: "exchanged for", Field.refundReason: "refund amount changed because",
        Field.refundBy: "refunded by", Field.rmaNumber: "vendor RMA", Field.rmaCarrier: "RMA carrier",
        Field.rmaTracking: "RMA tracking id", Field.rmaShippedOn: "shipped to the vendor on",
        Field.vendorCreditAmount: "vendor credit (minor units)", Field.vendorCreditCurrency: "vendor credit currency",
        Field.vendorCreditOn: "vendor credit received on",
    ]

    /// A field value as a person reads it: text as it is, `true`/`false` as yes/no, nothing as a dash.
    public static func plainText(_ value: FieldValue) -> String {
        switch value {
        case .null: return "—"
        case .bool(let flag): return flag ? "yes" : "no"
        case .integer(let number): return String(number)
        case .string(let text): return text.isEmpty ? "—" : text
        }
    }
}

/// An edit of a return an operator was named for: who, at which replica and write, and when.
public struct ReturnEdit: Hashable, Sendable {
    public var operatorID: String
    public var replica: String
    public var counter: UInt64
    public var at: Date
    /// The edit's dot: replica and write.
    public var dot: Dot

    /// The edits recorded in a return's ``ReturnEntity/Field/editors`` set, oldest first.
    public static func history(of record: VersionedRecord) -> [ReturnEdit] {
        record.elements(of: ReturnEntity.Field.editors)
            .sorted { ($0.stamp, $0.dot) < ($1.stamp, $1.dot) }
            .compactMap { element in
                guard case .string(let operatorID) = element.value else { return nil }
                return ReturnEdit(
                    operatorID: operatorID,
                    replica: element.dot.replica.rawValue,
                    counter: element.dot.counter,
                    at: ReturnEntity.date(of: element.stamp),
                    dot: element.dot
                )
            }
    }
}
