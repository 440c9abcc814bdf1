import Foundation
import ReturnsModel
import SyncEngine

/// The JSON form of a return, as `--json` output prints it and NDJSON import and export carry it.
///
/// Keys are camelCase; times are ISO 8601 in UTC with milliseconds; `clock` maps replica ids to counters. Export
/// adds `record`, the full replicated record with every value's dot, so an export imports back without loss.
///
/// ```json
/// {"id": "019a…", "storeId": "store-12", "kioskId": "kiosk-a", "orderId": "ORD-1", "gtin": "04006381333931",
///  "serial": null, "lot": null, "quantity": 1, "reason": "defective", "status": "received",
///  "condition": "unknown", "testResult": "not-tested", "disposition": "undecided", "notes": [],
///  "createdAt": "2026-11-29T17:09:17.123Z", "updatedAt": "2026-11-29T17:09:17.123Z",
///  "clock": {"store-12/kiosk-a": 1}, "needsReview": false, "conflicts": []}
/// ```
public struct ReturnDocument: Hashable, Sendable {
    /// A note in JSON form.
    public struct Note: Hashable, Sendable, Codable {
        public var text: String
        public var author: String?
        public var createdAt: Date?

        /// Creates a note.
        public init(text: String, author: String? = nil, createdAt: Date? = nil) {
            self.text = text
            self.author = author
            self.createdAt = createdAt
        }
    }

    /// A repair, as JSON.
    public struct Repair: Hashable, Sendable, Codable {
        public var vendor: String
        public var status: String
        public var sentOn: String
        public var backOn: String?
        public var turnaroundDays: Int?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(vendor, forKey: .vendor)
            try container.encode(status, forKey: .status)
            try container.encode(sentOn, forKey: .sentOn)
            try container.encode(backOn, forKey: .backOn)
            try container.encode(turnaroundDays, forKey: .turnaroundDays)
        }

