import ArgumentParser
import CommandLineSupport
import KioskCLI
import ReturnsServerCLI
import Testing

/// `--help` (and `help`) on every command of both trees prints its usage and exits 0, as an operator types it.
@Suite struct HelpTests {
    /// Every command path of a tree: `[]`, `["sync"]`, `["quarantine", "drop"]`, …
    static func paths(_ command: any ParsableCommand.Type, prefix: [String] = []) -> [[String]] {
        [prefix]
            + command.configuration.subcommands.flatMap { sub in
                paths(sub, prefix: prefix + [sub.configuration.commandName ?? sub._commandName])
            }
    }

    @Test func everyKioskCommandHasHelp() async throws {
        let paths = Self.paths(KioskCommand.self)
        #expect(paths.count > 20)
        for path in paths {
            let result = await runCaptured { await KioskCLI.run(arguments: path + ["--help"]) }
            #expect(result.status == 0, "kiosk \(path.joined(separator: " ")) --help: \(result.stderr)")
            #expect(result.stdout.contains("USAGE: kiosk"), "kiosk \(path.joined(separator: " ")) --help")
            #expect(result.stderr.isEmpty)
        }
        let help = await runCaptured { await KioskCLI.run(arguments: ["help", "quarantine", "drop"]) }
        #expect(help.status == 0 && help.stdout.contains("USAGE: kiosk quarantine drop"))
    }

    @Test func everyServerCommandHasHelp() async throws {
        let paths = Self.paths(ReturnsServerCommand.self)
        #expect(paths.count > 20)
        for path in paths {
            let result = await runCaptured { await ReturnsServerCLI.run(arguments: path + ["--help"]) }
            #expect(result.status == 0, "returns-server \(path.joined(separator: " ")) --help: \(result.stderr)")
            #expect(
                result.stdout.contains("USAGE: returns-server"),
                "returns-server \(path.joined(separator: " ")) --help"
            )
        }
        let help = await runCaptured { await ReturnsServerCLI.run(arguments: ["help", "kiosks", "revoke"]) }
        #expect(help.status == 0 && help.stdout.contains("USAGE: returns-server kiosks revoke"))
    }

    @Test func bothCommandsPrintTheirVersion() async {
        let kiosk = await runCaptured { await KioskCLI.run(arguments: ["--version"]) }
        let server = await runCaptured { await ReturnsServerCLI.run(arguments: ["--version"]) }
        #expect(kiosk.status == 0 && kiosk.stdout == ReturnSyncVersion.description + "\n")
        #expect(server.status == 0 && server.stdout == kiosk.stdout)
        // Every protocol version spoken, the attachments' 4 included (it once said "sync protocol 3" alone).
        #expect(kiosk.stdout.hasSuffix("(sync protocols 3, 4)\n"), "\(kiosk.stdout)")
    }

    @Test func aParseErrorPointsToTheHelpOfTheCommandTyped() async throws {
        let wrong = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["returns", "repair", "ID", "--sent-on", "2026-11-01"])
        }
        #expect(wrong.status == 2)
        #expect(wrong.stderr.hasSuffix("(see 'returns-server help returns repair')\n"), "\(wrong.stderr)")
        let help = await runCaptured { await ReturnsServerCLI.run(arguments: ["help", "returns", "repair"]) }
        #expect(help.status == 0 && help.stdout.contains("--sent"))
        let kiosk = await runCaptured { await KioskCLI.run(arguments: ["record", "--bogus"]) }
        #expect(kiosk.status == 2 && kiosk.stderr.hasSuffix("(see 'kiosk help record')\n"), "\(kiosk.stderr)")
    }
}
