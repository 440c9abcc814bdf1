import Foundation
import ReturnSyncJSON
import ReturnsModel
import SyncEngine

// The fast path to and from the JSON form of a return document, for import and export of many returns. It
// produces and accepts what the `Codable` conformance does; tests hold the two to that.

extension ReturnDocument {
    /// The document as a JSON value, with every key of a return (`null` for a missing serial or lot).
    public var jsonValue: JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func time(_ value: Date?) -> JSONValue { value.map { .string(ISO8601Milliseconds.format($0)) } ?? .null }
        var members: [String: JSONValue] = [
            "id": text(id), "storeId": text(storeId), "kioskId": text(kioskId), "orderId": text(orderId),
            "gtin": text(gtin), "serial": text(serial), "lot": text(lot), "expiry": text(expiry),
            "recallCampaign": text(recallCampaign), "recallMatch": text(recallMatch),
            "quantity": quantity.map { .integer(Int64($0)) } ?? .null,
            "reason": text(reason), "status": text(status), "condition": text(condition),
            "testResult": text(testResult), "disposition": text(disposition),
            "notes": .array(
                (notes ?? []).map { note in
                    .object([
                        "text": .string(note.text), "author": text(note.author), "createdAt": time(note.createdAt),
                    ])
                }
            ),
            "createdAt": time(createdAt), "updatedAt": time(updatedAt),
            "clock": .object((clock ?? [:]).mapValues { .integer(Int64($0)) }),
        ]
        if let needsReview { members["needsReview"] = .bool(needsReview) }
        if let conflicts { members["conflicts"] = .array(conflicts.map(JSONValue.string)) }
        if let record { members["record"] = record.jsonValue }
        func integer(_ value: Int?) -> JSONValue { value.map { .integer(Int64($0)) } ?? .null }
        members["repair"] =
            repair.map {
                .object([
                    "vendor": .string($0.vendor), "status": .string($0.status), "sentOn": .string($0.sentOn),
                    "backOn": text($0.backOn), "turnaroundDays": integer($0.turnaroundDays),
                ])
            } ?? .null
        members["handoff"] =
            handoff.map {
                .object([
                    "party": .string($0.party), "document": .string($0.document),
                    "weightGrams": integer($0.weightGrams),
                    "count": integer($0.count), "handedOverOn": .string($0.handedOverOn),
                ])
            } ?? .null
        members["receipt"] = .bool(receipt ?? true)
        members["customerRef"] = text(customerRef)
        members["verification"] = text(verification)
        members["exceptions"] = .array((exceptions ?? []).map(JSONValue.string))
        members["review"] =
            review.map {
                .object([
                    "outcome": .string($0.outcome), "note": text($0.note),
                    "exceptions": .array($0.exceptions.map(JSONValue.string)),
                ])
            } ?? .null
        members["refund"] =
            refund.map {
                .object([
                    "amountMinor": .integer($0.amountMinor), "feeMinor": .integer($0.feeMinor),
                    "currency": .string($0.currency), "amount": .string($0.amount), "fee": .string($0.fee),
                    "method": .string($0.method), "exchangeGtin": text($0.exchangeGtin), "reason": text($0.reason),
                    "decidedBy": text($0.decidedBy),
                ])
            } ?? .null
        members["edits"] = .array(
            (edits ?? []).map {
                .object([
                    "operatorId": .string($0.operatorId), "replica": .string($0.replica),
                    "counter": .integer(Int64($0.counter)), "at": time($0.at),
                ])
            }
        )
        members["attachments"] = .array(
            (attachments ?? []).map {
                .object([
                    "digest": .string($0.digest), "mediaType": .string($0.mediaType), "size": .integer($0.size),
                    "caption": text($0.caption), "replica": .string($0.replica),
                    "counter": .integer(Int64($0.counter)), "at": time($0.at),
                ])
            }
        )
        members["vendorClaim"] =
            vendorClaim.map {
                .object([
                    "rma": text($0.rma), "carrier": text($0.carrier), "tracking": text($0.tracking),
                    "shippedOn": text($0.shippedOn), "creditMinor": $0.creditMinor.map(JSONValue.integer) ?? .null,
                    "credit": text($0.credit), "creditCurrency": text($0.creditCurrency), "creditOn": text($0.creditOn),
                ])
            } ?? .null
        return .object(members)
    }

    /// Reads a document from a JSON object, refusing unknown keys and values of the wrong type with a message
    /// that names the key.
    public init(jsonValue: JSONValue) throws {
        guard case .object(let members) = jsonValue else {
            throw Self.invalid("a return must be a JSON object, got \(jsonValue.typeName)")
        }
        if let unknown = members.keys.sorted().first(where: { !Self.knownKeys.contains($0) }) {
            throw Self.invalid(
                "unknown key '\(unknown)': expected \(CodingKeys.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        func string(_ key: String) throws -> String? {
            switch members[key] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            case let other?: throw Self.invalid("key '\(key)': expected a string, got \(other.typeName)")
            }
        }
        func time(_ value: JSONValue?, _ key: String) throws -> Date? {
            switch value {
            case nil, .null?: return nil
            case .string(let text)?:
                guard let date = ISO8601Milliseconds.parse(text) else {
                    throw Self.invalid(
                        "key '\(key)': invalid time '\(text)', expected ISO 8601 such as 2026-11-29T17:09:17.123Z"
                    )
                }
                return date
            case let other?: throw Self.invalid("key '\(key)': expected a time string, got \(other.typeName)")
            }
        }
        self.init()
        id = try string("id")
        storeId = try string("storeId")
        kioskId = try string("kioskId")
        orderId = try string("orderId")
        gtin = try string("gtin")
        serial = try string("serial")
        lot = try string("lot")
        expiry = try string("expiry")
        recallCampaign = try string("recallCampaign")
        recallMatch = try string("recallMatch")
        switch members["quantity"] {
        case nil, .null?: quantity = nil
        case .integer(let number)?:
            guard let value = Int(exactly: number) else {
                throw Self.invalid("key 'quantity': \(number) is out of range")
            }
            quantity = value
        case let other?: throw Self.invalid("key 'quantity': expected an integer, got \(other.typeName)")
        }
        reason = try string("reason")
        status = try string("status")
        condition = try string("condition")
        testResult = try string("testResult")
        disposition = try string("disposition")
        createdAt = try time(members["createdAt"], "createdAt")
        updatedAt = try time(members["updatedAt"], "updatedAt")
        switch members["notes"] {
        case nil, .null?: notes = nil
        case .array(let elements)?:
            notes = try elements.enumerated().map { index, element in
                guard case .object(let note) = element, case .string(let text)? = note["text"] else {
                    throw Self.invalid("key 'notes[\(index)]': expected an object with a string 'text'")
                }
                return Note(
                    text: text,
                    author: note["author"]?.stringValue,
                    createdAt: try time(note["createdAt"], "notes[\(index)].createdAt")
                )
            }
        case let other?: throw Self.invalid("key 'notes': expected an array, got \(other.typeName)")
        }
        switch members["clock"] {
        case nil, .null?: clock = nil
        case .object(let entries)?:
            clock = try entries.mapValues { value in
                guard case .integer(let counter) = value, counter >= 0 else {
                    throw Self.invalid("key 'clock': expected non-negative integer counters, got \(value)")
                }
                return UInt64(counter)
            }
        case let other?: throw Self.invalid("key 'clock': expected an object, got \(other.typeName)")
        }
        if case .bool(let flag)? = members["needsReview"] { needsReview = flag }
        if case .array(let fields)? = members["conflicts"] { conflicts = fields.compactMap(\.stringValue) }
        // repair and handoff are output: a line carrying its record brings them in through it.
        if case .object(let repairMembers)? = members["repair"] {
            repair = Repair(
                vendor: repairMembers["vendor"]?.stringValue ?? "",
                status: repairMembers["status"]?.stringValue ?? "",
                sentOn: repairMembers["sentOn"]?.stringValue ?? "",
                backOn: repairMembers["backOn"]?.stringValue,
                turnaroundDays: repairMembers["turnaroundDays"]?.integerValue.map(Int.init)
            )
        }
        if case .object(let handoffMembers)? = members["handoff"] {
            handoff = Handoff(
                party: handoffMembers["party"]?.stringValue ?? "",
                document: handoffMembers["document"]?.stringValue ?? "",
                weightGrams: handoffMembers["weightGrams"]?.integerValue.map(Int.init),
                count: handoffMembers["count"]?.integerValue.map(Int.init),
                handedOverOn: handoffMembers["handedOverOn"]?.stringValue ?? ""
            )
        }
        // receipt, verification, exceptions and review are output too.
        if case .bool(let flag)? = members["receipt"] { receipt = flag }
        verification = try string("verification")
        customerRef = try string("customerRef")
        if case .array(let values)? = members["exceptions"] { exceptions = values.compactMap(\.stringValue) }
        if case .object(let reviewMembers)? = members["review"] {
            review = Review(
                outcome: reviewMembers["outcome"]?.stringValue ?? "",
                note: reviewMembers["note"]?.stringValue,
                exceptions: (reviewMembers["exceptions"]?.arrayValue ?? []).compactMap(\.stringValue)
            )
        }
        if case .object(let refundMembers)? = members["refund"] {
            refund = RefundDocument(
                amountMinor: refundMembers["amountMinor"]?.integerValue ?? 0,
                feeMinor: refundMembers["feeMinor"]?.integerValue ?? 0,
                currency: refundMembers["currency"]?.stringValue ?? "",
                amount: refundMembers["amount"]?.stringValue ?? "",
                fee: refundMembers["fee"]?.stringValue ?? "",
                method: refundMembers["method"]?.stringValue ?? "",
                exchangeGtin: refundMembers["exchangeGtin"]?.stringValue,
                reason: refundMembers["reason"]?.stringValue,
                decidedBy: refundMembers["decidedBy"]?.stringValue
            )
        }
        if case .array(let values)? = members["edits"] {
            edits = values.compactMap { value -> EditDocument? in
                guard case .object(let edit) = value, let operatorID = edit["operatorId"]?.stringValue,
                    let replica = edit["replica"]?.stringValue, let counter = edit["counter"]?.integerValue,
                    let at = edit["at"]?.stringValue.flatMap(ISO8601Milliseconds.parse)
                else { return nil }
                return EditDocument(operatorId: operatorID, replica: replica, counter: UInt64(max(0, counter)), at: at)
            }
        }
        if case .array(let values)? = members["attachments"] {
            attachments = values.compactMap { value -> AttachmentDocument? in
                guard case .object(let member) = value, let digest = member["digest"]?.stringValue,
                    let mediaType = member["mediaType"]?.stringValue, let size = member["size"]?.integerValue,
                    let replica = member["replica"]?.stringValue, let counter = member["counter"]?.integerValue,
                    let at = member["at"]?.stringValue.flatMap(ISO8601Milliseconds.parse)
                else { return nil }
                return AttachmentDocument(
                    digest: digest,
                    mediaType: mediaType,
                    size: size,
                    caption: member["caption"]?.stringValue,
                    replica: replica,
                    counter: UInt64(max(0, counter)),
                    at: at
                )
            }
        }
        if case .object(let claim)? = members["vendorClaim"] {
            vendorClaim = VendorClaimDocument(
                rma: claim["rma"]?.stringValue,
                carrier: claim["carrier"]?.stringValue,
                tracking: claim["tracking"]?.stringValue,
                shippedOn: claim["shippedOn"]?.stringValue,
                creditMinor: claim["creditMinor"]?.integerValue,
                credit: claim["credit"]?.stringValue,
                creditCurrency: claim["creditCurrency"]?.stringValue,
                creditOn: claim["creditOn"]?.stringValue
            )
        }
        if let recordValue = members["record"], recordValue != .null {
            record = try VersionedRecord(jsonValue: recordValue)
        }
    }

    private static func invalid(_ message: String) -> ReturnsModelError {
        ReturnsModelError(code: .invalidValue, message: message)
    }
}

extension ISO8601Milliseconds {
    /// Parses the canonical `YYYY-MM-DDTHH:MM:SS.sssZ` form without a formatter; `nil` for any other form.
    static func parseCanonical(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes[19] == UInt8(ascii: "."), bytes[23] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            let millis = number(20..<23), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60,
            second < 60
        else { return nil }
        // Days-from-civil (H. Hinnant), the inverse of `format`.
        let adjustedYear = month <= 2 ? year - 1 : year
        let era = (adjustedYear >= 0 ? adjustedYear : adjustedYear - 399) / 400
        let yearOfEra = adjustedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let total = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
        let date = Date(millisecondsSince1970: total)
        // Reject impossible dates such as February 30 rather than rolling them over.
        return format(date) == text ? date : nil
    }
}