        enum CodingKeys: String, CodingKey { case vendor, status, sentOn, backOn, turnaroundDays }
    }

    /// A custody hand-off, as JSON.
    public struct Handoff: Hashable, Sendable, Codable {
        public var party: String
        public var document: String
        public var weightGrams: Int?
        public var count: Int?
        public var handedOverOn: String

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(party, forKey: .party)
            try container.encode(document, forKey: .document)
            try container.encode(weightGrams, forKey: .weightGrams)
            try container.encode(count, forKey: .count)
            try container.encode(handedOverOn, forKey: .handedOverOn)
        }

        enum CodingKeys: String, CodingKey { case party, document, weightGrams, count, handedOverOn }
    }

    /// HQ's decision on a return's exceptions, as JSON.
    public struct Review: Hashable, Sendable, Codable {
        /// `approved` or `rejected`.
        public var outcome: String
        public var note: String?
        /// The exceptions the decision covered.
        public var exceptions: [String]

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(outcome, forKey: .outcome)
            try container.encode(note, forKey: .note)
            try container.encode(exceptions, forKey: .exceptions)
        }

        enum CodingKeys: String, CodingKey { case outcome, note, exceptions }
    }

    /// A refund, as JSON: amounts as whole minor units and as decimal text in the currency's digits, never
    /// floating point.
    public struct RefundDocument: Hashable, Sendable, Codable {
        public var amountMinor: Int64
        public var feeMinor: Int64
        public var currency: String
        /// `amountMinor` as decimal text, `19.99`.
        public var amount: String
        /// `feeMinor` as decimal text.
        public var fee: String
        public var method: String
        public var exchangeGtin: String?
        public var reason: String?
        /// The replica that decided it.
        public var decidedBy: String?

        /// The document of a refund.
        public init(_ refund: Refund) {
            self.init(
                amountMinor: refund.amountMinor,
                feeMinor: refund.feeMinor,
                currency: refund.currency.code,
                amount: refund.currency.format(refund.amountMinor),
                fee: refund.currency.format(refund.feeMinor),
                method: refund.method.rawValue,
                exchangeGtin: refund.exchangeGTIN?.digits,
                reason: refund.reason,
                decidedBy: refund.decidedBy
            )
        }

        /// Creates a document from its values.
        public init(
            amountMinor: Int64,
            feeMinor: Int64,
            currency: String,
            amount: String,
            fee: String,
            method: String,
            exchangeGtin: String?,
            reason: String?,
            decidedBy: String?
        ) {
            self.amountMinor = amountMinor
            self.feeMinor = feeMinor
            self.currency = currency
            self.amount = amount
            self.fee = fee
            self.method = method
            self.exchangeGtin = exchangeGtin
            self.reason = reason
            self.decidedBy = decidedBy
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(amountMinor, forKey: .amountMinor)
            try container.encode(feeMinor, forKey: .feeMinor)
            try container.encode(currency, forKey: .currency)
            try container.encode(amount, forKey: .amount)
            try container.encode(fee, forKey: .fee)
            try container.encode(method, forKey: .method)
            try container.encode(exchangeGtin, forKey: .exchangeGtin)
            try container.encode(reason, forKey: .reason)
            try container.encode(decidedBy, forKey: .decidedBy)
        }

        enum CodingKeys: String, CodingKey {
            case amountMinor, feeMinor, currency, amount, fee, method, exchangeGtin, reason, decidedBy
        }
    }

    /// A vendor claim, as JSON: the RMA and shipment, and the credit once received.
    public struct VendorClaimDocument: Hashable, Sendable, Codable {
        public var rma: String?
        public var carrier: String?
        public var tracking: String?
        public var shippedOn: String?
        /// Minor units, or `nil` until the credit is received.
        public var creditMinor: Int64?
        /// `creditMinor` as decimal text in the currency's digits.
        public var credit: String?
        public var creditCurrency: String?
        public var creditOn: String?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(rma, forKey: .rma)
            try container.encode(carrier, forKey: .carrier)
            try container.encode(tracking, forKey: .tracking)
            try container.encode(shippedOn, forKey: .shippedOn)
            try container.encode(creditMinor, forKey: .creditMinor)
            try container.encode(credit, forKey: .credit)
            try container.encode(creditCurrency, forKey: .creditCurrency)
            try container.encode(creditOn, forKey: .creditOn)
        }

        enum CodingKeys: String, CodingKey {
            case rma, carrier, tracking, shippedOn, creditMinor, credit, creditCurrency, creditOn
        }
    }

    /// A photo or document of the return (output only): its digest and what it is, and the write that added it.
    public struct AttachmentDocument: Hashable, Sendable, Codable {
        public var digest: String
        public var mediaType: String
        public var size: Int64
        public var caption: String?
        /// The replica it was attached at, and its write there.
        public var replica: String
        public var counter: UInt64
        public var at: Date
    }

    /// Who made an edit (output only).
    public struct EditDocument: Hashable, Sendable, Codable {
        /// The operator's id.
        public var operatorId: String
        /// The replica the edit was made at, and its write there.
        public var replica: String
        public var counter: UInt64
        public var at: Date
    }

    public var id: String?
    public var storeId: String?
    public var kioskId: String?
    public var orderId: String?
    public var gtin: String?
    public var serial: String?
    public var lot: String?
    /// `YYYY-MM-DD`, or `nil` when the barcode carried none.
    public var expiry: String?
    /// The recall campaign matched at capture, or `nil`.
    public var recallCampaign: String?
    /// `certain` or `uncertain`, or `nil`.
    public var recallMatch: String?
    public var quantity: Int?
    public var reason: String?
    public var status: String?
    public var condition: String?
    public var testResult: String?
    public var disposition: String?
    public var notes: [Note]?
    public var createdAt: Date?
    public var updatedAt: Date?
    /// Replica id → counter.
    public var clock: [String: UInt64]?
    /// Whether the merged state breaks a lifecycle rule (output only).
    public var needsReview: Bool?
    /// Fields in conflict (output only).
    public var conflicts: [String]?
    /// The full replicated record (export only).
    public var record: VersionedRecord?
    /// The repair, when routed to repair (output; imported only through `record`).
    public var repair: Repair?
    /// The custody hand-off (output; imported only through `record`).
    public var handoff: Handoff?
    /// Whether the customer showed a receipt (output; imported only through `record`).
    public var receipt: Bool?
    /// The customer's reference as stored (output; imported only through `record`).
    public var customerRef: String?
    /// The purchase verification: `verified`, `not-found`, `outside-window`, `quantity-exceeded` or `unverified`
    /// (output; imported only through `record`).
    public var verification: String?
    /// Why the return needs HQ's review (output; imported only through `record`).
    public var exceptions: [String]?
    /// HQ's review decision (output; imported only through `record`).
    public var review: Review?
    /// The refund, once decided (output; imported only through `record`).
    public var refund: RefundDocument?
    /// The vendor claim, once an RMA or a credit is recorded (output; imported only through `record`).
    public var vendorClaim: VendorClaimDocument?
    /// Who made the edits an operator was named for, oldest first (output only).
    public var edits: [EditDocument]?
    /// Photos and documents, oldest first (output only).
    public var attachments: [AttachmentDocument]?

    /// Creates an empty document; set the keys you need.
    public init() {}

    /// The document of a stored return, as every replica shows it.
    ///
    /// - Parameter includeRecord: whether to carry the full record with its dots (export does).
    public init(record: VersionedRecord, includeRecord: Bool = false) throws {
        let item = try ProductReturn(record: record)
        id = item.id.rawValue
        storeId = item.storeID.rawValue
        kioskId = item.kioskID.rawValue
        orderId = item.orderID.rawValue
        gtin = item.gtin.digits
        serial = item.serial?.rawValue
        lot = item.lot?.rawValue
        expiry = item.expiry
        recallCampaign = item.recallCampaign
        // A newer release's value is shown as it is spelled (``ProductReturn/newerValues``).
        let newer = item.newerValues
        recallMatch = newer[ReturnEntity.Field.recallMatch] ?? item.recallMatch?.rawValue
        quantity = item.quantity
        reason = newer[ReturnEntity.Field.reason] ?? item.reason.rawValue
        status = newer[ReturnEntity.Field.status] ?? item.status.rawValue
        condition = newer[ReturnEntity.Field.condition] ?? item.condition.rawValue
        testResult = newer[ReturnEntity.Field.testResult] ?? item.testResult.rawValue
        disposition = newer[ReturnEntity.Field.disposition] ?? item.disposition.rawValue
        notes = item.notes.map { Note(text: $0.text, author: $0.author, createdAt: $0.createdAt) }
        createdAt = item.createdAt
        updatedAt = item.updatedAt
        var counters: [String: UInt64] = [:]
        for (replica, counter) in record.clock.counters { counters[replica.rawValue] = counter }
        clock = counters
        needsReview = item.needsReview
        conflicts = record.openConflicts(policy: ReturnEntity.policy).map(\.field)
        self.record = includeRecord ? record : nil
        repair = item.repair.map {
            Repair(
                vendor: $0.vendor,
                status: newer[ReturnEntity.Field.repairStatus] ?? $0.status.rawValue,
                sentOn: $0.sentOn,
                backOn: $0.backOn,
                turnaroundDays: $0.turnaroundDays
            )
        }
        receipt = item.receipt
        customerRef = item.customerRef?.rawValue
        verification = newer[ReturnEntity.Field.verification] ?? item.verification?.rawValue
        exceptions = item.exceptions.map(\.rawValue)
        review = item.review.map {
            Review(outcome: $0.outcome.rawValue, note: $0.note, exceptions: $0.exceptions.map(\.rawValue))
        }
        if let outcome = newer[ReturnEntity.Field.reviewOutcome] {
            review = Review(
                outcome: outcome,
                note: record.visibleValue(of: ReturnEntity.Field.reviewNote, policy: ReturnEntity.policy)?.value
                    .stringValue,
                exceptions: []
            )
        }
        refund = item.refund.map(RefundDocument.init)
        if let method = newer[ReturnEntity.Field.refundMethod] { refund?.method = method }
        edits = ReturnEdit.history(of: record).map {
            EditDocument(operatorId: $0.operatorID, replica: $0.replica, counter: $0.counter, at: $0.at)
        }
        attachments = record.elements(of: ReturnEntity.Field.attachments)
            .sorted { ($0.stamp, $0.dot) < ($1.stamp, $1.dot) }
            .compactMap { element in
                guard let attachment = element.value.stringValue.flatMap({ try? Attachment(element: $0) }) else {
                    return nil
                }
                return AttachmentDocument(
                    digest: attachment.digest,
                    mediaType: attachment.mediaType.rawValue,
                    size: attachment.size,
                    caption: attachment.caption,
                    replica: element.dot.replica.rawValue,
                    counter: element.dot.counter,
                    at: ReturnEntity.date(of: element.stamp)
                )
            }
        if item.vendorShipment != nil || item.vendorCredit != nil {
            vendorClaim = VendorClaimDocument(
                rma: item.vendorShipment?.rma,
                carrier: item.vendorShipment?.carrier,
                tracking: item.vendorShipment?.tracking,
                shippedOn: item.vendorShipment?.shippedOn,
                creditMinor: item.vendorCredit?.amountMinor,
                credit: item.vendorCredit.map { $0.currency.format($0.amountMinor) },
                creditCurrency: item.vendorCredit?.currency.code,
                creditOn: item.vendorCredit?.receivedOn
            )
        }
        handoff = item.handoff.map {
            Handoff(
                party: $0.party,
                document: $0.document,
                weightGrams: $0.weightGrams,
                count: $0.count,
                handedOverOn: $0.handedOverOn
            )
        }
    }

    /// The keys a document may have; anything else is refused on input, since it is most likely a typo.
    public static let knownKeys: Set<String> = Set(CodingKeys.allCases.map(\.rawValue))
}

