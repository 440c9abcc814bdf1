import CommandLineSupport
import Foundation
import KioskCLI
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import SyncEngine
import Synchronization
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs a command in-process with a captured console.
func runCaptured(
    terminal: Bool = false,
    _ run: @Sendable () async -> Int32
) async -> (status: Int32, stdout: String, stderr: String) {
    let out = Mutex(Data())
    let err = Mutex(Data())
    let console = Console(
        writeOut: { data in out.withLock { $0.append(data) } },
        writeErr: { data in err.withLock { $0.append(data) } },
        isTerminal: terminal
    )
    let status = await Console.$current.withValue(console) { await run() }
    return (
        status, out.withLock { String(decoding: $0, as: UTF8.self) },
        err.withLock { String(decoding: $0, as: UTF8.self) }
    )
}

/// The elements of an XML document, depth first, with their attributes and text.
final class ElementCollector: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
    }

    var elements: [Element] = []
    private var open: [Int] = []

    func parser(
        _ parser: XMLParser,
        didStartElement name: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements.append(Element(name: name, attributes: attributes))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        for index in open { elements[index].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    static func parse(_ data: Data) throws -> [Element] {
        let parser = XMLParser(data: data)
        let collector = ElementCollector()
        parser.delegate = collector
        guard parser.parse() else {
            throw CLIError(message: "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")")
        }
        return collector.elements
    }
}

@Suite struct HTMLReportTests {
    /// A kiosk whose clock reads `day` (UTC, at noon).
    static func kiosk(_ store: String, day: String, in directory: TemporaryDirectory) throws -> ReplicaStore {
        let formatter = ISO8601DateFormatter()
        let date = formatter.date(from: "\(day)T12:00:00Z")!
        return try ReplicaStore.create(
            at: directory.file("\(store)-\(day).sqlite"),
            identity: .kiosk(store: StoreID(store), kiosk: KioskID("k-\(day)")),
            configuration: ReplicaStore.Configuration(now: { date })
        )
    }

    @Test func theReportShowsAKnownDatasetsNumbersInOneSelfContainedPage() async throws {
        let directory = try TemporaryDirectory()
        let server = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq")),
            configuration: .server
        )
        // store-1: 2 returns on Nov 1, none on Nov 2, 1 on Nov 3; store-2: 1 on Nov 1, 3 on Nov 3.
        let plan: [(String, String, [ReturnReason])] = [
            ("store-1", "2026-11-01", [.defective, .damaged]),
            ("store-1", "2026-11-03", [.defective]),
            ("store-2", "2026-11-01", [.wrongItem]),
            ("store-2", "2026-11-03", [.defective, .damaged, .defective]),
        ]
        var ids: [ReturnID] = []
        var kiosks: [ReplicaStore] = []
        for (store, day, reasons) in plan {
            let kiosk = try Self.kiosk(store, day: day, in: directory)
            kiosks.append(kiosk)
            for (index, reason) in reasons.enumerated() {
                // Two units with one serial at store-2 on Nov 3: the second is a duplicate serial, for review.
                let serial = store == "store-2" && index > 0 ? try ItemCode("SN-7", kind: "serial") : nil
                let item = try kiosk.recordReturn(
                    ReturnCapture(
                        orderID: OrderID("ORD-\(index)"),
                        gtin: GTIN("4006381333931"),
                        reason: reason,
                        serial: serial
                    )
                )
                ids.append(item.id)
            }
            for record in try kiosk.returnRecords() { try server.merge(record) }
        }
        // One open conflict: HQ and the kiosk route the first return differently.
        let first = kiosks[0]
        let routed = ids[0]
        for store in [server, first] {
            try store.updateReturn(routed, operation: "inspect") { item, author, date in
                try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
            }
        }
        try server.updateReturn(routed, operation: "disposition") { item, author, date in
            try item.assignDisposition(.recycle, by: author, at: date)
        }
        try first.updateReturn(routed, operation: "disposition") { item, author, date in
            try item.assignDisposition(.repair, by: author, at: date)
        }
        try server.merge(first.returnRecord(routed))
        let reviewIDs = try server.reviewQueue().map(\.id)
        #expect(!reviewIDs.isEmpty)

        let output = directory.file("report.html")
        let result = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "report", "--format", "html", "--output", output, "--db", server.path, "--date", "2026-11-03",
            ])
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "wrote the report to \(output)\n")
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        let html = String(decoding: data, as: UTF8.self)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        // Self-contained: nothing fetched from anywhere, no scripts.
        for external in ["src=", "<link", "<script", "url(", "http://", "https://", "@import"] {
            let allowed =
                external == "http://" ? html.components(separatedBy: "http://www.w3.org/2000/svg").count - 1 : 0
            #expect(html.components(separatedBy: external).count - 1 == allowed, "found \(external)")
        }

        let elements = try ElementCollector.parse(data)
        let sections = elements.filter { $0.name == "section" }.compactMap { $0.attributes["id"] }
        #expect(
            sections == ["per-day", "reasons", "dispositions", "violations", "recalls", "rates", "conflicts", "review"]
        )
        #expect(elements.filter { $0.name == "svg" }.count == 3)

        func measure(_ name: String) -> String? {
            elements.first { $0.attributes["data-measure"] == name }?.text
        }
        #expect(measure("returns") == "7")
        #expect(measure("units") == "7")
        #expect(measure("conflicts") == "1")
        #expect(measure("open-conflicts") == "1")
        #expect(measure("review") == String(reviewIDs.count))
        #expect(measure("review-queue") == String(reviewIDs.count))

        // Returns per day per store: one bar segment per store and day with returns, with its count.
        let bars = elements.filter { $0.name == "rect" && $0.attributes["data-day"] != nil }.map {
            "\($0.attributes["data-day"]!) \($0.attributes["data-store"]!) \($0.attributes["data-returns"]!)"
        }
        #expect(
            bars.sorted() == [
                "2026-11-01 store-1 2", "2026-11-01 store-2 1", "2026-11-03 store-1 1", "2026-11-03 store-2 3",
            ]
        )
        // The quiet day between is on the axis and in the table, with zeros.
        let perDayRows = elements.filter { $0.name == "tr" }.map { $0.text }
        #expect(perDayRows.contains("2026-11-02000"))
        #expect(perDayRows.contains("2026-11-01213"))

        // Reason and disposition mixes, largest first.
        func mix(_ section: String) -> [String] {
            let start = elements.firstIndex { $0.name == "section" && $0.attributes["id"] == section }!
            return elements[start...].prefix { !($0.name == "section" && $0.attributes["id"] != section) }
                .filter { $0.name == "rect" && $0.attributes["data-key"] != nil }
                .map { "\($0.attributes["data-key"]!)=\($0.attributes["data-returns"]!)" }
        }
        #expect(mix("reasons") == ["defective=4", "damaged=2", "wrong-item=1"])
        #expect(mix("dispositions") == ["undecided=6", "recycle=1"])

        // The open conflict and the review queue list their returns.
        #expect(html.contains("<td><code>\(routed)</code></td><td>disposition</td>"))
        for id in reviewIDs { #expect(html.contains("<td><code>\(id)</code></td>")) }
    }

    @Test func everyStoreHasItsOwnColourHoweverManyThereAre() async throws {
        var day = try ReportNumbersTests.Day()
        let stores = (1...23).map { "store-\($0)" }
        for store in stores { try day.capture(at: store) }
        let (output, db) = (day.directory.file("many.html"), day.server.path)
        let result = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "report", "--format", "html", "--output", output, "--db", db, "--date", "2026-11-03",
            ])
        }
        #expect(result.status == 0, "\(result.stderr)")
        let bars = try ElementCollector.parse(Data(contentsOf: URL(fileURLWithPath: output)))
            .filter { $0.name == "rect" && $0.attributes["data-store"] != nil }
        #expect(Set(bars.compactMap { $0.attributes["data-store"] }) == Set(stores))
        #expect(Set(bars.compactMap { $0.attributes["fill"] }).count == stores.count)
    }

    @Test func aWindowAcrossNewYearCarriesTheYearOnTheAxis() async throws {
        var day = try ReportNumbersTests.Day()
        try day.capture(at: "store-1")
        let (output, db) = (day.directory.file("year.html"), day.server.path)
        func labels(_ arguments: [String]) async throws -> [String] {
            let result = await runCaptured {
                await ReturnsServerCLI.run(
                    arguments: ["report", "--format", "html", "--output", output, "--db", db] + arguments
                )
            }
            #expect(result.status == 0, "\(result.stderr)")
            return try ElementCollector.parse(Data(contentsOf: URL(fileURLWithPath: output)))
                .filter { $0.name == "text" && $0.attributes["class"] == "day" }.map(\.text)
        }
        let across = try await labels(["--date", "2027-01-10", "--days", "90"])
        #expect(across.last == "2027-01-10")
        #expect(across.first?.hasPrefix("2026-") == true)
        let within = try await labels(["--date", "2026-11-03"])
        #expect(within.last == "11-03" && within.first == "10-05")
        let bad = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "report", "--format", "html", "--output", output, "--db", db, "--date", "2026-02-30",
            ])
        }
        #expect(bad.status == 1 && bad.stderr == "error: invalid --date '2026-02-30': expected a day as YYYY-MM-DD\n")
    }

    @Test func htmlNeedsAnOutputFileAndAnEmptyDatabaseStillRenders() async throws {
        let directory = try TemporaryDirectory()
        let db = directory.file("hq.sqlite")
        _ = try ReplicaStore.create(at: db, identity: .server(replicaID: ReplicaID("hq")), configuration: .server)
        let missing = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["report", "--format", "html", "--db", db])
        }
        #expect(missing.status == 1)
        #expect(missing.stderr == "error: --format html writes a file: give it with --output FILE\n")
        let output = directory.file("empty.html")
        let empty = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["report", "--format", "html", "--output", output, "--db", db])
        }
        #expect(empty.status == 0)
        let elements = try ElementCollector.parse(Data(contentsOf: URL(fileURLWithPath: output)))
        #expect(elements.first { $0.attributes["data-measure"] == "returns" }?.text == "0")
        #expect(elements.filter { $0.attributes["class"] == "none" }.count == 4)
    }
}

