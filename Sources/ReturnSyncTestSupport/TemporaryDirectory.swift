import Foundation

/// A fresh directory under the system's temporary directory, removed when the value is released.
///
/// Every test that touches the file system makes its own, so tests never share state.
public final class TemporaryDirectory: Sendable {
    /// The directory's path.
    public let path: String

    /// Creates the directory.
    public init(function: String = #function) throws {
        let name = "returnsync-\(function.prefix(while: { $0.isLetter || $0.isNumber }))-\(UUID().uuidString)"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
