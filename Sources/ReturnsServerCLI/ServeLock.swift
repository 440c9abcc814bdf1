import CommandLineSupport
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one `serve` of a SQLite database: an exclusive `flock` on `<database>.serve.lock`, held for the process's
/// life (the kernel lets go of it when the process ends, however it ends), so that a second `serve` on the same
/// database refuses to start.
///
/// One `serve` per SQLite database was the documented rule (docs/upgrade.md); since the group commit syncs the log
/// after the commit, it is also what keeps the feed from handing out a change not yet durable — the bound that
/// holds those changes back lives in the serving process's memory, which a second process would not see
/// (docs/reliability.md). A lock file beside the database, not a lock on the database file itself: closing any
/// descriptor of that file would drop SQLite's own locks on it held by this process. Other commands (`backup`,
/// `report`, `enroll`, …) do not take it: they run beside a `serve` as before.
final class ServeLock {
    /// The lock file.
    let path: String
    private let descriptor: Int32

    /// Takes the lock of `database`, creating its lock file (owner-only) if missing; `nil` when the database's
    /// directory does not exist (opening the database then says so, as it always did).
    ///
    /// - Throws: ``CLIError`` naming the database and the process that serves it when another holds the lock, or
    ///   the system's error when the lock file cannot be opened.
    static func acquire(database: String) throws -> ServeLock? {
        let path = database + ".serve.lock"
        let opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard opened >= 0 else {
            let error = errno
            if error == ENOENT { return nil }
            throw CLIError(message: "cannot open \(path) to lock \(database): \(String(cString: strerror(error)))")
        }
        guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            var holder = ""
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
                let pid = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                holder = " (process \(pid))"
            }
            _ = close(opened)
            guard error == EWOULDBLOCK else {
                throw CLIError(message: "cannot lock \(path): \(String(cString: strerror(error)))")
            }
            throw CLIError(
                message: "\(database) is already served by another returns-server serve\(holder), which holds "
                    + "\(path); a SQLite database takes one serve (stop that one first, or use PostgreSQL for several)"
            )
        }
        // The holder's process id, for the message above and for operators; the lock, not the text, is what counts.
        let pid = "\(getpid())\n"
        _ = ftruncate(opened, 0)
        _ = pid.withCString { pwrite(opened, $0, strlen($0), 0) }
        return ServeLock(path: path, descriptor: opened)
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        _ = close(descriptor)
    }
}
