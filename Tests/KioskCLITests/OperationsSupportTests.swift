import CommandLineSupport
import Foundation
import ReturnSyncTestSupport
import Synchronization
import Testing

@Suite struct SettingsTests {
    static let keys: [Settings.Key] = [
        .init("port", default: "7420", help: "port"),
        .init("max-connections", default: "4096", help: "connections"),
        .init("host", default: "127.0.0.1", help: "host"),
        .init("tls-cert", help: "certificate"),
    ]

    static func file(_ text: String, in directory: TemporaryDirectory) throws -> String {
        let path = directory.file("server.conf")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverTheFileWhichWinsOverDefaults() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.file(
            """
            # the server's settings
            port = 9000
            max-connections = 100   # a comment after a value
            host = "0.0.0.0"  # a quoted value
            """,
            in: directory
        )
        let settings = try Settings(
            keys: Self.keys,
            flags: ["port": "9100", "max-connections": nil],
            configFile: path,
            environmentPrefix: "RETURNS_SERVER_",
            environment: ["RETURNS_SERVER_PORT": "9200", "RETURNS_SERVER_MAX_CONNECTIONS": "200", "PATH": "/bin"]
        )
        #expect(settings.entry("port") == .init(key: "port", value: "9100", source: .flag))
        #expect(
            settings.entry("max-connections")
                == .init(key: "max-connections", value: "200", source: .environment("RETURNS_SERVER_MAX_CONNECTIONS"))
        )
        #expect(settings.entry("host") == .init(key: "host", value: "0.0.0.0", source: .file(path: path, line: 4)))
        #expect(settings.entry("tls-cert") == .init(key: "tls-cert", value: nil, source: .defaultValue))
        #expect(try settings.value(Setting.integer("port", in: 0...65535, help: "")) == 9100)
        let printed = settings.printed
        #expect(printed.contains("port = 9100"))
        #expect(printed.contains("# flag"))
        #expect(printed.contains("# environment RETURNS_SERVER_MAX_CONNECTIONS"))
        #expect(printed.contains("# \(path):4"))
        #expect(printed.contains("# tls-cert ="))
    }

    @Test func aQuotedValueMayHoldAHashAndPrintsBackQuoted() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.file("tls-cert = \"/etc/returnsync/#1/server.pem\"  # the chain\n", in: directory)
        let settings = try Settings(
            keys: Self.keys,
            flags: [:],
            configFile: path,
            environmentPrefix: "X_",
            environment: [:]
        )
        #expect(settings.string("tls-cert") == "/etc/returnsync/#1/server.pem")
        #expect(settings.printed.contains("tls-cert = \"/etc/returnsync/#1/server.pem\""))
    }

    @Test func theConfigFileCanComeFromTheEnvironment() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.file("port = 9000\n", in: directory)
        let settings = try Settings(
            keys: Self.keys,
            flags: [:],
            configFile: nil,
            environmentPrefix: "KIOSK_",
            environment: ["KIOSK_CONFIG": path]
        )
        #expect(settings.string("port") == "9000")
        #expect(settings.configFile == path)
    }

    @Test(arguments: [
        ("prot = 1\n", "server.conf:1: unknown setting 'prot': expected one of host, max-connections, port, tls-cert"),
        ("port 7420\n", "server.conf:1: expected 'key = value', found 'port 7420'"),
        ("port = 1\n\nport = 2\n", "server.conf:3: 'port' is set twice (first on line 1)"),
        ("host = \"0.0.0.0\n", "server.conf:1: the value of 'host' opens a quote it does not close"),
        ("host = \"0.0.0.0\" x\n", "server.conf:1: unexpected 'x' after the quoted value of 'host'"),
    ])
    func aBadConfigFileLineIsNamed(_ text: String, _ message: String) throws {
        let directory = try TemporaryDirectory()
        let path = try Self.file(text, in: directory)
        #expect {
            _ = try Settings(keys: Self.keys, flags: [:], configFile: path, environmentPrefix: "X_", environment: [:])
        } throws: { error in
            "\(error)" == path.dropLast("server.conf".count) + message
        }
    }

    @Test func aBadValueIsNamedWithWhereItCameFrom() throws {
        let directory = try TemporaryDirectory()
        let path = try Self.file("max-connections = lots\n", in: directory)
        let fromFile = try Settings(
            keys: Self.keys,
            flags: [:],
            configFile: path,
            environmentPrefix: "X_",
            environment: ["X_PORT": "99999"]
        )
        let port = Setting.integer("port", in: 0...65535, help: "")
        #expect(throws: CLIError.self) { try fromFile.value(port) }
        #expect {
            try fromFile.value(port)
        } throws: { "\($0)" == "invalid X_PORT (environment) '99999': expected a whole number from 0 to 65535" }
        #expect {
            try fromFile.value(Setting.integer("max-connections", in: 1...1000, help: ""))
        } throws: {
            "\($0)" == "invalid max-connections at \(path):1 'lots': expected a whole number from 1 to 1000"
        }
        // Typed values: seconds become a Duration, booleans are exactly true or false, log levels swift-log's.
        let typed = try Settings(
            keys: [.init("wait", help: ""), .init("live", help: ""), .init("log-level", help: "")],
            flags: ["wait": "0.25", "live": "yes", "log-level": "verbose"],
            configFile: nil,
            environmentPrefix: "X_",
            environment: [:]
        )
        #expect(try typed.value(Setting.seconds("wait", in: 0.1...10, help: "")) == .milliseconds(250))
        #expect {
            try typed.value(Setting.seconds("wait", in: 1...10, help: ""))
        } throws: { "\($0)" == "invalid --wait '0.25': expected seconds from 1.0 to 10.0" }
        #expect {
            try typed.value(Setting.boolean("live", default: true, help: ""))
        } throws: { "\($0)" == "invalid --live 'yes': expected one of true, false" }
        #expect { try typed.value(Setting.logLevel) } throws: { "\($0)".hasPrefix("invalid --log-level 'verbose'") }
    }

    @Test func aMissingConfigFileIsAnError() {
        #expect {
            _ = try Settings(
                keys: Self.keys,
                flags: [:],
                configFile: "/nonexistent/returnsync.conf",
                environmentPrefix: "X_",
                environment: [:]
            )
        } throws: { "\($0)".hasPrefix("cannot read the config file /nonexistent/returnsync.conf") }
    }
}

