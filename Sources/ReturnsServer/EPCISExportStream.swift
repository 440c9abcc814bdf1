import EPCISExport
import Foundation
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync

/// HQ's EPCIS 2.0 export written as it is read — `returns-server export epcis` into a file, the console as a
/// download: returns a page at a time, so an export of every return HQ holds needs the memory of one page.
public enum EPCISExportStream {
    /// Returns read at a time.
    public static let pageSize = 500

    /// Writes the EPCIS document of the returns in `storage` (only `store`'s when given; with `since`, only events
    /// that happened, or were declared in error, at or after it) to `write`, piece by piece.
    ///
    /// - Returns: how many events, of how many returns, were written.
    public static func write(
        from storage: some ReturnAdministration & ReferenceAdministration,
        store: StoreID?,
        since: Date?,
        creationDate: Date,
        to write: (String) async throws -> Void
    ) async throws -> (events: Int, returns: Int) {
        let stores = try await storage.storeRecords()
        let zones = StoreTimeZones.decoding(stores)
        let glns = StoreEntity.glns(in: stores)
        // A store with a GLN is placed by it (GS1 Digital Link); one without, by this deployment's store id.
        let location: EPCISEvents.Locations = { store in
            glns[store].map { "https://id.gs1.org/414/\($0.digits)" } ?? EPCISEvents.storeURN(store)
        }
        // The document's members around the event list, as EPCISEvents.document writes them.
        guard case .object(var members) = EPCISEvents.document([], creationDate: creationDate) else {
            return (0, 0)
        }
        members["epcisBody"] = nil
        var head = JSONValue.object(members).serializedString
        head.removeLast()  // the closing brace: the body follows
        try await write(head + ",\"epcisBody\":{\"eventList\":[")
        var (count, returns) = (0, 0)
        var after: ReturnSearch.Position?
        while true {
            // With `since`, only returns written since then can hold such events.
            let page = try await storage.findReturns(
                ReturnSearch(store: store, limit: pageSize, updatedSince: since, after: after),
                records: true
            )
            let superseded = try await storage.supersededSteps(of: page.returns.map(\.row.id))
            for found in page.returns {
                guard let record = found.record else { continue }
                let item = try ProductReturn(record: record)
                let events = try EPCISEvents.events(
                    of: record,
                    timeZone: zones[item.storeID],
                    location: location,
                    superseded: superseded[record.id] ?? []
                ).filter { event in
                    guard let since else { return true }
                    return (EPCISEvents.latestTime(of: event) ?? .distantPast) >= since
                }
                for event in events {
                    try await write((count == 0 ? "" : ",") + event.serializedString)
                    count += 1
                }
                returns += events.isEmpty ? 0 : 1
            }
            guard page.more, let last = page.returns.last else { break }
            after = ReturnSearch.Position(createdAt: last.row.createdAt, id: last.row.id)
        }
        try await write("]}}")
        return (count, returns)
    }
}
