import Foundation

/// A file written into a temporary file beside its destination and renamed over it when finished: a reader never
/// sees half of it, and a failure leaves the destination as it was. `rename(2)` replaces atomically, whether a file
/// was there or not.
public final class AtomicFileWriter: Sendable {
    /// The destination.
    public let path: String
    /// What the file is, for messages ("the export", "the attachment").
    private let what: String
    private let temporary: String
    private let handle: FileHandle

    /// Starts writing `what` to `path`.
    ///
    /// - Throws: ``CLIError`` naming the path when no file can be created beside it.
    public init(path: String, what: String) throws {
        self.path = path
        self.what = what
        let destination = URL(fileURLWithPath: path)
        temporary =
            destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).part").path
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
            let handle = FileHandle(forWritingAtPath: temporary)
        else {
            throw CLIError(message: "cannot write \(what) to \(path): cannot create a file there")
        }
        self.handle = handle
    }

    /// Appends `bytes`; on failure the temporary file is removed.
    ///
    /// - Throws: ``CLIError`` naming the path.
    public func write(_ bytes: some DataProtocol) throws {
        do {
            try handle.write(contentsOf: bytes)
        } catch {
            abandon()
            throw CLIError(message: "cannot write \(what) to \(path): \(error.localizedDescription)")
        }
    }

    /// Makes the bytes durable and puts the file in place.
    ///
    /// - Throws: ``CLIError`` naming the path; the temporary file is removed.
    public func finish() throws {
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            abandon()
            throw CLIError(message: "cannot write \(what) to \(path): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            abandon()
            throw CLIError(message: "cannot write \(what) to \(path): \(reason)")
        }
    }

    /// Gives up: the temporary file goes, the destination stays as it was.
    public func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporary)
    }
}