@Suite struct ProgressLineTests {
    final class Clock: Sendable {
        let now = Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { now.withLock { $0 += duration } }
    }

    static func capture(terminal: Bool) -> (Console, @Sendable () -> String) {
        // Progress goes to standard error.
        let err = Mutex(Data())
        let console = Console(
            writeOut: { _ in },
            writeErr: { data in err.withLock { $0.append(data) } },
            isTerminal: terminal
        )
        return (console, { err.withLock { String(decoding: $0, as: UTF8.self) } })
    }

    @Test func drawsRecordsRateAndTimeLeftInPlaceThenClears() {
        let (console, output) = Self.capture(terminal: true)
        let clock = Clock()
        let progress = ProgressLine(console: console, now: { clock.now.withLock { $0 } })
        progress.update("pulling", done: 0, total: 100_000, unit: "records")
        clock.advance(.seconds(2))
        progress.update("pulling", done: 20_000, total: 100_000, unit: "records")
        clock.advance(.milliseconds(50))
        progress.update("pulling", done: 20_500, total: 100_000, unit: "records")  // too soon: not drawn
        progress.finish()
        let erase = "\r\u{1B}[K"
        #expect(
            output()
                == erase + "pulling 0/100,000 records" + erase
                + "pulling 20,000/100,000 records  10,000/s  about 8 s left" + erase
        )
    }

    @Test func drawsNothingWhenNotATerminalOrSwitchedOff() {
        for (terminal, enabled) in [(false, true), (true, false)] {
            let (console, output) = Self.capture(terminal: terminal)
            let progress = ProgressLine(console: console, enabled: enabled)
            #expect(!progress.isActive)
            progress.update("importing", done: 5, total: 10, unit: "lines")
            progress.finish()
            #expect(output().isEmpty)
        }
    }

    @Test func longWaitsAreInMinutesAndUnknownTotalsHaveNoEstimate() {
        let (console, output) = Self.capture(terminal: true)
        let clock = Clock()
        let progress = ProgressLine(console: console, now: { clock.now.withLock { $0 } })
        progress.update("pushing", done: 0, total: nil, unit: "records")
        clock.advance(.seconds(10))
        progress.update("pushing", done: 1_000, total: nil, unit: "records")
        clock.advance(.seconds(1))
        progress.update("importing", done: 0, total: 50_000, unit: "lines")
        clock.advance(.seconds(10))
        progress.update("importing", done: 1_000, total: 50_000, unit: "lines")
        #expect(output().contains("pushing 1,000 records  100/s\r"))
        #expect(output().hasSuffix("importing 1,000/50,000 lines  100/s  about 9 min left"))
    }
}

@Suite struct ProgressCLITests {
    /// An import file of `count` returns captured elsewhere.
    static func importFile(_ count: Int, in directory: TemporaryDirectory) throws -> String {
        let lines = (0..<count).map {
            "{\"orderId\":\"ORD-\($0)\",\"gtin\":\"4006381333931\",\"reason\":\"defective\"}"
        }
        let path = directory.file("returns.ndjson")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func importDrawsProgressOnATerminalOnly() async throws {
        let piped = try KioskHarness()
        #expect(await piped.run("init", "--store", "store-1", "--kiosk", "a").status == 0)
        let file = try Self.importFile(2_000, in: piped.directory)
        let quiet = await piped.runRaw(["import", file, "--db", piped.db])
        #expect(quiet.stdout == "imported 2000 returns (0 already known)\n")

        let terminal = try KioskHarness()
        #expect(await terminal.run("init", "--store", "store-1", "--kiosk", "a").status == 0)
        let drawn = await terminal.runRaw(["import", file, "--db", terminal.db], terminal: true)
        #expect(drawn.status == 0)
        // On standard error, like git, cleared before the result; standard output holds the result alone.
        #expect(drawn.stderr.contains("\r\u{1B}[Kimporting "))
        #expect(drawn.stderr.contains("/2,000 lines"))
        #expect(drawn.stderr.hasSuffix("\r\u{1B}[K"))
        #expect(drawn.stdout == "imported 2000 returns (0 already known)\n")
    }

    @Test func aFailedImportClearsItsProgressBeforeTheError() async throws {
        let harness = try KioskHarness()
        #expect(await harness.run("init", "--store", "store-1", "--kiosk", "a").status == 0)
        let file = try Self.importFile(2_000, in: harness.directory)
        try (String(contentsOfFile: file, encoding: .utf8) + "{\"orderId\":\"X\"}\n").write(
            toFile: file,
            atomically: true,
            encoding: .utf8
        )
        let failed = await harness.runRaw(["import", file, "--db", harness.db], terminal: true)
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("importing "))
        #expect(failed.stderr.contains("\r\u{1B}[Kerror: line 2001: "), "the terminal's line is clear for the error")
    }
}
