import Foundation

/// A product a customer brought back to a store, as captured, inspected and routed at a kiosk.
///
/// A return moves through `received → inspected → dispositioned → closed`, or is `voided`. Its mutating
/// operations (``inspect(condition:testResult:note:by:at:)``, ``assignDisposition(_:note:by:at:)``, ``close(at:)``,
/// ``void(note:by:at:)``, ``addNote(_:by:at:)``) enforce the lifecycle rules and return the ``ReturnUpdate`` they
/// made, which the sync layer records as one edit.
public struct ProductReturn: Hashable, Sendable {
    /// The largest quantity one return may hold.
    public static let maximumQuantity = 9999

    /// The return's id.
    public let id: ReturnID
    /// The store that took the return back.
    public let storeID: StoreID
    /// The kiosk that captured it.
    public let kioskID: KioskID
    /// The sales order it refers to.
    public let orderID: OrderID
    /// The product.
    public let gtin: GTIN
    /// The item's serial number, if it has one.
    public let serial: ItemCode?
    /// The item's lot (batch), if known.
    public let lot: ItemCode?
    /// The item's expiry date, `YYYY-MM-DD`, when its barcode carries one (GS1 AI 17).
    public let expiry: String?
    /// The recall campaign the unit matched — at capture, or when the campaign reached a replica holding the
    /// return (``flagRecall(_:by:at:)``) — if any.
    public private(set) var recallCampaign: String?
    /// How sure that match is: certain, or uncertain (held for inspection).
    public private(set) var recallMatch: RecallCampaign.Match?
    /// How many units, at least 1.
    public let quantity: Int
    /// Why the customer returned it.
    public let reason: ReturnReason
    /// Where it stands in its lifecycle.
    public private(set) var status: ReturnStatus
    /// Its condition as found at inspection.
    public private(set) var condition: ItemCondition
    /// The outcome of its functional test.
    public private(set) var testResult: TestResult
    /// Where it goes next.
    public private(set) var disposition: Disposition
    /// Notes, oldest first.
    public private(set) var notes: [ReturnNote]
    /// The repair, when the item went to a repairer.
    public private(set) var repair: RepairRecord?
    /// The chain of custody, when the item left the store to be recycled or disposed of.
    public private(set) var handoff: CustodyHandoff?
    /// Whether the customer showed a receipt.
    public let receipt: Bool
    /// The customer's reference (loyalty or customer id, or its keyed hash), when given at capture.
    public let customerRef: CustomerReference?
    /// What checking the purchase found: at capture by the kiosk, then by HQ after sync; `nil` for returns
    /// captured before verification existed.
    public private(set) var verification: PurchaseVerification?
    /// Why the return needs HQ's review, if it does; sorted.
    public private(set) var exceptions: [ReturnException]
    /// HQ's decision on the exceptions, once reviewed.
    public private(set) var review: ReviewDecision?
    /// The refund, once decided.
    public private(set) var refund: Refund?
    /// The RMA and shipment, when routed back to the vendor.
    public private(set) var vendorShipment: VendorShipment?
    /// The credit the vendor gave, once received.
    public private(set) var vendorCredit: VendorCredit?
    /// Photos and documents, by digest; in the order they were added here.
    public private(set) var attachments: [Attachment]
    /// When it was captured.
    public let createdAt: Date
    /// When it was last changed.
    public private(set) var updatedAt: Date
    /// Values a newer release wrote that this one does not know, by field name (`reason` → `gift-card`): the
    /// record keeps and forwards them untouched, while this value reads them as the nearest it knows (a reason as
    /// `other`, a status as `received`, ...). A return holding one is read-only here (``requireKnownValues()``):
    /// its lifecycle rules are the newer release's. Empty for nearly every return.
    public var newerValues: [String: String] = [:]

