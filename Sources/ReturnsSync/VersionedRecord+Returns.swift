import Foundation
import ReturnsModel
import SyncEngine

extension VersionedRecord {
    /// Runs a lifecycle operation on the return this record holds and records what it changed as one edit.
    ///
    /// The operation sees the visible state of the record, so the lifecycle rules are checked against what every
    /// replica shows; when it throws, the record is unchanged.
    ///
    /// ```swift
    /// try record.updateReturn(by: kiosk, stamp: hlc.tick(wallClock: now)) { item, author, date in
    ///     try item.assignDisposition(.repair, by: author, at: date)
    /// }
    /// ```
    ///
    /// - Returns: the dot of the edit.
    @discardableResult
    public mutating func updateReturn(
        by replica: ReplicaID,
        stamp: HLCTimestamp,
        operatorID: OperatorID? = nil,
        _ operation: (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) throws -> Dot {
        var item = try ProductReturn(record: self)
        let update = try operation(&item, replica.rawValue, ReturnEntity.date(of: stamp))
        var edit = ReturnEntity.edit(for: update)
        // Tagged with this edit's dot when applied: who, as well as which replica and when.
        if let operatorID { edit.add(.string(operatorID.rawValue), to: ReturnEntity.Field.editors) }
        return try apply(edit, by: replica, stamp: stamp)
    }

    /// Flags this return under `campaign` when its unit matches (``ProductReturn/flagRecall(_:by:at:)``), as one
    /// edit by `replica`.
    ///
    /// - Parameters:
    ///   - stamp: called for the edit's stamp only when there is an edit to make.
    ///   - operatorID: who created the campaign, recorded with the flag like any edit's operator.
    /// - Returns: the edit's dot, or `nil` when the return was left as it was.
    public mutating func flagRecall(
        _ campaign: RecallCampaign,
        by replica: ReplicaID,
        operatorID: OperatorID? = nil,
        stamp: () throws -> HLCTimestamp
    ) throws -> Dot? {
        var item = try ProductReturn(record: self)
        // Whether the unit matches does not depend on the time: a stamp is taken only for an edit that happens.
        var probe = item
        guard try probe.flagRecall(campaign, by: replica.rawValue, at: Date()) != nil else { return nil }
        let stamp = try stamp()
        guard let update = try item.flagRecall(campaign, by: replica.rawValue, at: ReturnEntity.date(of: stamp)) else {
            return nil
        }
        var edit = ReturnEntity.edit(for: update)
        if let operatorID { edit.add(.string(operatorID.rawValue), to: ReturnEntity.Field.editors) }
        return try apply(edit, by: replica, stamp: stamp)
    }

    /// The lifecycle rules the merged, visible state of this return breaks (see ``ReturnRules``).
    ///
    /// This is a function of the record alone, so every replica holding the same version flags the same return
    /// for review, with the same reasons.
    public func returnRuleViolations() throws -> [String] {
        try ReturnRules.violations(of: ProductReturn(record: self))
    }
}

extension ProductReturn {
    /// The return a record holds, as every replica shows it: conflicts resolved by ``ReturnEntity/policy``.
    ///
    /// - Throws: ``ReturnsModelError`` when the record is not a return, lacks a required field, or holds a value
    ///   that is not valid for its field.
    public init(record: VersionedRecord) throws {
        guard record.entityType == ReturnEntity.entityType else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "record '\(record.id)' is a \(record.entityType), not a \(ReturnEntity.entityType)"
            )
        }
        let reader = FieldReader(record)
        // A value a newer release added to a field's vocabulary is read as the nearest this release knows and noted
        // (``ProductReturn/newerValues``); the record keeps it untouched. Any other unknown spelling is an error.
        var newer: [String: String] = [:]
        func vocabulary<Value: ReturnVocabulary>(
            _ field: ReturnRegister,
            _ text: String,
            orElse fallback: Value
        ) throws -> Value {
            if let value = Value(rawValue: text) { return value }
            guard Value.isNewerSpelling(text) else { return try Value.parse(text) }
            newer[field.name] = text
            return fallback
        }
        func vocabulary<Value: ReturnVocabulary>(_ field: ReturnRegister, orElse fallback: Value) throws -> Value {
            try vocabulary(field, reader.string(field), orElse: fallback)
        }
        let createdAt = try ReturnDates.validatedInstant(
            reader.integer(.createdAt),
            field: "createdAt of return '\(record.id)'"
        )
        let notes = try record.elements(of: ReturnEntity.Field.notes)
            .sorted { ($0.stamp, $0.dot) < ($1.stamp, $1.dot) }
            .map { element in
                try ReturnNote(
                    text: reader.string(element.value, field: ReturnEntity.Field.notes),
                    author: element.dot.replica.rawValue,
                    createdAt: ReturnEntity.date(of: element.stamp)
                )
            }
        let updatedAt = record.latestStamp.map(ReturnEntity.date(of:)) ?? createdAt
        let repair = try reader.optionalString(.repairVendor).map { vendor in
            try RepairRecord(
                vendor: vendor,
                status: vocabulary(.repairStatus, orElse: RepairRecord.Status.sent),
                sentOn: reader.string(.repairSentOn),
                backOn: reader.optionalString(.repairBackOn)
            )
        }
        let handoff = try reader.optionalString(.handoffParty).map { party in
            try CustodyHandoff(
                party: party,
                document: reader.string(.handoffDocument),
                weightGrams: reader.optionalInteger(.handoffWeightGrams).map(Int.init),
                count: reader.optionalInteger(.handoffCount).map(Int.init),
                handedOverOn: reader.string(.handoffOn)
            )
        }
        // An outcome this release does not know reads as no decision yet: the return stays in the review queue.
        let review = try reader.optionalString(.reviewOutcome).flatMap { text in
            ReviewDecision.Outcome(rawValue: text) != nil || !ReviewDecision.Outcome.isNewerSpelling(text) ? text : nil
        }.map { outcome in
            try ReviewDecision(
                outcome: ReviewDecision.Outcome.parse(outcome),
                note: reader.optionalString(.reviewNote),
                exceptions: ReturnEntity.knownExceptions(reader.optionalString(.reviewExceptions))
            )
        }
        // Read leniently below (a currency in any case, any refunder): checked here as the field requires.
        for field in [ReturnRegister.refundCurrency, .refundBy, .vendorCreditCurrency] {
            if let value = reader.visible(field), value != .null { try ReturnEntity.validate(value, of: field.name) }
        }
        let refund = try reader.optionalString(.refundMethod).map { method in
            let amount = try reader.integer(.refundAmount)
            let exchange = try reader.optionalString(.refundExchangeGTIN).map { try GTIN(stored: $0) }
            // A newer method reads as the known one its amounts allow: a replacement, nothing, or money back.
            let nearest: RefundMethod = exchange != nil ? .exchange : amount == 0 ? .none : .originalPayment
            return try Refund(
                amountMinor: amount,
                feeMinor: reader.integer(.refundFee),
                currency: Currency(reader.string(.refundCurrency)),
                method: vocabulary(.refundMethod, method, orElse: nearest),
                exchangeGTIN: exchange,
                reason: reader.optionalString(.refundReason),
                decidedBy: reader.optionalString(.refundBy)
            )
        }
        let shipment = try reader.optionalString(.rmaNumber).map { rma in
            try VendorShipment(
                rma: rma,
                carrier: reader.optionalString(.rmaCarrier),
                tracking: reader.optionalString(.rmaTracking),
                shippedOn: reader.optionalString(.rmaShippedOn)
            )
        }
        let credit = try reader.optionalString(.vendorCreditCurrency).map { code in
            try VendorCredit(
                amountMinor: reader.integer(.vendorCreditAmount),
                currency: Currency(code),
                receivedOn: reader.string(.vendorCreditOn)
            )
        }
        try self.init(
            id: ReturnID(record.id),
            storeID: StoreID(reader.string(.storeID)),
            kioskID: KioskID(reader.string(.kioskID)),
            orderID: OrderID(reader.string(.orderID)),
            gtin: GTIN(stored: reader.string(.gtin)),
            serial: reader.optionalString(.serial).map { try ItemCode($0, kind: "serial") },
            lot: reader.optionalString(.lot).map { try ItemCode($0, kind: "lot") },
            expiry: reader.optionalString(.expiry).map(ReturnDates.validatedDay),
            recallCampaign: reader.optionalString(.recallCampaign).map { campaign in
                try ReturnEntity.validate(.string(campaign), of: ReturnRegister.recallCampaign.name)
                return campaign
            },
            recallMatch: reader.optionalString(.recallMatch).map {
                try vocabulary(.recallMatch, $0, orElse: RecallCampaign.Match.uncertain)
            },
            quantity: Int(reader.integer(.quantity)),
            reason: vocabulary(.reason, orElse: ReturnReason.other),
            status: vocabulary(.status, orElse: ReturnStatus.received),
            condition: vocabulary(.condition, orElse: ItemCondition.unknown),
            testResult: vocabulary(.testResult, orElse: TestResult.notTested),
            disposition: vocabulary(.disposition, orElse: Disposition.undecided),
            notes: notes,
            repair: repair,
            handoff: handoff,
            receipt: reader.optionalBool(.receipt) ?? true,
            customerRef: reader.optionalString(.customerRef).map(CustomerReference.init),
            verification: reader.optionalString(.verification).map {
                try vocabulary(.verification, $0, orElse: PurchaseVerification.unverified)
            },
            exceptions: ReturnEntity.knownExceptions(reader.optionalString(.exceptions)),
            review: review,
            refund: refund,
            vendorShipment: shipment,
            vendorCredit: credit,
            // Oldest first; an element this version cannot read (a media type a newer kiosk knows) is skipped, as
            // unknown exceptions are: pushes are checked strictly (ReturnWriteRules).
            attachments: record.elements(of: ReturnEntity.Field.attachments)
                .sorted { ($0.stamp, $0.dot) < ($1.stamp, $1.dot) }
                .compactMap { $0.value.stringValue.flatMap { try? Attachment(element: $0) } },
            createdAt: createdAt,
            updatedAt: max(updatedAt, createdAt)
        )
        if let outcome = try reader.optionalString(.reviewOutcome), review == nil {
            newer[ReturnEntity.Field.reviewOutcome] = outcome
        }
        newerValues = newer
    }
}

