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
        let reader = FieldReader(record: record)
        // A value a newer release added to a field's vocabulary is read as the nearest this release knows and noted
        // (``ProductReturn/newerValues``); the record keeps it untouched. Any other unknown spelling is an error.
        var newer: [String: String] = [:]
        func vocabulary<Value: ReturnVocabulary>(
            _ field: String,
            _ text: String,
            orElse fallback: Value
        ) throws -> Value {
            if let value = Value(rawValue: text) { return value }
            guard Value.isNewerSpelling(text) else { return try Value.parse(text) }
            newer[field] = text
            return fallback
        }
        func vocabulary<Value: ReturnVocabulary>(_ field: String, orElse fallback: Value) throws -> Value {
            try vocabulary(field, reader.string(field), orElse: fallback)
        }
        let createdAt = try ReturnDates.validatedInstant(
            reader.integer(ReturnEntity.Field.createdAt),
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
        let repair = try reader.optionalString(ReturnEntity.Field.repairVendor).map { vendor in
            try RepairRecord(
                vendor: vendor,
                status: vocabulary(ReturnEntity.Field.repairStatus, orElse: RepairRecord.Status.sent),
                sentOn: reader.string(ReturnEntity.Field.repairSentOn),
                backOn: reader.optionalString(ReturnEntity.Field.repairBackOn)
            )
        }
        let handoff = try reader.optionalString(ReturnEntity.Field.handoffParty).map { party in
            try CustodyHandoff(
                party: party,
                document: reader.string(ReturnEntity.Field.handoffDocument),
                weightGrams: reader.optionalInteger(ReturnEntity.Field.handoffWeightGrams).map(Int.init),
                count: reader.optionalInteger(ReturnEntity.Field.handoffCount).map(Int.init),
                handedOverOn: reader.string(ReturnEntity.Field.handoffOn)
            )
        }
        // An outcome this release does not know reads as no decision yet: the return stays in the review queue.
        let review = try reader.optionalString(ReturnEntity.Field.reviewOutcome).flatMap { text in
            ReviewDecision.Outcome(rawValue: text) != nil || !ReviewDecision.Outcome.isNewerSpelling(text) ? text : nil
        }.map { outcome in
            try ReviewDecision(
                outcome: ReviewDecision.Outcome.parse(outcome),
                note: reader.optionalString(ReturnEntity.Field.reviewNote),
                exceptions: ReturnEntity.knownExceptions(reader.optionalString(ReturnEntity.Field.reviewExceptions))
            )
        }
        // Read leniently below (a currency in any case, any refunder): checked here as the field requires.
        for field in [
            ReturnEntity.Field.refundCurrency, ReturnEntity.Field.refundBy, ReturnEntity.Field.vendorCreditCurrency,
        ] {
            if let value = reader.visible(field), value != .null { try ReturnEntity.validate(value, of: field) }
        }
        let refund = try reader.optionalString(ReturnEntity.Field.refundMethod).map { method in
            let amount = try reader.integer(ReturnEntity.Field.refundAmount)
            let exchange = try reader.optionalString(ReturnEntity.Field.refundExchangeGTIN).map { try GTIN(stored: $0) }
            // A newer method reads as the known one its amounts allow: a replacement, nothing, or money back.
            let nearest: RefundMethod = exchange != nil ? .exchange : amount == 0 ? .none : .originalPayment
            return try Refund(
                amountMinor: amount,
                feeMinor: reader.integer(ReturnEntity.Field.refundFee),
                currency: Currency(reader.string(ReturnEntity.Field.refundCurrency)),
                method: vocabulary(ReturnEntity.Field.refundMethod, method, orElse: nearest),
                exchangeGTIN: exchange,
                reason: reader.optionalString(ReturnEntity.Field.refundReason),
                decidedBy: reader.optionalString(ReturnEntity.Field.refundBy)
            )
        }
        let shipment = try reader.optionalString(ReturnEntity.Field.rmaNumber).map { rma in
            try VendorShipment(
                rma: rma,
                carrier: reader.optionalString(ReturnEntity.Field.rmaCarrier),
                tracking: reader.optionalString(ReturnEntity.Field.rmaTracking),
                shippedOn: reader.optionalString(ReturnEntity.Field.rmaShippedOn)
            )
        }
        let credit = try reader.optionalString(ReturnEntity.Field.vendorCreditCurrency).map { code in
            try VendorCredit(
                amountMinor: reader.integer(ReturnEntity.Field.vendorCreditAmount),
                currency: Currency(code),
                receivedOn: reader.string(ReturnEntity.Field.vendorCreditOn)
            )
        }
        try self.init(
            id: ReturnID(record.id),
            storeID: StoreID(reader.string(ReturnEntity.Field.storeID)),
            kioskID: KioskID(reader.string(ReturnEntity.Field.kioskID)),
            orderID: OrderID(reader.string(ReturnEntity.Field.orderID)),
            gtin: GTIN(stored: reader.string(ReturnEntity.Field.gtin)),
            serial: reader.optionalString(ReturnEntity.Field.serial).map { try ItemCode($0, kind: "serial") },
            lot: reader.optionalString(ReturnEntity.Field.lot).map { try ItemCode($0, kind: "lot") },
            expiry: reader.optionalString(ReturnEntity.Field.expiry).map(ReturnDates.validatedDay),
            recallCampaign: reader.optionalString(ReturnEntity.Field.recallCampaign).map { campaign in
                try ReturnEntity.validate(.string(campaign), of: ReturnEntity.Field.recallCampaign)
                return campaign
            },
            recallMatch: reader.optionalString(ReturnEntity.Field.recallMatch).map {
                try vocabulary(ReturnEntity.Field.recallMatch, $0, orElse: RecallCampaign.Match.uncertain)
            },
            quantity: Int(reader.integer(ReturnEntity.Field.quantity)),
            reason: vocabulary(ReturnEntity.Field.reason, orElse: ReturnReason.other),
            status: vocabulary(ReturnEntity.Field.status, orElse: ReturnStatus.received),
            condition: vocabulary(ReturnEntity.Field.condition, orElse: ItemCondition.unknown),
            testResult: vocabulary(ReturnEntity.Field.testResult, orElse: TestResult.notTested),
            disposition: vocabulary(ReturnEntity.Field.disposition, orElse: Disposition.undecided),
            notes: notes,
            repair: repair,
            handoff: handoff,
            receipt: reader.optionalBool(ReturnEntity.Field.receipt) ?? true,
            customerRef: reader.optionalString(ReturnEntity.Field.customerRef).map(CustomerReference.init),
            verification: reader.optionalString(ReturnEntity.Field.verification).map {
                try vocabulary(ReturnEntity.Field.verification, $0, orElse: PurchaseVerification.unverified)
            },
            exceptions: ReturnEntity.knownExceptions(reader.optionalString(ReturnEntity.Field.exceptions)),
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
        if let outcome = try reader.optionalString(ReturnEntity.Field.reviewOutcome), review == nil {
            newer[ReturnEntity.Field.reviewOutcome] = outcome
        }
        newerValues = newer
    }
}

