import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine
import WireProtocol

/// What ``SyncClient/fetch(_:server:)`` brought back.
public struct FetchReport: Hashable, Sendable {
    /// The returns fetched and merged here, in the order asked.
    public var fetched: [ReturnID]
    /// The ids the server holds no return of this store for (unknown, or another store's).
    public var missing: [String]
}

extension SyncClient {
    /// Fetches returns of this kiosk's store from HQ by id, whole, and keeps them here (a return this kiosk pruned,
    /// say, for ``ReplicaStore/fetchedReturnDays`` days before it may be pruned again). At most
    /// ``maximumFetchIDs`` a connection; more are fetched over several.
    ///
    /// - Throws: ``SyncError`` when the server cannot be reached, refuses, or is of a release before 0.5.0 (it
    ///   grants no `fetch`: HQ still holds the returns, in `returns-server returns show ID`).
    public func fetch(_ ids: [ReturnID], server override: String? = nil) async throws -> FetchReport {
        var unique: [ReturnID] = []
        for id in ids where !unique.contains(id) { unique.append(id) }
        var report = FetchReport(fetched: [], missing: [])
        var start = 0
        while start < unique.count {
            let chunk = Array(unique[start..<min(start + maximumFetchIDs, unique.count)])
            start += chunk.count
            let (records, missing) = try await withSession(server: override) { session in
                guard session.core.capabilities.contains(SyncCapability.fetch) else {
                    throw SyncError(
                        "the server does not fetch returns by id (a release before 0.5.0): upgrade it; HQ still "
                            + "holds them ('returns-server returns show ID')"
                    )
                }
                try await session.conversation.send(.fetch(ids: chunk.map(\.rawValue)))
                let answer = try await session.conversation.receive()
                switch answer {
                case .fetched(let records, let missing):
                    try await bye(&session)
                    return (records, missing)
                case .error(let refusal):
                    throw SyncError.refused(by: refusal)
                default:
                    throw SyncError("the server answered a fetch with \(answer.type)")
                }
            }
            // Only what was asked for, and each once: a server sending anything else is not believed.
            let asked = Set(chunk.map(\.rawValue))
            guard records.allSatisfy({ $0.entityType == ReturnEntity.entityType && asked.contains($0.id) }),
                Set(records.map(\.id)).count == records.count
            else {
                throw SyncError("the server answered a fetch with records that were not asked for")
            }
            // The store's own only: mergeFetched refuses another store's return, as a pull does.
            _ = try await storage { try $0.mergeFetched(records) }
            let found = Set(records.map(\.id))
            report.fetched += chunk.filter { found.contains($0.rawValue) }
            report.missing += missing.filter { asked.contains($0) && !found.contains($0) }
        }
        return report
    }
}