/// Reads the visible values of a return record's fields, with errors that name the record and field.
///
/// The visible values are found in one pass over the record's registers (``ReturnRegister/named(_:)``, no name
/// hashed) and then read by number: ``ProductReturn/init(record:)`` asks for about fifty fields, most of them absent
/// from a new return, and each look-up by name hashed it (issue 18: reading a return from its record was about a
/// sixteenth of a fleet's server CPU, close to half of it hashing field names; it runs for every pushed and every
/// pulled return).
private struct FieldReader {
    /// The record's id, for errors (the record itself is not kept: copying it retained each of its parts).
    let id: String
    /// For each register (by ``ReturnRegister/rawValue``), 1 + the position of its visible value in `values`, or 0
    /// when the record holds none: bytes in place, which cost no allocation and nothing to free (an array of
    /// optional values cost both, and freeing it went element by element).
    private var positions = InlineArray<64, UInt8>(repeating: 0)
    /// The visible values of the registers the record holds.
    private var values: [FieldValue]

    init(_ record: VersionedRecord) {
        id = record.id
        var values: [FieldValue] = []
        let registers = record.registers
        values.reserveCapacity(registers.count)
        // Names through `keys` and values through `values`, each read where the dictionary holds it: an element of
        // the dictionary is a copy of the pair, a retain and a release of each register's list of values.
        var index = registers.startIndex
        while index != registers.endIndex {
            defer { index = registers.index(after: index) }
            // A name this release does not know is not read here (the write rules decide whether it may be held).
            guard let field = ReturnRegister.named(registers.keys[index]) else { continue }
            let value =
                registers.values[index].count == 1
                ? registers.values[index][0].value
                : ReturnEntity.policy.policy(for: field.name).winner(among: registers.values[index])?.value
            guard let value else { continue }
            values.append(value)
            positions[field.rawValue] = UInt8(values.count)
        }
        self.values = values
    }

