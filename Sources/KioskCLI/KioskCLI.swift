import CommandLineSupport

/// Runs the `kiosk` command line.
public enum KioskCLI {
    /// Parses and runs one command, writing to ``Console/current``, and returns the process exit status.
    public static func run(arguments: [String]) async -> Int32 {
        await CommandRunner.run(KioskCommand.self, arguments: arguments)
    }
}
