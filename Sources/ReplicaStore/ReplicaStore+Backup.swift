import Foundation
import GRDB

extension ReplicaStore {
    /// Writes a consistent copy of the whole database to a new file at `path`, while other connections and
    /// processes keep reading and writing: SQLite's online backup API, reading one snapshot.
    ///
    /// The copy is a complete replica database (same identity, records, change log, enrollments): restoring it is
    /// putting it in place of the database while nothing has it open. It holds every change committed before the
    /// backup began.
    ///
    /// - Throws: ``ReplicaStoreError`` when `path` exists already (a backup never overwrites), or storage fails;
    ///   a failed backup leaves no file behind.
    /// - Returns: the size of the copy, in bytes.
    @discardableResult
    public func backup(to path: String) throws -> Int64 {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ReplicaStoreError(
                code: .alreadyInitialized,
                message: "\(path) exists already; a backup never overwrites"
            )
        }
        do {
            let destination = try DatabaseQueue(path: path)
            try pool.backup(to: destination)
            // One self-contained file, not a WAL pair: the copy travels and restores as it is.
            try destination.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try destination.close()
        } catch let error as DatabaseError {
            try? FileManager.default.removeItem(atPath: path)
            throw Self.storageError(error, path: path)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? nil
        return size ?? 0
    }
}