    func visible(_ field: ReturnRegister) -> FieldValue? {
        let position = positions[field.rawValue]
        // Not `position == 0 ? nil : …`: `FieldValue` is expressible by `nil` (JSON's null), so that `nil` would be a
        // held null, not an absent field.
        guard position != 0 else { return nil }
        return values[Int(position) - 1]
    }

    func string(_ field: ReturnRegister) throws -> String {
        guard let value = visible(field) else { throw missing(field.name) }
        return try string(value, field: field.name)
    }

    func optionalString(_ field: ReturnRegister) throws -> String? {
        guard let value = visible(field), value != .null else { return nil }
        return try string(value, field: field.name)
    }

    func string(_ value: FieldValue, field: String) throws -> String {
        guard let text = value.stringValue else { throw wrongType(field, value, "a string") }
        return text
    }

    func optionalInteger(_ field: ReturnRegister) throws -> Int64? {
        guard let value = visible(field), value != .null else { return nil }
        guard let number = value.integerValue else { throw wrongType(field.name, value, "an integer") }
        return number
    }

    func optionalBool(_ field: ReturnRegister) throws -> Bool? {
        guard let value = visible(field), value != .null else { return nil }
        guard let flag = value.boolValue else { throw wrongType(field.name, value, "true or false") }
        return flag
    }