extension ReturnDocument: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, storeId, kioskId, orderId, gtin, serial, lot, expiry, recallCampaign, recallMatch, quantity, reason
        case status, condition, testResult
        case disposition, notes, createdAt, updatedAt, clock, needsReview, conflicts, record, repair, handoff
        case receipt, verification, exceptions, review, refund, vendorClaim, edits, customerRef, attachments
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys
        if let unknown = keys.first(where: { !Self.knownKeys.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: [unknown],
                    debugDescription:
                        "unknown key '\(unknown.stringValue)': expected \(CodingKeys.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            )
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        storeId = try container.decodeIfPresent(String.self, forKey: .storeId)
        kioskId = try container.decodeIfPresent(String.self, forKey: .kioskId)
        orderId = try container.decodeIfPresent(String.self, forKey: .orderId)
        gtin = try container.decodeIfPresent(String.self, forKey: .gtin)
        serial = try container.decodeIfPresent(String.self, forKey: .serial)
        lot = try container.decodeIfPresent(String.self, forKey: .lot)
        expiry = try container.decodeIfPresent(String.self, forKey: .expiry)
        recallCampaign = try container.decodeIfPresent(String.self, forKey: .recallCampaign)
        recallMatch = try container.decodeIfPresent(String.self, forKey: .recallMatch)
        quantity = try container.decodeIfPresent(Int.self, forKey: .quantity)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        status = try container.decodeIfPresent(String.self, forKey: .status)
        condition = try container.decodeIfPresent(String.self, forKey: .condition)
        testResult = try container.decodeIfPresent(String.self, forKey: .testResult)
        disposition = try container.decodeIfPresent(String.self, forKey: .disposition)
        notes = try container.decodeIfPresent([Note].self, forKey: .notes)
        createdAt = try container.decodeIfPresent(Date.self, forKey: .createdAt)
        updatedAt = try container.decodeIfPresent(Date.self, forKey: .updatedAt)
        clock = try container.decodeIfPresent([String: UInt64].self, forKey: .clock)
        needsReview = try container.decodeIfPresent(Bool.self, forKey: .needsReview)
        conflicts = try container.decodeIfPresent([String].self, forKey: .conflicts)
        record = try container.decodeIfPresent(VersionedRecord.self, forKey: .record)
        repair = try container.decodeIfPresent(Repair.self, forKey: .repair)
        handoff = try container.decodeIfPresent(Handoff.self, forKey: .handoff)
        receipt = try container.decodeIfPresent(Bool.self, forKey: .receipt)
        verification = try container.decodeIfPresent(String.self, forKey: .verification)
        exceptions = try container.decodeIfPresent([String].self, forKey: .exceptions)
        review = try container.decodeIfPresent(Review.self, forKey: .review)
        refund = try container.decodeIfPresent(RefundDocument.self, forKey: .refund)
        vendorClaim = try container.decodeIfPresent(VendorClaimDocument.self, forKey: .vendorClaim)
        edits = try container.decodeIfPresent([EditDocument].self, forKey: .edits)
        attachments = try container.decodeIfPresent([AttachmentDocument].self, forKey: .attachments)
        customerRef = try container.decodeIfPresent(String.self, forKey: .customerRef)
    }

    /// Encodes every key of a return, `null` included for a missing serial or lot, so scripts can rely on them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(storeId, forKey: .storeId)
        try container.encode(kioskId, forKey: .kioskId)
        try container.encode(orderId, forKey: .orderId)
        try container.encode(gtin, forKey: .gtin)
        try container.encode(serial, forKey: .serial)
        try container.encode(lot, forKey: .lot)
        try container.encode(expiry, forKey: .expiry)
        try container.encode(recallCampaign, forKey: .recallCampaign)
        try container.encode(recallMatch, forKey: .recallMatch)
        try container.encode(quantity, forKey: .quantity)
        try container.encode(reason, forKey: .reason)
        try container.encode(status, forKey: .status)
        try container.encode(condition, forKey: .condition)
        try container.encode(testResult, forKey: .testResult)
        try container.encode(disposition, forKey: .disposition)
        try container.encode(notes ?? [], forKey: .notes)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(clock ?? [:], forKey: .clock)
        try container.encodeIfPresent(needsReview, forKey: .needsReview)
        try container.encodeIfPresent(conflicts, forKey: .conflicts)
        try container.encodeIfPresent(record, forKey: .record)
        try container.encode(repair, forKey: .repair)
        try container.encode(handoff, forKey: .handoff)
        try container.encode(receipt ?? true, forKey: .receipt)
        try container.encode(verification, forKey: .verification)
        try container.encode(exceptions ?? [], forKey: .exceptions)
        try container.encode(review, forKey: .review)
        try container.encode(refund, forKey: .refund)
        try container.encode(vendorClaim, forKey: .vendorClaim)
        try container.encode(edits ?? [], forKey: .edits)
        try container.encode(attachments ?? [], forKey: .attachments)
        try container.encode(customerRef, forKey: .customerRef)
    }
}

