import Foundation
import GRDB
import SyncEngine

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
            // Owner-only, like the database it copies (keys, every store's returns).
            try OwnerOnlyFiles.create(path)
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

    /// Restores the server database `backup` (made by ``backup(to:)``) as a new database at `path`, under a new
    /// server replica id.
    ///
    /// The new id is the old one with a restore number (`hq` → `hq.r2` → `hq.r3`), and the old one is kept as a
    /// former id. Why: kiosks may hold writes the server made after the backup (HQ edits), which the restore lost.
    /// Under a new id the server's next writes never reuse one of those lost dots, and a push may claim writes of
    /// a former id (``acceptPush(_:from:store:)``). Kiosks see the new id in the next challenge and re-send
    /// everything they hold, so what the server acknowledged after the backup comes back too.
    ///
    /// - Throws: ``ReplicaStoreError`` when `path` exists (move the damaged database aside first), `backup` is not
    ///   a server database, or it fails SQLite's integrity check; nothing is left at `path` then.
    /// - Returns: the restored store, under its new id.
    public static func restore(
        backup: String,
        to path: String,
        configuration: Configuration = .server
    ) throws -> ReplicaStore {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ReplicaStoreError(
                code: .alreadyInitialized,
                message: "\(path) exists; move it (and its -wal and -shm files) aside before restoring over it"
            )
        }
        guard FileManager.default.fileExists(atPath: backup) else {
            throw ReplicaStoreError(code: .databaseMissing, message: "no backup at \(backup)")
        }
        do {
            // Through SQLite's backup API rather than a file copy: the source is read as one consistent snapshot
            // even if something has it open.
            var readOnly = GRDB.Configuration()
            readOnly.readonly = true
            let source = try DatabaseQueue(path: backup, configuration: readOnly)
            try OwnerOnlyFiles.create(path)
            let destination = try DatabaseQueue(path: path)
            try source.backup(to: destination)
            try destination.close()
            try source.close()
            let restored = try ReplicaStore.open(at: path, configuration: configuration)
            guard restored.identity.role == .server else {
                throw ReplicaStoreError(
                    code: .notInitialized,
                    message: "\(backup) is a kiosk database (\(restored.identity.replicaID)), not a server's backup"
                )
            }
            let check = try restored.integrityCheck()
            guard check == "ok" else {
                throw ReplicaStoreError(code: .storage, message: "\(backup) fails SQLite's integrity check: \(check)")
            }
            let former = restored.identity.replicaID
            let next = try ReplicaID(Self.restoredID(after: former.rawValue))
            try restored.pool.write { db in
                try db.execute(
                    sql: "INSERT OR IGNORE INTO former_server_ids (replica_id, retired_at) VALUES (?, ?)",
                    arguments: [former.rawValue, Date().millisecondsSince1970]
                )
                try db.execute(sql: "UPDATE replica SET replica_id = ?", arguments: [next.rawValue])
            }
            return try ReplicaStore.open(at: path, configuration: configuration)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + "-wal")
            try? FileManager.default.removeItem(atPath: path + "-shm")
            if let error = error as? DatabaseError { throw Self.storageError(error, path: backup) }
            throw error
        }
    }

    /// `hq` → `hq.r2`, `hq.r2` → `hq.r3`.
    public static func restoredID(after id: String) -> String {
        if let dot = id.range(of: ".r", options: .backwards), let number = Int(id[dot.upperBound...]), number >= 2 {
            return "\(id[..<dot.lowerBound]).r\(number + 1)"
        }
        return id + ".r2"
    }
}