    func integer(_ field: ReturnRegister) throws -> Int64 {
        guard let value = visible(field) else { throw missing(field.name) }
        guard let number = value.integerValue else { throw wrongType(field.name, value, "an integer") }
        return number
    }

    private func missing(_ field: String) -> ReturnsModelError {
        ReturnsModelError(code: .invalidValue, message: "return '\(id)' has no value for '\(field)'")
    }

    private func wrongType(_ field: String, _ value: FieldValue, _ expected: String) -> ReturnsModelError {
        ReturnsModelError(
            code: .invalidValue,
            message: "return '\(id)' holds '\(value)' in '\(field)': expected \(expected)"
        )
    }
}

/// A return's registers, numbered (``ReturnEntity/registerFields`` is their names): ``FieldReader`` holds their
/// visible values by number (room for 64: a test holds the count to it).
enum ReturnRegister: Int, CaseIterable {
    case storeID, kioskID, orderID, gtin, serial, lot, expiry, recallCampaign, recallMatch
    case repairVendor, repairStatus, repairSentOn, repairBackOn
    case handoffParty, handoffDocument, handoffWeightGrams, handoffCount, handoffOn
    case refundAmount, refundFee, refundCurrency, refundMethod, refundExchangeGTIN, refundReason, refundBy
    case rmaNumber, rmaCarrier, rmaTracking, rmaShippedOn
    case vendorCreditAmount, vendorCreditCurrency, vendorCreditOn
    case customerRef, receipt, verification, exceptions
    case reviewOutcome, reviewNote, reviewExceptions
    case quantity, reason, status, condition, testResult, disposition, createdAt

