import Foundation
import PostgresNIO
import ReplicaStore
import SyncEngine

extension PostgresServerStorage {
    /// The `application_name` of the connections of `serve` and the other commands that open the storage.
    public static let serverApplicationName = "returns-server"

    /// Gives the server a new replica id after its database was restored from a backup (`pg_restore`, point-in-time
    /// recovery): `hq` becomes `hq.r2` (`hq.r2` becomes `hq.r3`), the old id kept as a former one. At their next sync
    /// kiosks see the new id, re-send everything they hold and pull from the start, so what the database lost since
    /// the backup comes back from them — as after `returns-server restore` of a SQLite backup.
    ///
    /// This storage must have been opened under another application name than ``serverApplicationName``.
    ///
    /// - Returns: the former id and the new one.
    /// - Throws: ``PostgresStorageError`` while `serve` processes (or other commands) are connected to the database:
    ///   they would go on answering under the old id, and kiosks would not re-send what the restore lost.
    public func retireServerID() async throws -> (former: ReplicaID, new: ReplicaID) {
        let logger = self.logger
        let url = self.url
        return try await transaction { connection in
            for try await (connected) in try await connection.query(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = \(Self.serverApplicationName)
                """,
                logger: logger
            ).decode(Int.self) where connected > 0 {
                throw PostgresStorageError(
                    "\(connected) connections of returns-server processes are open on \(url): stop every serve "
                        + "process (and other returns-server commands) on it first"
                )
            }
            var current = "hq"
            for try await (id) in try await connection.query(
                "SELECT replica_id FROM server_identity FOR UPDATE",
                logger: logger
            ).decode(String.self) { current = id }
            let former = try ReplicaID(current)
            let new = try ReplicaID(ReplicaStore.restoredID(after: current))
            try await connection.query(
                """
                INSERT INTO former_server_ids (replica_id, retired_at) VALUES (\(former.rawValue), now())
                ON CONFLICT DO NOTHING
                """,
                logger: logger
            )
            try await connection.query(
                "UPDATE server_identity SET replica_id = \(new.rawValue)",
                logger: logger
            )
            return (former, new)
        }
    }
}
