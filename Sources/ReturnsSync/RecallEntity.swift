import Foundation
import ReturnsModel
import SyncEngine

/// How a recall campaign is stored as a replicated record. Recalls are global: every kiosk receives every one.
public enum RecallEntity {
    /// The entity type of recall records.
    public static let entityType = "recall"

    /// Field names.
    public enum Field {
        /// Comma-separated 14-digit GTINs.
        public static let gtins = "gtins"
        /// Comma-separated lots; absent: every lot.
        public static let lots = "lots"
        /// Comma-separated serials; absent: every serial.
        public static let serials = "serials"
        public static let hazard = "hazard"
        public static let instructions = "instructions"
        public static let unitsAffected = "unitsAffected"
        /// `open` or `closed`.
        public static let status = "status"
        /// Milliseconds since the Unix epoch.
        public static let createdAt = "createdAt"
    }

    /// A concurrent close wins over a campaign still open elsewhere; everything else shows the latest write.
    public static let policy = EntityPolicy(
        defaultPolicy: .latestStamp,
        fieldPolicies: [Field.status: .ranked(["closed", "open"])]
    )

    /// A new record holding `campaign`, written at `replica`.
    public static func makeRecord(
        for campaign: RecallCampaign,
        by replica: ReplicaID,
        stamp: HLCTimestamp
    ) throws -> VersionedRecord {
        var edit = RecordEdit()
        edit.set(Field.gtins, to: .string(campaign.gtins.map(\.digits).joined(separator: ",")))
        if !campaign.lots.isEmpty {
            edit.set(Field.lots, to: .string(campaign.lots.map(\.rawValue).joined(separator: ",")))
        }
        if !campaign.serials.isEmpty {
            edit.set(Field.serials, to: .string(campaign.serials.map(\.rawValue).joined(separator: ",")))
        }
        edit.set(Field.hazard, to: .string(campaign.hazard))
        edit.set(Field.instructions, to: .string(campaign.instructions))
        edit.set(Field.unitsAffected, to: .integer(Int64(campaign.unitsAffected)))
        edit.set(Field.status, to: .string(campaign.status.rawValue))
        edit.set(Field.createdAt, to: .integer(campaign.createdAt.millisecondsSince1970))
        var record = VersionedRecord(entityType: entityType, id: campaign.id)
        try record.apply(edit, by: replica, stamp: stamp)
        return record
    }

    /// The edit that closes a campaign.
    public static let closingEdit = RecordEdit(assignments: [
        Field.status: .string(RecallCampaign.Status.closed.rawValue)
    ])
}

extension RecallCampaign {
    /// The campaign a record holds, as every replica shows it.
    ///
    /// - Throws: ``ReturnsModelError`` when the record is not a valid recall.
    public init(record: VersionedRecord) throws {
        guard record.entityType == RecallEntity.entityType else {
            throw ReturnsModelError(code: .invalidValue, message: "record '\(record.id)' is not a recall")
        }
        func text(_ field: String) -> String? {
            record.visibleValue(of: field, policy: RecallEntity.policy)?.value.stringValue
        }
        func list(_ field: String) -> [String] {
            (text(field) ?? "").split(separator: ",").map(String.init)
        }
        guard let hazard = text(RecallEntity.Field.hazard), let instructions = text(RecallEntity.Field.instructions),
            let units = record.visibleValue(of: RecallEntity.Field.unitsAffected, policy: RecallEntity.policy)?.value
                .integerValue,
            let created = record.visibleValue(of: RecallEntity.Field.createdAt, policy: RecallEntity.policy)?.value
                .integerValue
        else {
            throw ReturnsModelError(code: .invalidValue, message: "recall '\(record.id)' is missing a field")
        }
        try self.init(
            id: record.id,
            gtins: list(RecallEntity.Field.gtins).map { try GTIN(stored: $0, field: "gtins") },
            lots: list(RecallEntity.Field.lots).map { try ItemCode($0, kind: "lot") },
            serials: list(RecallEntity.Field.serials).map { try ItemCode($0, kind: "serial") },
            hazard: hazard,
            instructions: instructions,
            unitsAffected: Int(units),
            status: RecallCampaign.Status.parse(text(RecallEntity.Field.status) ?? "open"),
            createdAt: ReturnDates.validatedInstant(created, field: "createdAt of recall '\(record.id)'")
        )
    }
}