@Suite struct ConfigurationCommandTests {
    /// Runs `tool` in exactly `environment`: nothing of the developer's environment leaks into the settings.
    static func run(
        _ tool: String,
        _ arguments: [String],
        environment: [String: String]
    ) async throws -> (
        Int32, String, String
    ) {
        let run = try await offThePool { try ToolRun(tool, arguments, environment: environment) }
        return (run.status, run.stdout, run.stderr)
    }

    @Test func serveTakesFlagsOverEnvironmentOverConfigFile() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("server.conf")
        try """
        # /etc/returnsync/server.conf
        db = /var/lib/returnsync/returns-server.sqlite
        port = 7500
        max-connections = 2000
        syncs-per-minute = 30
        metrics-port = 9420
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, stdout, stderr) = try await Self.run(
            "returns-server",
            ["serve", "--config", config, "--port", "7600", "--print-config"],
            environment: ["RETURNS_SERVER_PORT": "7700", "RETURNS_SERVER_MAX_CONNECTIONS": "3000"]
        )
        #expect(status == 0, "\(stderr)")
        let lines = stdout.split(separator: "\n").map {
            $0.split(separator: "#")[0].trimmingCharacters(in: .whitespaces)
        }
        #expect(lines.contains("port = 7600"))  // the flag
        #expect(lines.contains("max-connections = 3000"))  // the environment
        #expect(lines.contains("syncs-per-minute = 30"))  // the file
        #expect(lines.contains("push-backlog-seconds = 20"))  // the default
        #expect(lines.contains("db = /var/lib/returnsync/returns-server.sqlite"))
        #expect(lines.contains("host = 127.0.0.1"))  // the default
        #expect(stdout.contains("# environment RETURNS_SERVER_MAX_CONNECTIONS"))
        #expect(stdout.contains("# \(config):5"))
        // --print-config starts nothing and creates no database.
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/returnsync/returns-server.sqlite"))
    }

    @Test func aBadSettingStopsServeBeforeItStartsAndSaysWhereItCameFrom() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("server.conf")
        try "max-connections = 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        let db = directory.file("hq.sqlite")
        let (status, _, stderr) = try await Self.run(
            "returns-server",
            ["serve", "--db", db, "--port", "0"],
            environment: ["RETURNS_SERVER_CONFIG": config]
        )
        #expect(status == 1)
        #expect(
            stderr == "error: invalid max-connections at \(config):1 '0': expected a whole number from 1 to 1000000\n"
        )
        #expect(!FileManager.default.fileExists(atPath: db))
        // A push backlog of no time at all would refuse every push that finds another queued.
        let (backlogStatus, _, backlogErrors) = try await Self.run(
            "returns-server",
            ["serve", "--db", db, "--push-backlog-seconds", "0"],
            environment: [:]
        )
        #expect(backlogStatus == 1)
        #expect(backlogErrors == "error: invalid --push-backlog-seconds '0': expected a whole number from 1 to 3600\n")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    /// The console's port comes from the file, the environment or the flag like every setting; over TLS it is
    /// refused before anything starts (its cookies would cross the network in clear).
    @Test func theConsoleIsASettingAndIsRefusedBesideTLS() async throws {
        let directory = try TemporaryDirectory()
        let (status, stdout, stderr) = try await Self.run(
            "returns-server",
            ["serve", "--db", directory.file("hq.sqlite"), "--print-config"],
            environment: ["RETURNS_SERVER_CONSOLE_PORT": "8443"]
        )
        #expect(status == 0, "\(stderr)")
        #expect(stdout.contains("console-port = 8443") && stdout.contains("console-host = 127.0.0.1"), "\(stdout)")
        let bad = try await Self.run(
            "returns-server",
            ["serve", "--db", directory.file("hq.sqlite"), "--console-port", "70000"],
            environment: [:]
        )
        #expect(bad.0 == 1 && bad.2.contains("invalid --console-port '70000'"), "\(bad.2)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("hq.sqlite")), "nothing started")
    }

    @Test func theAgentReadsItsSettingsTheSameWay() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("kiosk.conf")
        try "interval = 120\nbackoff-max = 600\nserver = hq.example:7420\n".write(
            toFile: config,
            atomically: true,
            encoding: .utf8
        )
        let (status, stdout, stderr) = try await Self.run(
            "kiosk",
            ["agent", "--print-config", "--backoff-max", "900"],
            environment: ["KIOSK_CONFIG": config, "KIOSK_INTERVAL": "60", "KIOSK_DB": "/srv/kiosk.sqlite"]
        )
        #expect(status == 0, "\(stderr)")
        let lines = stdout.split(separator: "\n").map {
            $0.split(separator: "#")[0].trimmingCharacters(in: .whitespaces)
        }
        #expect(lines.contains("interval = 60"))
        #expect(lines.contains("backoff-max = 900"))
        #expect(lines.contains("server = hq.example:7420"))
        #expect(lines.contains("db = /srv/kiosk.sqlite"))
        #expect(lines.contains("live = true"))

        let bad = try await Self.run("kiosk", ["agent", "--live", "sometimes"], environment: [:])
        #expect(bad.0 == 1)
        #expect(bad.2 == "error: invalid --live 'sometimes': expected one of true, false\n")
    }
}

@Suite struct SyncProgressCommandTests {
    @Test func kioskSyncDrawsProgressOnATerminalButNotWithJSON() async throws {
        let server = try await TestServer()
        let source = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        for index in 0..<600 { try source.record(order: "ORD-\(index)") }
        try await source.sync()
        // A new kiosk of the store: its first sync pulls 600 returns, in pages of 500.
        let fresh = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let drawn = await runCaptured(terminal: true) {
            await KioskCLI.run(arguments: ["sync", "--db", fresh.store.path])
        }
        #expect(drawn.status == 0, "\(drawn.stderr)")
        // On standard error, like git: standard output holds the result alone, even redirected to a file.
        #expect(drawn.stderr.contains("\r\u{1B}[Kpulling 500/600 records"))
        #expect(drawn.stderr.hasSuffix("\r\u{1B}[K"), "cleared before the result")
        #expect(drawn.stdout == "pushed 0, pulled 600, conflicts 0\n")

        let another = try TestKiosk(store: "store-1", kiosk: "c", server: server)
        let json = await runCaptured(terminal: true) {
            await KioskCLI.run(arguments: ["sync", "--json", "--db", another.store.path])
        }
        #expect(json.status == 0)
        #expect(!json.stdout.contains("\r") && json.stderr.isEmpty)
        #expect(json.stdout.hasPrefix("{"))
        try await server.stop()
    }
}

@Suite struct AgentProcessTests {
    @Test func theAgentProcessSyncsLiveAndStopsCleanlyOnSIGTERM() async throws {
        let server = try await TestServer(configure: { $0.changePollInterval = .milliseconds(20) })
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let id = try kiosk.record().id
        try await kiosk.sync()

        let agent = try ChildProcess(
            ToolRun.binaries.appendingPathComponent("kiosk").path,
            ["agent", "--db", kiosk.store.path, "--interval", "3600", "--check-every", "3600"],
            environment: ["PATH": "/usr/bin:/bin"],
            output: .discard,
            error: .pipe
        )
        // However this test goes, the agent does not outlive it by more than five minutes (a minute was too short
        // for the full suite on a loaded machine: the agent was stopped before the test had read its lines).
        let watchdog = DispatchWorkItem { agent.send(SIGTERM) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: watchdog)
        defer { watchdog.perform() }

        let reader = agent.standardError!
        #expect(try await offThePool { Self.line(containing: "waiting for changes", in: reader) } != nil)
        _ = try server.store.updateReturn(id, operation: "note") { item, author, date in
            try item.addNote("pushed live", by: author, at: date)
        }
        let synced = try await offThePool { Self.line(containing: "synced", in: reader) }
        #expect(synced?.contains("pulled=1") == true, "\(synced ?? "no log")")
        #expect(try ProductReturn(record: kiosk.store.returnRecord(id)).notes.map(\.text) == ["pushed live"])

        agent.send(SIGTERM)
        #expect(try await offThePool { Self.line(containing: "sync agent stopped", in: reader) } != nil)
        let ended = try await offThePool { agent.waitUntilExit() }
        #expect(!ended.bySignal && ended.status == 0)
        try await server.stop()
    }

    /// Reads lines from `handle` until one contains `text`; `nil` at the end of the stream.
    static func line(containing text: String, in handle: FileHandle) -> String? {
        var line = Data()
        while true {
            guard let byte = handle.readData(ofLength: 1).first else { return nil }
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                continue
            }
            let complete = String(decoding: line, as: UTF8.self)
            if complete.contains(text) { return complete }
            line.removeAll()
        }
    }
}

@Suite struct ServeMetricsProcessTests {
    /// With metrics on, both listeners start at once, yet the first line still names the sync port (scripts read
    /// it), the second the metrics endpoint, which answers.
    @Test func theFirstLineIsTheSyncPortAndTheSecondTheMetricsEndpoint() async throws {
        let directory = try TemporaryDirectory()
        let serve = try ChildProcess(
            ToolRun.binaries.appendingPathComponent("returns-server").path,
            ["serve", "--db", directory.file("hq.sqlite"), "--port", "0", "--metrics-port", "0"],
            environment: ["PATH": "/usr/bin:/bin"]
        )
        // However this test goes, the server does not outlive it by more than five minutes: a minute was too short
        // under the full suite on a loaded machine (CI), the server stopped before the test asked it for /health.
        let watchdog = DispatchWorkItem { serve.send(SIGTERM) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: watchdog)
        defer { watchdog.perform() }

        let reader = serve.standardOutput!
        // Both lines have " on ": the first read is the first line, whichever it is.
        let first = try await offThePool { AgentProcessTests.line(containing: " on ", in: reader) }
        let second = try await offThePool { AgentProcessTests.line(containing: " on ", in: reader) }
        #expect(first?.hasPrefix("listening on 127.0.0.1:") == true, "\(first ?? "nothing")")
        let url = try #require(second.flatMap { $0.hasPrefix("metrics on ") ? String($0.dropFirst(11)) : nil })
        let health = URL(string: url.replacingOccurrences(of: "/metrics", with: "/health"))!
        let (body, response) = try await URLSession.shared.data(from: health)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: body, as: UTF8.self) == "ok\n")

        serve.send(SIGTERM)
        let ended = try await offThePool { serve.waitUntilExit() }
        #expect(!ended.bySignal && ended.status == 0)
    }
}
