import Foundation
import ReturnSyncJSON

/// Where commands write: standard output and standard error, or a capture in tests.
///
/// The current console is task-local, so tests running commands concurrently each capture their own output.
public struct Console: Sendable {
    /// Writes bytes to standard output.
    public var writeOut: @Sendable (Data) -> Void
    /// Writes bytes to standard error.
    public var writeErr: @Sendable (Data) -> Void
    /// Whether standard output is a terminal a person watches.
    public var isTerminal: Bool
    /// Whether standard error is a terminal a person watches: only then do long commands draw progress (there, like
    /// git, so `kiosk sync > out.txt` still shows it and the output file holds the result alone).
    public var errorIsTerminal: Bool

    /// Creates a console; `errorIsTerminal` defaults to `isTerminal`.
    public init(
        writeOut: @escaping @Sendable (Data) -> Void,
        writeErr: @escaping @Sendable (Data) -> Void,
        isTerminal: Bool = false,
        errorIsTerminal: Bool? = nil
    ) {
        self.writeOut = writeOut
        self.writeErr = writeErr
        self.isTerminal = isTerminal
        self.errorIsTerminal = errorIsTerminal ?? isTerminal
    }

    /// The process's standard output and error.
    public static let standard = Console(
        writeOut: { FileHandle.standardOutput.write($0) },
        writeErr: { FileHandle.standardError.write($0) },
        isTerminal: isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb",
        errorIsTerminal: isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    )

    /// The console commands write to.
    @TaskLocal public static var current = Console.standard

    /// Writes human-readable text and a line end to standard output, its control characters (but its line breaks)
    /// written visibly: a note or an id holding terminal escape sequences cannot clear an operator's screen or fake
    /// output. (JSON output escapes control characters itself; exact output, such as an export, uses
    /// ``writeOut`` directly.)
    public func print(_ line: String) {
        writeOut(Data((line.escapingControlCharacters(keepingLineFeeds: true) + "\n").utf8))
    }

    /// Writes one line to standard error, every control character in it written visibly: an error message naming
    /// a bad value stays one line whatever the value holds.
    public func printError(_ line: String) {
        writeErr(Data((line.escapingControlCharacters() + "\n").utf8))
    }
}
