import Foundation
import ReturnsModel
import SyncEngine

extension ReturnEntity {
    /// Checks a field this version does not know (a newer replica's), which is kept and forwarded untouched: its
    /// name 1–64 ASCII letters and digits starting with a lower-case letter, as every field's is; a register's value
    /// text of at most 2,000 characters without control characters, an integer, true, false or null; a set's
    /// element text. What it means is the newer version's to check.
    ///
    /// - Throws: ``ReturnsModelError`` naming the field and what is wrong.
    public static func validateUnknown(_ value: FieldValue, of field: String, asSet: Bool) throws {
        let name = field.unicodeScalars
        guard (1...64).contains(name.count), let first = name.first, ("a"..."z").contains(first),
            name.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
        else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "'\(field.prefix(64))' is not a field of a return, nor a name a newer one could have "
                    + "(1-64 letters and digits, starting with a lower-case letter)"
            )
        }
        func refused(_ expected: String) -> ReturnsModelError {
            ReturnsModelError(
                code: .invalidValue,
                message: "unknown field \(field) \(value.jsonValue.serializedString.prefix(80)): expected \(expected)"
            )
        }
        switch value {
        case .string(let text):
            guard text.count <= 2_000,
                !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw refused("text of at most 2,000 characters without control characters") }
        case .integer, .bool, .null:
            guard !asSet else { throw refused("text, as every set element is") }
        }
    }

    /// The fields of a return record this version does not know (a newer replica's), by name, with the values they
    /// hold: registers' shown value (its policy's winner), sets' elements. Kept and forwarded untouched; shown as
    /// "unknown (newer)".
    public static func unknownFields(of record: VersionedRecord) -> [(field: String, values: [FieldValue])] {
        let registers = record.registers.keys.filter { !registerFields.contains($0) && !setFields.contains($0) }
            .compactMap { field in record.visibleValue(of: field, policy: policy).map { (field, [$0.value]) } }
        let sets = record.sets.keys.filter { !setFields.contains($0) && !registerFields.contains($0) }
            .map { field in (field, record.elements(of: field).map(\.value)) }
        return (registers + sets).sorted { $0.0 < $1.0 }.map { (field: $0.0, values: $0.1) }
    }

    /// Whether `value` is one a newer release added to `field`'s vocabulary (``ReturnVocabulary/isNewerSpelling(_:)``):
    /// kept and forwarded untouched, read as the nearest value this release knows (``ProductReturn/newerValues``).
    public static func isNewerValue(_ value: FieldValue, of field: String) -> Bool {
        guard case .string(let text) = value else { return false }
        switch field {
        case Field.reason: return ReturnReason.isNewerSpelling(text)
        case Field.status: return ReturnStatus.isNewerSpelling(text)
        case Field.condition: return ItemCondition.isNewerSpelling(text)
        case Field.testResult: return TestResult.isNewerSpelling(text)
        case Field.disposition: return Disposition.isNewerSpelling(text)
        case Field.recallMatch: return RecallCampaign.Match.isNewerSpelling(text)
        case Field.repairStatus: return RepairRecord.Status.isNewerSpelling(text)
        case Field.reviewOutcome: return ReviewDecision.Outcome.isNewerSpelling(text)
        case Field.refundMethod: return RefundMethod.isNewerSpelling(text)
        case Field.verification: return PurchaseVerification.isNewerSpelling(text)
        default: return false
        }
    }

    /// Checks one value of a return record's field, whether or not it is the value replicas show.
    ///
    /// Decoding a return checks only the visible values; a value that loses a conflict is still stored and
    /// forwarded, so a pushed record's every value is checked against its field's type and vocabulary
    /// (Protocol/SPEC.md §6, Protocol/schema/return-fields.json). `null` is allowed for the optional fields only.
    ///
    /// - Throws: ``ReturnsModelError`` naming the field and the value.
    public static func validate(_ value: FieldValue, of field: String) throws {
        func invalid(_ expected: String) -> ReturnsModelError {
            ReturnsModelError(
                code: .invalidValue,
                message: "invalid \(field) \(value.jsonValue.serializedString): expected \(expected)"
            )
        }
        func text() throws -> String {
            guard case .string(let text) = value else { throw invalid("a string") }
            return text
        }
        func integer(_ range: ClosedRange<Int64>) throws {
            guard case .integer(let number) = value, range.contains(number) else {
                throw invalid("an integer in \(range.lowerBound)...\(range.upperBound)")
            }
        }
        if value == .null {
            guard !requiredFields.contains(field) else { throw invalid("a value: the field is required") }
            return
        }
        switch field {
        case Field.storeID: _ = try StoreID(text())
        case Field.kioskID: _ = try KioskID(text())
        case Field.orderID: _ = try OrderID(text())
        case Field.gtin: _ = try GTIN(stored: text())
        case Field.serial: _ = try ItemCode(text(), kind: "serial")
        case Field.lot: _ = try ItemCode(text(), kind: "lot")
        case Field.expiry, Field.repairSentOn, Field.repairBackOn, Field.handoffOn, Field.rmaShippedOn,
            Field.vendorCreditOn:
            _ = try ReturnDates.validatedDay(text())
        case Field.recallMatch: _ = try RecallCampaign.Match.parse(text())
        case Field.refundAmount, Field.refundFee, Field.vendorCreditAmount: try integer(0...Money.maximumMinorUnits)
        case Field.refundCurrency, Field.vendorCreditCurrency:
            let code = try text()
            guard (try? Currency(code))?.code == code else {
                throw invalid("an ISO 4217 code in capitals, such as EUR")
            }
        case Field.refundMethod: _ = try RefundMethod.parse(text())
        case Field.refundBy:
            let text = try text()
            guard (1...128).contains(text.count), !text.contains(where: \.isWhitespace) else {
                throw invalid("a replica id of 1-128 characters")
            }
        case Field.refundExchangeGTIN: _ = try GTIN(stored: text(), field: field)
        case Field.repairStatus: _ = try RepairRecord.Status.parse(text())
        case Field.reviewOutcome: _ = try ReviewDecision.Outcome.parse(text())
        case Field.verification: _ = try PurchaseVerification.parse(text())
        case Field.exceptions, Field.reviewExceptions: _ = try decodeExceptions(text())
        case Field.reason: _ = try ReturnReason.parse(text())
        case Field.status: _ = try ReturnStatus.parse(text())
        case Field.condition: _ = try ItemCondition.parse(text())
        case Field.testResult: _ = try TestResult.parse(text())
        case Field.disposition: _ = try Disposition.parse(text())
        case Field.quantity: try integer(1...Int64(ProductReturn.maximumQuantity))
        case Field.handoffWeightGrams: try integer(1...Int64(CustodyHandoff.maximumWeightGrams))
        case Field.handoffCount: try integer(1...Int64(CustodyHandoff.maximumCount))
        case Field.createdAt:
            guard case .integer(let milliseconds) = value else { throw invalid("milliseconds since 1970") }
            _ = try ReturnDates.validatedInstant(milliseconds, field: field)
        case Field.receipt:
            guard case .bool = value else { throw invalid("true or false") }
        case Field.notes, Field.reviewNote, Field.refundReason: try ReturnNote.validate(text())
        case Field.editors: _ = try OperatorID(text())
        case Field.attachments: _ = try Attachment(element: text())
        case Field.customerRef: _ = try CustomerReference(text())
        case Field.recallCampaign:
            let text = try text()
            guard (1...64).contains(text.count) else { throw invalid("a campaign id of 1-64 characters") }
        case Field.repairVendor, Field.handoffParty, Field.handoffDocument, Field.rmaNumber, Field.rmaCarrier,
            Field.rmaTracking:
            let text = try text()
            guard !text.allSatisfy(\.isWhitespace), text.count <= 200 else { throw invalid("1-200 characters") }
        default:
            throw invalid("a field of a return")
        }
    }

    /// The registers every return holds from its first write on.
    public static let requiredFields: Set<String> = [
        Field.storeID, Field.kioskID, Field.orderID, Field.gtin, Field.quantity, Field.reason, Field.status,
        Field.condition, Field.testResult, Field.disposition, Field.createdAt,
    ]
}