/// Reads the visible values of a return record's fields, with errors that name the record and field.
private struct FieldReader {
    let record: VersionedRecord

    func visible(_ field: String) -> FieldValue? {
        record.visibleValue(of: field, policy: ReturnEntity.policy)?.value
    }

    func string(_ field: String) throws -> String {
        guard let value = visible(field) else { throw missing(field) }
        return try string(value, field: field)
    }

    func optionalString(_ field: String) throws -> String? {
        guard let value = visible(field), value != .null else { return nil }
        return try string(value, field: field)
    }

    func string(_ value: FieldValue, field: String) throws -> String {
        guard let text = value.stringValue else { throw wrongType(field, value, "a string") }
        return text
    }

    func optionalInteger(_ field: String) throws -> Int64? {
        guard let value = visible(field), value != .null else { return nil }
        guard let number = value.integerValue else { throw wrongType(field, value, "an integer") }
        return number
    }

    func optionalBool(_ field: String) throws -> Bool? {
        guard let value = visible(field), value != .null else { return nil }
        guard let flag = value.boolValue else { throw wrongType(field, value, "true or false") }
        return flag
    }

    func integer(_ field: String) throws -> Int64 {
        guard let value = visible(field) else { throw missing(field) }
        guard let number = value.integerValue else { throw wrongType(field, value, "an integer") }
        return number
    }

    private func missing(_ field: String) -> ReturnsModelError {
        ReturnsModelError(code: .invalidValue, message: "return '\(record.id)' has no value for '\(field)'")
    }

    private func wrongType(_ field: String, _ value: FieldValue, _ expected: String) -> ReturnsModelError {
        ReturnsModelError(
            code: .invalidValue,
            message: "return '\(record.id)' holds '\(value)' in '\(field)': expected \(expected)"
        )
    }
}