    /// Creates a return in any state; a new capture uses the defaults (received, not yet inspected or routed).
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidQuantity`` when `quantity` is outside
    ///   1...``maximumQuantity``.
    public init(
        id: ReturnID,
        storeID: StoreID,
        kioskID: KioskID,
        orderID: OrderID,
        gtin: GTIN,
        serial: ItemCode? = nil,
        lot: ItemCode? = nil,
        expiry: String? = nil,
        recallCampaign: String? = nil,
        recallMatch: RecallCampaign.Match? = nil,
        quantity: Int = 1,
        reason: ReturnReason,
        status: ReturnStatus = .received,
        condition: ItemCondition = .unknown,
        testResult: TestResult = .notTested,
        disposition: Disposition = .undecided,
        notes: [ReturnNote] = [],
        repair: RepairRecord? = nil,
        handoff: CustodyHandoff? = nil,
        receipt: Bool = true,
        customerRef: CustomerReference? = nil,
        verification: PurchaseVerification? = nil,
        exceptions: [ReturnException] = [],
        review: ReviewDecision? = nil,
        refund: Refund? = nil,
        vendorShipment: VendorShipment? = nil,
        vendorCredit: VendorCredit? = nil,
        attachments: [Attachment] = [],
        createdAt: Date,
        updatedAt: Date? = nil
    ) throws {
        guard (1...Self.maximumQuantity).contains(quantity) else {
            throw ReturnsModelError(
                code: .invalidQuantity,
                message: "invalid quantity \(quantity): expected 1...\(Self.maximumQuantity)"
            )
        }
        self.id = id
        self.storeID = storeID
        self.kioskID = kioskID
        self.orderID = orderID
        self.gtin = gtin
        self.serial = serial
        self.lot = lot
        self.expiry = expiry
        self.recallCampaign = recallCampaign
        self.recallMatch = recallCampaign == nil ? nil : recallMatch
        self.quantity = quantity
        self.reason = reason
        self.status = status
        self.condition = condition
        self.testResult = testResult
        self.disposition = disposition
        self.notes = notes
        self.repair = repair
        self.handoff = handoff
        self.receipt = receipt
        self.customerRef = customerRef
        self.verification = verification
        self.exceptions = exceptions.sorted()
        self.review = review
        self.refund = refund
        self.vendorShipment = vendorShipment
        self.vendorCredit = vendorCredit
        self.attachments = attachments
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// Throws unless every value of this return is one this release knows: a return holding a newer release's
    /// value (``newerValues``) is changed only by a replica that knows what the value means.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/newerValue`` naming the field and the value.
    public func requireKnownValues() throws {
        guard let (field, value) = newerValues.min(by: { $0.key < $1.key }) else { return }
        throw ReturnsModelError(
            code: .newerValue,
            message: "return \(id) holds \(field) '\(value)', a value of a newer release: it is kept and shown, "
                + "but only a replica that knows it may change this return; upgrade this one"
        )
    }

    /// Whether the return has reached a state the lifecycle rules do not allow, which only a merge of
    /// concurrent edits can produce; such a return needs review by a person.
    public var needsReview: Bool { !ReturnRules.violations(of: self).isEmpty }

    /// Whether the return waits in HQ's review queue: it has exceptions no decision has covered yet, and is not
    /// voided.
    public var awaitsReview: Bool {
        guard status != .voided, !exceptions.isEmpty else { return false }
        guard let review else { return true }
        return !Set(exceptions).isSubset(of: review.exceptions)
    }
}

/// A recall campaign a unit matches, and how surely: the two recall fields of a return, written together.
public struct RecallFlag: Hashable, Sendable {
    public var campaign: String
    public var match: RecallCampaign.Match

