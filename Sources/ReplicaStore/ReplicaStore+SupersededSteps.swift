import Foundation
import GRDB
import ReturnsSync
import SyncEngine

extension ReplicaStore {
    /// The step writes later writes replaced, of the returns `ids`, by return id, oldest first: what the server kept
    /// as versions arrived ([SupersededStep]).
    public func supersededSteps(of ids: [String]) throws -> [String: [SupersededStep]] {
        guard !ids.isEmpty else { return [:] }
        return try read { db in
            var steps: [String: [SupersededStep]] = [:]
            // In pages, under SQLite's limit on a statement's parameters.
            for start in stride(from: 0, to: ids.count, by: 500) {
                let page = Array(ids[start..<min(start + 500, ids.count)])
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT return_id, field, value, replica, counter, stamp_physical, stamp_logical
                        FROM superseded_steps WHERE return_id IN (\(page.map { _ in "?" }.joined(separator: ",")))
                        ORDER BY stamp_physical, stamp_logical, replica, counter
                        """,
                    arguments: StatementArguments(page)
                )
                while let row = try rows.next() {
                    let step = SupersededStep(
                        returnID: row["return_id"],
                        field: row["field"],
                        value: row["value"],
                        dot: try Dot(
                            replica: try ReplicaID(row["replica"] as String),
                            counter: UInt64(row["counter"] as Int64)
                        ),
                        stamp: try HLCTimestamp(
                            physical: UInt64(row["stamp_physical"] as Int64),
                            logical: UInt32(row["stamp_logical"] as Int64)
                        )
                    )
                    steps[step.returnID, default: []].append(step)
                }
            }
            return steps
        }
    }
}
