import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files that hold secrets — a kiosk's private key, the server's identity key, every store's returns — are the
/// owner's alone, whatever the process's umask.
public enum OwnerOnlyFiles {
    /// Creates an empty file at `path` readable and writable by its owner only (0600), unless one exists.
    ///
    /// SQLite gives a database's `-wal` and `-shm` files the database file's mode, so creating the database file
    /// this way before SQLite opens it keeps all three private.
    static func create(_ path: String) throws {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 {
            // The umask only clears bits, never adds them; set exactly 0600 anyway.
            _ = fchmod(fd, 0o600)
            close(fd)
            return
        }
        guard errno == EEXIST else {
            throw ReplicaStoreError(
                code: .storage,
                message: "cannot create \(path): \(String(cString: strerror(errno)))"
            )
        }
    }

    /// The permission bits of the file at `path`, or `nil` when it cannot be read.
    public static func mode(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// Checks that no one but the owner may read or write the file at `path`, as ssh does for private keys.
    ///
    /// - Throws: ``ReplicaStoreError`` naming the file, its mode and the `chmod` that fixes it.
    public static func requirePrivate(_ path: String, holding what: String, alsoFix companions: [String] = []) throws {
        guard let mode = mode(of: path), mode & 0o077 != 0 else { return }
        let files = ([path] + companions.filter { FileManager.default.fileExists(atPath: $0) })
            .map { "'\($0)'" }.joined(separator: " ")
        throw ReplicaStoreError(
            code: .storage,
            message: "\(path) holds \(what) but other users may read it (mode \(String(mode, radix: 8))): "
                + "run chmod 600 \(files)"
        )
    }
}