    /// Creates a flag.
    public init(campaign: String, match: RecallCampaign.Match) {
        self.campaign = campaign
        self.match = match
    }
}

/// What one operation changed on a return: the fields it wrote and the notes it added.
///
/// Every field that is not `nil` was written by the operation, even when the value did not change: writing a field
/// is what resolves a conflict on it.
public struct ReturnUpdate: Hashable, Sendable {
    /// The new status, if the operation wrote it.
    public var status: ReturnStatus?
    /// The new condition, if the operation wrote it.
    public var condition: ItemCondition?
    /// The new test result, if the operation wrote it.
    public var testResult: TestResult?
    /// The new disposition, if the operation wrote it.
    public var disposition: Disposition?
    /// Texts of notes the operation added.
    public var addedNotes: [String]
    /// The repair record, if the operation wrote it.
    public var repair: RepairRecord?
    /// The custody hand-off, if the operation wrote it.
    public var handoff: CustodyHandoff?
    /// The purchase verification, if the operation wrote it (HQ re-verifying).
    public var verification: PurchaseVerification?
    /// The exceptions, if the operation wrote them (an empty list clears them).
    public var exceptions: [ReturnException]?
    /// HQ's review decision, if the operation wrote it.
    public var review: ReviewDecision?
    /// The recall campaign the unit was found to match after its capture, and how surely.
    public var recall: RecallFlag?
    /// The refund, if the operation decided it.
    public var refund: Refund?
    /// The vendor RMA and shipment, if the operation wrote it.
    public var vendorShipment: VendorShipment?
    /// The vendor's credit, if the operation wrote it.
    public var vendorCredit: VendorCredit?
    /// Photos and documents the operation attached.
    public var addedAttachments: [Attachment] = []

