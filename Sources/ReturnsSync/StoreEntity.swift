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
    }

    /// Only HQ writes store settings; the latest setting shows.
    public static let policy = EntityPolicy(defaultPolicy: .latestStamp)

    /// The edit that sets a store's time zone, its GLN, or both (what is `nil` is left as it is).
    public static func edit(timeZone: StoreTimeZone? = nil, gln: GLN? = nil) -> RecordEdit {
        var edit = RecordEdit()
        if let timeZone { edit.set(Field.timeZone, to: .string(timeZone.identifier)) }
        if let gln { edit.set(Field.gln, to: .string(gln.digits)) }
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
