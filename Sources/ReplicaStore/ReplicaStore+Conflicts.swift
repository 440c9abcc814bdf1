import Foundation
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What settling a conflict wrote.
public struct ConflictSettlement: Sendable {
    /// The return as it now is.
    public var item: ProductReturn
    public var field: String
    /// The value now held by every replica that receives the edit.
    public var value: FieldValue
    /// The concurrent values the edit replaced (they stay in the record's history).
    public var replaced: [FieldValue]
}

extension ReplicaStore {
    /// Settles an open conflict on a return by writing `text` to `field` as an edit that has seen every
    /// concurrent value — also on a closed or voided return, whose fields no lifecycle operation may change.
    ///
    /// `text` is one of the concurrent values as `show` prints it, or another valid value for the field (`none`
    /// clears an optional one). For a field written together with others (the repair, hand-off and review
    /// groups), the group's other fields are written too: from the same write as the chosen value when it is one
    /// of the concurrent ones, else as shown, so the group stays one write's.
    ///
    /// - Throws: ``ReplicaStoreError/Code-swift.struct/notFound`` for an unknown id; ``ReturnsModelError`` naming
    ///   the field or value when the field has no open conflict, the value is not valid for it, or the settled
    ///   return would break a lifecycle rule it did not break before. Nothing is stored on error.
    public func resolveConflict(
        _ id: ReturnID,
        field: String,
        value text: String,
        operatorID: OperatorID? = nil
    ) throws -> ConflictSettlement {
        try write { context in
            guard var record = try context.load(entityType: ReturnEntity.entityType, id: id.rawValue) else {
                throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)")
            }
            let settlement = try Self.settle(
                &record,
                field: field,
                value: text,
                by: context.replicaID,
                operatorID: operatorID
            ) { try context.stamp() }
            let item = settlement.item
            try context.save(record, origin: .local, operation: "resolve", item: item)
            if identity.role == .server {
                // The settled value (a quantity, say) can change what other returns of the purchase verify as.
                try context.reverifySharingPurchase(with: [ReturnFacts(item)])
            }
            return settlement
        }
    }

    /// Settles the open conflict on `field` of a return's record as an edit by `replica` (``resolveConflict(_:field:value:)``
    /// says how), stamped by `stamp`, which is asked only once the edit is known to be valid; the record is changed
    /// only when the edit is stored. Every backend settles conflicts with this.
    ///
    /// - Returns: the settlement.
    public static func settle(
        _ record: inout VersionedRecord,
        field: String,
        value text: String,
        by replica: ReplicaID,
        operatorID: OperatorID? = nil,
        stamp: () throws -> HLCTimestamp
    ) throws -> ConflictSettlement {
        let id = record.id
        let conflicts = record.openConflicts(policy: ReturnEntity.policy)
        guard let conflict = conflicts.first(where: { $0.field == field }) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "return \(id) has no open conflict on '\(field)'"
                    + (conflicts.isEmpty
                        ? "" : "; its open conflicts are on \(conflicts.map(\.field).joined(separator: ", "))")
            )
        }
        let chosen = conflict.values.first {
            ReturnEntity.plainText($0.value) == text || $0.value.description == text
        }
        let value = try chosen?.value ?? fieldValue(text, like: conflict.winner.value, field: field)
        // A value typed rather than chosen must be one this release knows: reading a record takes a newer release's
        // spelling (SPEC §6), but HQ does not invent one.
        if chosen == nil, ReturnEntity.isNewerValue(value, of: field) {
            do {
                try ReturnEntity.validate(value, of: field)
            } catch let error as ReturnsModelError {
                throw ReturnsModelError(
                    code: error.code,
                    message: "cannot settle '\(field)' of return \(id) to '\(text)': \(error.message)"
                )
            }
        }
        var edit = RecordEdit()
        for member in ReturnWriteRules.fieldGroups.first(where: { $0.contains(field) }) ?? [field] {
            if member == field {
                edit.set(member, to: value)
            } else if let fromChosen = chosen.flatMap({ chosen in
                record.values(of: member).first { $0.dot == chosen.dot }
            }) ?? record.visibleValue(of: member, policy: ReturnEntity.policy) {
                edit.set(member, to: fromChosen.value)
            }
        }
        if let operatorID { edit.add(.string(operatorID.rawValue), to: ReturnEntity.Field.editors) }
        let before = Set(try record.returnRuleViolations())
        var settled = record
        try settled.apply(edit, by: replica, stamp: stamp())
        let item: ProductReturn
        do {
            item = try ProductReturn(record: settled)
        } catch let error as ReturnsModelError {
            throw ReturnsModelError(
                code: error.code,
                message: "cannot settle '\(field)' of return \(id) to '\(text)': \(error.message)"
            )
        }
        let broken = ReturnRules.violations(of: item).filter { !before.contains($0) }
        guard broken.isEmpty else {
            throw ReturnsModelError(
                code: .invalidTransition,
                message: "cannot settle '\(field)' of return \(id) to '\(text)': " + broken.joined(separator: "; ")
            )
        }
        record = settled
        return ConflictSettlement(item: item, field: field, value: value, replaced: conflict.values.map(\.value))
    }

    /// `text` as a value of the same kind as `example`: a whole number, yes/no, or text; `none` is no value.
    static func fieldValue(_ text: String, like example: FieldValue, field: String) throws -> FieldValue {
        if text == "none" { return .null }
        switch example {
        case .integer:
            guard let number = Int64(text) else {
                throw ReturnsModelError(
                    code: .invalidValue,
                    message: "invalid value '\(text)' for '\(field)': expected a whole number"
                )
            }
            return .integer(number)
        case .bool:
            switch text {
            case "yes", "true": return .bool(true)
            case "no", "false": return .bool(false)
            default:
                throw ReturnsModelError(
                    code: .invalidValue,
                    message: "invalid value '\(text)' for '\(field)': expected yes or no"
                )
            }
        case .string, .null:
            return .string(text)
        }
    }
}