    /// Creates an update.
    public init(
        status: ReturnStatus? = nil,
        condition: ItemCondition? = nil,
        testResult: TestResult? = nil,
        disposition: Disposition? = nil,
        addedNotes: [String] = [],
        repair: RepairRecord? = nil,
        handoff: CustodyHandoff? = nil,
        verification: PurchaseVerification? = nil,
        exceptions: [ReturnException]? = nil,
        review: ReviewDecision? = nil,
        recall: RecallFlag? = nil,
        refund: Refund? = nil,
        vendorShipment: VendorShipment? = nil,
        vendorCredit: VendorCredit? = nil
    ) {
        self.status = status
        self.condition = condition
        self.testResult = testResult
        self.disposition = disposition
        self.addedNotes = addedNotes
        self.repair = repair
        self.handoff = handoff
        self.verification = verification
        self.exceptions = exceptions
        self.review = review
        self.recall = recall
        self.refund = refund
        self.vendorShipment = vendorShipment
        self.vendorCredit = vendorCredit
    }
}

extension ProductReturn {
    /// Records the inspection of the item.
    ///
    /// Allowed while the return is received, inspected (re-inspection) or dispositioned, as long as the current
    /// disposition stays allowed for the new findings. The status becomes `inspected` unless it is already further.
    ///
    /// - Throws: ``ReturnsModelError`` when the return is closed or voided, `condition` is `unknown`, or the
    ///   current disposition would no longer be allowed.
    @discardableResult
    public mutating func inspect(
        condition: ItemCondition,
        testResult: TestResult = .notTested,
        note: String? = nil,
        by author: String,
        at date: Date
    ) throws -> ReturnUpdate {
        try ReturnRules.requireEditable(self)
        guard condition != .unknown else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid condition 'unknown' for an inspection: expected one of "
                    + ItemCondition.allCases.filter { $0 != .unknown }.map(\.rawValue).joined(separator: ", ")
            )
        }
        if status == .dispositioned,
            let problem = ReturnRules.problem(
                with: disposition,
                condition: condition,
                testResult: testResult,
                reason: reason,
                recallMatch: recallMatch
            )
        {
            throw ReturnsModelError(
                code: .dispositionNotAllowed,
                message: "return \(id) is dispositioned to \(disposition.rawValue), which \(problem); "
                    + "change the disposition before recording this inspection"
            )
        }
        var update = ReturnUpdate(condition: condition, testResult: testResult)
        if status == .received { update.status = .inspected }
        try update.addedNotes = Self.validatedNotes(note)
        try apply(update, by: author, at: date)
        return update
    }

    /// Routes the item: restock, repackage, repair, return to vendor, recycle, dispose or quarantine.
    ///
    /// Allowed once the return is inspected; a dispositioned return can be re-routed. The status becomes
    /// `dispositioned`.
    ///
    /// - Throws: ``ReturnsModelError`` when the return is not inspected, is closed or voided, `disposition` is
    ///   `undecided`, or the disposition is not allowed for the item (see ``ReturnRules``).
    @discardableResult
    public mutating func assignDisposition(
        _ disposition: Disposition,
        note: String? = nil,
        by author: String,
        at date: Date
    ) throws -> ReturnUpdate {
        try ReturnRules.requireEditable(self)
        if disposition == .undecided { _ = try Disposition.parseRoutable(disposition.rawValue) }
        guard status == .inspected || status == .dispositioned else {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) is \(status.rawValue): inspect it before choosing a disposition"
            )
        }
        if let problem = ReturnRules.problem(
            with: disposition,
            condition: condition,
            testResult: testResult,
            reason: reason,
            recallMatch: recallMatch
        ) {
            throw ReturnsModelError(
                code: .dispositionNotAllowed,
                message: "disposition '\(disposition.rawValue)' is not allowed for return \(id): \(problem)"
            )
        }
        var update = ReturnUpdate(status: .dispositioned, disposition: disposition)
        try update.addedNotes = Self.validatedNotes(note)
        try apply(update, by: author, at: date)
        return update
    }

    /// Closes the return: the item has been handled as dispositioned. A closed return can no longer be edited.
    ///
    /// - Throws: ``ReturnsModelError`` when the return has no disposition yet, or is already closed or voided, or
    ///   the note is blank or too long.
    @discardableResult
    public mutating func close(note: String? = nil, by author: String = "", at date: Date) throws -> ReturnUpdate {
        try ReturnRules.requireEditable(self)
        guard status == .dispositioned else {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) is \(status.rawValue): only a dispositioned return can be closed"
            )
        }
        if disposition == .recycle || disposition == .dispose, handoff == nil {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) is to be \(disposition == .recycle ? "recycled" : "disposed of"): record the "
                    + "hand-off (who took it, manifest or certificate, weight or count, date) before closing it"
            )
        }
        let update = try ReturnUpdate(status: .closed, addedNotes: Self.validatedNotes(note))
        try apply(update, by: author, at: date)
        return update
    }

    /// Voids the return (captured by mistake, customer changed their mind); the note says why.
    ///
    /// - Throws: ``ReturnsModelError`` when the note is blank, or the return is already closed or voided.
    @discardableResult
    public mutating func void(note: String, by author: String, at date: Date) throws -> ReturnUpdate {
        try ReturnRules.requireEditable(self)
        let update = try ReturnUpdate(status: .voided, addedNotes: Self.validatedNotes(note))
        try apply(update, by: author, at: date)
        return update
    }

    /// Adds a note. Notes are annotations, not edits: they can be added in every status, closed and voided
    /// included, so the audit trail can always be completed.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidNote`` when the note is blank or too long.
    @discardableResult
    public mutating func addNote(_ text: String, by author: String, at date: Date) throws -> ReturnUpdate {
        let update = try ReturnUpdate(addedNotes: Self.validatedNotes(text))
        try apply(update, by: author, at: date)
        return update
    }

    /// Records where a return routed to repair stands: the repairer, the status, when it was sent and came back.
    ///
    /// Editable at the kiosk and at HQ while the return is routed to repair and not closed or voided.
    @discardableResult
    public mutating func recordRepair(
        _ repair: RepairRecord,
        note: String? = nil,
        by author: String = "",
        at date: Date
    ) throws -> ReturnUpdate {
        try ReturnRules.requireEditable(self)
        guard disposition == .repair else {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) is routed to \(disposition.rawValue), not repair: route it to repair first"
            )
        }
        let update = try ReturnUpdate(addedNotes: Self.validatedNotes(note), repair: repair)
        try apply(update, by: author, at: date)
        return update
    }

    /// Records who took an item to recycle or dispose of, with the manifest or certificate: the chain of custody.
    @discardableResult
    public mutating func recordHandoff(
        _ handoff: CustodyHandoff,
        note: String? = nil,
        by author: String = "",
        at date: Date
    ) throws -> ReturnUpdate {
        try ReturnRules.requireEditable(self)
        guard disposition == .recycle || disposition == .dispose else {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) is routed to \(disposition.rawValue): a hand-off is for recycle or dispose"
            )
        }
        let update = try ReturnUpdate(addedNotes: Self.validatedNotes(note), handoff: handoff)
        try apply(update, by: author, at: date)
        return update
    }

    /// Records what HQ's re-verification found. Like notes, this is an annotation rather than an edit of the item:
    /// it is allowed in every status, so HQ can flag a return that was closed before its duplicate turned up.
    ///
    /// - Returns: the update, or `nil` when the return already shows this verification and these exceptions (so
    ///   re-verifying writes nothing and syncs nothing).
    public mutating func recordVerification(
        _ verification: PurchaseVerification?,
        exceptions: [ReturnException],
        at date: Date
    ) throws -> ReturnUpdate? {
        let sorted = exceptions.sorted()
        let newVerification = verification == self.verification ? nil : verification
        let newExceptions = sorted == self.exceptions ? nil : sorted
        // A return holding a newer release's value is that release's to verify (``requireKnownValues()``).
        guard newVerification != nil || newExceptions != nil, newerValues.isEmpty else { return nil }
        let update = ReturnUpdate(verification: newVerification, exceptions: newExceptions)
        try apply(update, by: "", at: date)
        return update
    }

    /// Records HQ's decision on the return's exceptions: approved (the return stands) or rejected.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/returnVoided`` for a voided return,
    ///   ``ReturnsModelError/Code-swift.struct/invalidTransition`` when the return is not waiting for a review.
    @discardableResult
    public mutating func decideReview(
        _ outcome: ReviewDecision.Outcome,
        note: String?,
        at date: Date
    ) throws -> ReturnUpdate {
        try requireKnownValues()
        guard status != .voided else {
            throw ReturnsModelError(
                code: .returnVoided,
                message: "return \(id) is voided: a voided return is not a returned unit and needs no review"
            )
        }
        guard awaitsReview else {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) is not waiting for a review"
                    + (exceptions.isEmpty ? ": it has no exceptions" : ": its exceptions were reviewed already")
            )
        }
        let update = ReturnUpdate(review: try ReviewDecision(outcome: outcome, note: note, exceptions: exceptions))
        try apply(update, by: "", at: date)
        return update
    }

    /// Records the refund: what the customer gets back, how, and the restocking fee kept. A refund is decided once;
    /// allowed in every status but voided (the money is often paid after the item was handled).
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/returnVoided`` for a voided return,
    ///   ``ReturnsModelError/Code-swift.struct/invalidTransition`` when it was refunded already.
    @discardableResult
    public mutating func decideRefund(
        _ refund: Refund,
        note: String? = nil,
        by author: String,
        at date: Date
    ) throws -> ReturnUpdate {
        try requireKnownValues()
        guard status != .voided else {
            throw ReturnsModelError(code: .returnVoided, message: "return \(id) is voided: nothing is refunded")
        }
        if let decided = self.refund {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "return \(id) was refunded already (\(decided.currency.format(decided.amountMinor)) "
                    + "\(decided.currency) by \(decided.method.rawValue)): a refund is decided once"
            )
        }
        var decided = refund
        decided.decidedBy = author
        let update = try ReturnUpdate(addedNotes: Self.validatedNotes(note), refund: decided)
        try apply(update, by: author, at: date)
        return update
    }

    /// Flags a return captured before `campaign` reached this replica, when its unit matches: the recall fields are
    /// written and a note says what was done, by `author`.
    ///
    /// An open return is handled as a capture would have been: a certain match is quarantined, and so is an
    /// uncertain one already routed where a recalled unit may not go (restock, repackage, repair); otherwise an
    /// uncertain match is held for inspection (the rules keep it from those routes). A closed return is only
    /// flagged — the item has left — and its note says where it went; a restocked, repackaged or repaired one is a
    /// recall alert (HQ's `recall alerts`). Like a note, the flag is allowed in every status but voided.
    ///
    /// - Returns: the update, or `nil` when the unit does not match, the campaign is closed, the return is voided, or
    ///   it is flagged already (by this campaign or another), or it holds a newer release's value (``newerValues``).
    public mutating func flagRecall(
        _ campaign: RecallCampaign,
        by author: String,
        at date: Date
    ) throws -> ReturnUpdate? {
        // A return holding a newer release's value is left to a replica that knows it (the server, upgraded first).
        guard recallCampaign == nil, status != .voided, newerValues.isEmpty,
            let match = campaign.match(gtin: gtin, lot: lot, serial: serial)
        else { return nil }
        var update = ReturnUpdate(recall: RecallFlag(campaign: campaign.id, match: match))
        let what: String
        if status == .closed {
            what = "the return was closed: " + whereItWent
        } else if match == .certain
            || ReturnRules.problem(
                with: disposition,
                condition: condition,
                testResult: testResult,
                reason: reason,
                recallMatch: match
            ) != nil
        {
            update.disposition = .quarantine
            if status != .received { update.status = .dispositioned }
            what =
                disposition == .undecided || disposition == .quarantine
                ? "quarantined" : "quarantined (it was routed to \(disposition.rawValue))"
        } else {
            what = "held for inspection: its lot or serial decides"
        }
        update.addedNotes = ["Recall \(campaign.id) (\(match.rawValue) match) found after capture; \(what)."]
        try apply(update, by: author, at: date)
        return update
    }

    /// Where a closed return's item went, in words.
    var whereItWent: String {
        switch disposition {
        case .restock: return "the unit was restocked: it is back on sale"
        case .repackage: return "the unit was repackaged: it is back on sale"
        case .repair: return "the unit went for repair" + (repair.map { " at \($0.vendor)" } ?? "")
        case .returnToVendor: return "the unit went back to the vendor"
        case .recycle, .dispose:
            return "the unit was \(disposition == .recycle ? "recycled" : "disposed of")"
                + (handoff.map { " (handed to \($0.party), \($0.document))" } ?? "")
        case .quarantine: return "the unit is in quarantine"
        case .undecided: return "no disposition was recorded"
        }
    }

    /// Whether the return is a recall alert: its unit matched a recall but was restocked, repackaged or sent for
    /// repair — it may be back with a customer.
    public var isRecallAlert: Bool {
        recallCampaign != nil && status != .voided && Self.recallAlertDispositions.contains(disposition)
    }

    /// Where a recalled unit may have gone back to a customer: a flagged return routed here is a recall alert.
    public static let recallAlertDispositions: [Disposition] = [.restock, .repackage, .repair]

    /// Applies an update made elsewhere (or by the operations above) without checking the lifecycle rules.
    public mutating func apply(_ update: ReturnUpdate, by author: String, at date: Date) throws {
        if let status = update.status { self.status = status }
        if let condition = update.condition { self.condition = condition }
        if let testResult = update.testResult { self.testResult = testResult }
        if let disposition = update.disposition { self.disposition = disposition }
        if let repair = update.repair { self.repair = repair }
        if let handoff = update.handoff { self.handoff = handoff }
        if let verification = update.verification { self.verification = verification }
        if let exceptions = update.exceptions { self.exceptions = exceptions.sorted() }
        if let review = update.review { self.review = review }
        if let refund = update.refund { self.refund = refund }
        if let shipment = update.vendorShipment { vendorShipment = shipment }
        if let credit = update.vendorCredit { vendorCredit = credit }
        if let recall = update.recall {
            recallCampaign = recall.campaign
            recallMatch = recall.match
        }
        for text in update.addedNotes {
            notes.append(try ReturnNote(text: text, author: author, createdAt: date))
        }
        attachments += update.addedAttachments
        updatedAt = max(updatedAt, date)
    }

    static func validatedNotes(_ note: String?) throws -> [String] {
        guard let note else { return [] }
        try ReturnNote.validate(note)
        return [note]
    }
}
