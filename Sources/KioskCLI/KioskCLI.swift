import ArgumentParser
import Foundation
import ReplicaStore
import ReturnsModel
import SyncEngine

/// Runs the `kiosk` command line.
public enum KioskCLI {
    /// Parses and runs one command, writing to ``Console/current``, and returns the process exit status.
    ///
    /// Errors are one line on standard error, `error: ` and a message that names the bad value and what is
    /// allowed; the status is then 1 (2 for a command line that does not parse).
    public static func run(arguments: [String]) async -> Int32 {
        let console = Console.current
        do {
            var command = try KioskCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let error as ReturnsModelError {
            console.printError("error: \(error.message)")
        } catch let error as ReplicaStoreError {
            console.printError("error: \(error.message)")
        } catch let error as SyncEngineError {
            console.printError("error: \(error.message)")
        } catch let error as CLIError {
            console.printError("error: \(error.message)")
        } catch {
            let code = KioskCommand.exitCode(for: error)
            let message = KioskCommand.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { console.print(message) }
                return 0
            }
            // Parse errors: one line, like every other error; the command's help says the rest.
            let firstLine = message.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? message
            let problem = firstLine.hasPrefix("Error: ") ? String(firstLine.dropFirst(7)) : firstLine
            console.printError("error: \(problem) (see 'kiosk help')")
            return 2
        }
        return 1
    }
}

/// An error in how a command was used, with a message for the operator.
struct CLIError: Error {
    var message: String
}
