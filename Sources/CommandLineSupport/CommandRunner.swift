import ArgumentParser

/// Runs a command tree the way both `kiosk` and `returns-server` do.
public enum CommandRunner {
    /// Parses `arguments` with `root`, runs the command, writing to ``Console/current``, and returns the exit status.
    ///
    /// Every error is one line on standard error: `error: ` and a message that names the bad value and what is
    /// allowed. The status is 1 for an error while running, 2 for a command line that does not parse, 0 for help.
    public static func run(_ root: any ParsableCommand.Type, arguments: [String]) async -> Int32 {
        let console = Console.current
        var command: any ParsableCommand
        do {
            command = try root.parseAsRoot(arguments)
        } catch {
            let message = root.fullMessage(for: error)
            if root.exitCode(for: error) == .success {
                if !message.isEmpty { console.print(message) }
                return 0
            }
            // One line, like every other error; the command's help says the rest.
            let firstLine = message.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? message
            let problem = firstLine.hasPrefix("Error: ") ? String(firstLine.dropFirst(7)) : firstLine
            let path = commandPath(root, arguments)
            console.printError(
                "error: \(problem) (see '\(([root._commandName, "help"] + path).joined(separator: " "))')"
            )
            return 2
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch {
            // `--help` and `help` parse into ArgumentParser's help command, whose run() "fails" with the help
            // request: that is the help to print, and a success.
            if root.exitCode(for: error) == .success {
                let message = root.fullMessage(for: error)
                if !message.isEmpty { console.print(message) }
                return 0
            }
            // Errors of this project describe themselves as their message, naming the bad value.
            console.printError("error: \(error)")
            return 1
        }
    }
}

extension CommandRunner {
    /// The subcommand names `arguments` start with, so a parse error points to the help of the command typed.
    static func commandPath(_ root: any ParsableCommand.Type, _ arguments: [String]) -> [String] {
        var path: [String] = []
        var current = root
        for argument in arguments {
            guard let next = current.configuration.subcommands.first(where: { $0._commandName == argument }) else {
                break
            }
            path.append(argument)
            current = next
        }
        return path
    }
}

/// An error in how a command was used, with a message for the operator.
public struct CLIError: Error, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
