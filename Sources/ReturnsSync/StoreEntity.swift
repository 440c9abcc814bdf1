import ReturnsModel
import SyncEngine

/// How a store's settings are stored as a replicated record: type `store`, id the store id. Only HQ writes them;
/// every kiosk receives every store's (they are few, and hold nothing private), like policies.
public enum StoreEntity {
    /// The entity type of store records.
    public static let entityType = "store"

    /// Field names.
    public enum Field {
        /// The store's IANA time zone identifier.
        public static let timeZone = "timeZone"
        /// The store's GS1 Global Location Number.
        public static let gln = "gln"
        /// How many days a closed or voided return stays on the store's kiosks after its last change, once HQ
        /// holds it (integer, ``retentionRange``); absent: ``defaultRetentionDays``.
        public static let retentionDays = "retentionDays"
    }

    /// What a store's kiosks keep when HQ set nothing: half a year of closed and voided returns.
    public static let defaultRetentionDays = 180
    /// The retention HQ may set, in days: from a week to ten years.
    public static let retentionRange = 7...3650

    /// Checks a retention HQ is about to set.
    ///
    /// - Throws: ``ReturnsModelError`` naming the value and the range.
    public static func validatedRetention(_ days: Int) throws -> Int {
        guard retentionRange.contains(days) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid retention \(days) days: expected \(retentionRange.lowerBound)..."
                    + "\(retentionRange.upperBound) (days a closed or voided return stays on the store's kiosks)"
            )
        }
        return days
    }

    /// The retention store records set, by store; a value outside ``retentionRange`` is left out (the default
    /// applies), so no record can make a kiosk prune what it must keep.
    public static func retentions(in records: [VersionedRecord]) -> [StoreID: Int] {
        var retentions: [StoreID: Int] = [:]
        for record in records where record.entityType == entityType {
            guard let store = try? StoreID(record.id),
                let days = record.visibleValue(of: Field.retentionDays, policy: policy)?.value.integerValue,
                retentionRange.contains(Int(days))
            else { continue }
            retentions[store] = Int(days)
        }
        return retentions
    }

    /// Only HQ writes store settings; the latest setting shows.
    public static let policy = EntityPolicy(defaultPolicy: .latestStamp)

    /// The edit that sets a store's time zone, its GLN, its retention, or several (what is `nil` is left as it is).
    public static func edit(timeZone: StoreTimeZone? = nil, gln: GLN? = nil, retentionDays: Int? = nil) -> RecordEdit {
        var edit = RecordEdit()
        if let timeZone { edit.set(Field.timeZone, to: .string(timeZone.identifier)) }
        if let gln { edit.set(Field.gln, to: .string(gln.digits)) }
        if let retentionDays { edit.set(Field.retentionDays, to: .integer(Int64(retentionDays))) }
        return edit
    }

    /// The GLNs store records hold, by store; a malformed one is left out.
    public static func glns(in records: [VersionedRecord]) -> [StoreID: GLN] {
        var glns: [StoreID: GLN] = [:]
        for record in records where record.entityType == entityType {
            guard let store = try? StoreID(record.id),
                let text = record.visibleValue(of: Field.gln, policy: policy)?.value.stringValue,
                let gln = try? GLN(text)
            else { continue }
            glns[store] = gln
        }
        return glns
    }

    /// The store and time zone a record holds; the zone is `nil` when none is set.
    ///
    /// - Throws: ``ReturnsModelError`` when the record is not a store's, or names a zone this replica's time zone
    ///   database does not know.
    public static func timeZone(from record: VersionedRecord) throws -> (StoreID, StoreTimeZone?) {
        guard record.entityType == entityType else {
            throw ReturnsModelError(code: .invalidValue, message: "record '\(record.id)' is not a store's settings")
        }
        let store = try StoreID(record.id)
        guard let identifier = record.visibleValue(of: Field.timeZone, policy: policy)?.value.stringValue else {
            return (store, nil)
        }
        return (store, try StoreTimeZone(identifier))
    }
}

extension StoreTimeZones {
    /// The zones store records hold. A zone this replica does not know (a newer time zone database at HQ) counts as
    /// UTC here rather than stopping captures and syncs.
    public static func decoding(_ records: [VersionedRecord]) -> StoreTimeZones {
        var zones: [StoreID: StoreTimeZone] = [:]
        for record in records {
            guard let (store, zone) = try? StoreEntity.timeZone(from: record), let zone else { continue }
            zones[store] = zone
        }
        return StoreTimeZones(zones)
    }
}