extension ReturnDocument {
    /// A JSON encoder for documents: ISO 8601 times with milliseconds, sorted keys for stable output.
    public static func makeEncoder(prettyPrinted: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            prettyPrinted
            ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(ISO8601Milliseconds.format(date))
        }
        return encoder
    }

    /// A JSON decoder for documents: accepts ISO 8601 times with or without fractional seconds.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = ISO8601Milliseconds.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "invalid time '\(text)': expected ISO 8601 such as 2026-11-29T17:09:17.123Z"
                )
            }
            return date
        }
        return decoder
    }
}

/// ISO 8601 in UTC with milliseconds, the one time format of the JSON forms.
public enum ISO8601Milliseconds {
    /// The UTC day of `date`, `2026-11-29`.
    public static func day(of date: Date) -> String {
        String(format(date).prefix(10))
    }

    /// Formats `date` as `2026-11-29T17:09:17.123Z`.
    public static func format(_ date: Date) -> String {
        // Civil-from-days (H. Hinnant): exact for every date, and far cheaper than a formatter per call.
        let millis = date.millisecondsSince1970
        let (days, msOfDay) = millis.quotientAndRemainder(dividingBy: 86_400_000)
        let dayNumber = msOfDay < 0 ? days - 1 : days
        let dayMillis = msOfDay < 0 ? msOfDay + 86_400_000 : msOfDay
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(dayMillis / 3_600_000, 2)):"
            + "\(pad(dayMillis / 60_000 % 60, 2)):\(pad(dayMillis / 1000 % 60, 2)).\(pad(dayMillis % 1000, 3))Z"
    }

    /// Parses ISO 8601 with or without fractional seconds, in UTC (`Z`) or with an offset.
    ///
    /// Impossible calendar dates (February 30) are refused rather than rolled over into the next month.
    public static func parse(_ text: String) -> Date? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 20, isValidCalendarDate(utf8) else { return nil }
        if utf8.count == 24, utf8.last == UInt8(ascii: "Z") { return parseCanonical(text) }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// Whether the `YYYY-MM-DD` prefix names a day that exists.
    private static func isValidCalendarDate(_ bytes: [UInt8]) -> Bool {
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), let year = number(0..<4),
            let month = number(5..<7), let day = number(8..<10), (1...12).contains(month)
        else { return false }
        let isLeap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }
}