    /// The field's name in a record.
    var name: String {
        switch self {
        case .storeID: ReturnEntity.Field.storeID
        case .kioskID: ReturnEntity.Field.kioskID
        case .orderID: ReturnEntity.Field.orderID
        case .gtin: ReturnEntity.Field.gtin
        case .serial: ReturnEntity.Field.serial
        case .lot: ReturnEntity.Field.lot
        case .expiry: ReturnEntity.Field.expiry
        case .recallCampaign: ReturnEntity.Field.recallCampaign
        case .recallMatch: ReturnEntity.Field.recallMatch
        case .repairVendor: ReturnEntity.Field.repairVendor
        case .repairStatus: ReturnEntity.Field.repairStatus
        case .repairSentOn: ReturnEntity.Field.repairSentOn
        case .repairBackOn: ReturnEntity.Field.repairBackOn
        case .handoffParty: ReturnEntity.Field.handoffParty
        case .handoffDocument: ReturnEntity.Field.handoffDocument
        case .handoffWeightGrams: ReturnEntity.Field.handoffWeightGrams
        case .handoffCount: ReturnEntity.Field.handoffCount
        case .handoffOn: ReturnEntity.Field.handoffOn
        case .refundAmount: ReturnEntity.Field.refundAmount
        case .refundFee: ReturnEntity.Field.refundFee
        case .refundCurrency: ReturnEntity.Field.refundCurrency
        case .refundMethod: ReturnEntity.Field.refundMethod
        case .refundExchangeGTIN: ReturnEntity.Field.refundExchangeGTIN
        case .refundReason: ReturnEntity.Field.refundReason
        case .refundBy: ReturnEntity.Field.refundBy
        case .rmaNumber: ReturnEntity.Field.rmaNumber
        case .rmaCarrier: ReturnEntity.Field.rmaCarrier
        case .rmaTracking: ReturnEntity.Field.rmaTracking
        case .rmaShippedOn: ReturnEntity.Field.rmaShippedOn
        case .vendorCreditAmount: ReturnEntity.Field.vendorCreditAmount
        case .vendorCreditCurrency: ReturnEntity.Field.vendorCreditCurrency
        case .vendorCreditOn: ReturnEntity.Field.vendorCreditOn
        case .customerRef: ReturnEntity.Field.customerRef
        case .receipt: ReturnEntity.Field.receipt
        case .verification: ReturnEntity.Field.verification
        case .exceptions: ReturnEntity.Field.exceptions
        case .reviewOutcome: ReturnEntity.Field.reviewOutcome
        case .reviewNote: ReturnEntity.Field.reviewNote
        case .reviewExceptions: ReturnEntity.Field.reviewExceptions
        case .quantity: ReturnEntity.Field.quantity
        case .reason: ReturnEntity.Field.reason
        case .status: ReturnEntity.Field.status
        case .condition: ReturnEntity.Field.condition
        case .testResult: ReturnEntity.Field.testResult
        case .disposition: ReturnEntity.Field.disposition
        case .createdAt: ReturnEntity.Field.createdAt
        }
    }

    /// How many registers there are (`allCases` builds an array every time it is asked).
    static let count = allCases.count

    /// The register named `name`, or `nil` for a name that is not a return's register.
    ///
    /// Found without hashing the name (hashing field names was close to half of reading a return from its record):
    /// its length and first and last bytes pick a slot of ``slots``, and a name is compared where one is found.
    static func named(_ name: String) -> ReturnRegister? {
        var slot = slot(of: name)
        while let register = slots[slot] {
            if register.name == name { return register }
            slot = (slot + 1) & (slotCount - 1)
        }
        return nil
    }

    /// A power of two, about three times the registers: a name that is no register's meets an empty slot soon.
    private static let slotCount = 128

    private static func slot(of name: String) -> Int {
        let bytes = name.utf8
        guard let first = bytes.first, let last = bytes.last else { return 0 }
        return (bytes.count &* 7 &+ Int(first) &+ Int(last) &* 3) & (slotCount - 1)
    }

    /// Every register in the slot its name picks or, when that one is taken, the next free one (open addressing).
    private static let slots: [ReturnRegister?] = {
        var slots = [ReturnRegister?](repeating: nil, count: slotCount)
        for register in allCases {
            var slot = slot(of: register.name)
            while slots[slot] != nil { slot = (slot + 1) & (slotCount - 1) }
            slots[slot] = register
        }
        return slots
    }()
}
