import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import ReturnsSync
import SyncEngine
import Testing

/// A real browser and a PDF-to-text converter, when the machine has them.
enum Browser {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let pdftotext = "/usr/bin/pdftotext"
    static var available: Bool { chromium != nil && FileManager.default.isExecutableFile(atPath: pdftotext) }
}

/// The HTML report as an analyst sees it: rendered by a real browser (Debian's headless `chromium`, printed to PDF)
/// and read back as text (`pdftotext` from poppler-utils), every number checked against `report --format json`.
///
/// `.ci/run` installs both tools and refuses to run without them, so CI always runs this suite; on a developer
/// machine without them it is skipped.
@Suite(.enabled(if: Browser.available, "needs chromium and pdftotext (apt-get install chromium poppler-utils)"))
struct HTMLReportBrowserTests {
    /// Runs a tool to the end, on a thread of its own; its standard output as text.
    static func run(_ tool: String, _ arguments: [String]) async throws -> String {
        let (output, end) = try await offThePool {
            let child = try ChildProcess(tool, arguments, output: .pipe)
            let output = child.standardOutput!.readDataToEndOfFile()
            return (output, child.waitUntilExit())
        }
        guard end.status == 0, !end.bySignal else {
            throw CLIError(message: "\(tool) \(arguments.joined(separator: " ")) ended with \(end)")
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The page's text as printed by the browser, laid out as on paper.
    static func rendered(_ html: String, in directory: TemporaryDirectory) async throws -> String {
        let pdf = directory.file("report.pdf")
        _ = try await run(
            Browser.chromium!,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                "--user-data-dir=\(directory.file("chromium-profile"))", "--print-to-pdf=\(pdf)",
                "file://\(html)",
            ]
        )
        return try await run(Browser.pdftotext, ["-layout", pdf, "-"])
    }

    /// The tiles: a line of numbers over a line of labels, columns two or more spaces apart.
    static func tiles(in text: String) -> [String: Int] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map {
            $0.split(separator: /\s{2,}/).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var tiles: [String: Int] = [:]
        for (numbers, labels) in zip(lines, lines.dropFirst()) where numbers.count == labels.count {
            let values = numbers.compactMap(Int.init)
            guard values.count == numbers.count, labels.allSatisfy({ Int($0) == nil }) else { continue }
            for (label, value) in zip(labels, values) { tiles[label] = value }
        }
        return tiles
    }

    static func json(_ arguments: [String]) async throws -> [[String: Any]] {
        let result = await runCaptured { await ReturnsServerCLI.run(arguments: arguments + ["--format", "json"]) }
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
    }

    @Test func everyNumberOnTheRenderedPageIsTheJSONReportsNumber() async throws {
        var day = try ReportNumbersTests.Day()
        try day.server.createRecall(
            RecallCampaign(
                id: "RC-1",
                gtins: [GTIN("05901234123457")],
                hazard: "sharp edge",
                instructions: "quarantine",
                unitsAffected: 8,
                createdAt: Date(millisecondsSince1970: 1_780_000_000_000)
            )
        )
        try day.server.createRecall(ReportNumbersTests.recall("RC-2", units: 40, gtin: "5012345678900"))
        try day.sell(order: "ORD-1", at: "store-1", quantity: 4)
        // store-2 takes back 103 units of one serial: 102 duplicates wait for review, more than a list shows.
        for _ in 0..<103 { try day.capture(at: "store-2", order: "ORD-1", gtin: "96385074", serial: "SN-7") }
        let queue = try day.server.reviewQueue().map { try ReturnID($0.id) }
        try day.server.decideReview(queue[0], outcome: .rejected, note: "refunded already")
        try day.capture(at: "store-1", gtin: "05901234123457", reason: .recall, quantity: 2)
        let voided = try day.capture(at: "store-1", reason: .damaged)
        try day.server.updateReturn(voided, operation: "void") { item, author, date in
            try item.void(note: "scanned twice", by: author, at: date)
        }
        // A hazardous item routed to restock: HQ re-inspects while the kiosk, offline, restocks.
        let kiosk = try day.kiosk("store-1")
        let hazardous = try day.capture(at: "store-1", order: "ORD-1")
        try kiosk.updateReturn(hazardous, operation: "inspect") { item, author, date in
            try item.inspect(condition: .likeNew, testResult: .pass, by: author, at: date)
        }
        try day.server.merge(kiosk.returnRecord(hazardous))
        try day.server.updateReturn(hazardous, operation: "inspect") { item, author, date in
            try item.inspect(condition: .hazardous, testResult: .pass, by: author, at: date)
        }
        try kiosk.updateReturn(hazardous, operation: "disposition") { item, author, date in
            try item.assignDisposition(.restock, by: author, at: date)
        }
        try day.server.merge(kiosk.returnRecord(hazardous))
        // An open conflict: HQ and the kiosk route one return differently.
        let routed = try day.capture(at: "store-1")
        try day.routeConcurrently(routed, at: "store-1")
        // A capture dated a year ahead.
        let future = try day.capture(at: "store-1")
        var record = try kiosk.returnRecord(future)
        var edit = RecordEdit()
        edit.set(
            ReturnEntity.Field.createdAt,
            to: .integer(ReportNumbersTests.noon.millisecondsSince1970 + 365 * 86_400_000)
        )
        try record.apply(
            edit,
            by: ReplicaID("store-1/k"),
            stamp: HLCTimestamp(physical: UInt64(ReportNumbersTests.noon.millisecondsSince1970) + 1, logical: 9)
        )
        try day.server.merge(record)

        let db = day.server.path
        let html = day.directory.file("report.html")
        let wrote = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "report", "--format", "html", "--output", html, "--db", db, "--date", "2026-11-03",
            ])
        }
        #expect(wrote.status == 0, "\(wrote.stderr)")
        let text = try await Self.rendered(html, in: day.directory)

        var summary: [String: Int] = [:]
        for row in try await Self.json(["report", "--by", "summary", "--db", db]) {
            summary[row["measure"] as! String] = row["value"] as? Int
        }
        let waiting = try #require(summary["reviewQueue"])
        #expect(waiting > 100 && summary["futureDated"] == 1 && summary["ruleViolations"] == 1)
        #expect(summary["voided"] == 1 && summary["rejected"] == 1 && summary["openConflicts"] == 1)

        let tiles = Self.tiles(in: text)
        #expect(tiles["returns"] == summary["returns"])
        #expect(tiles["units"] == summary["units"])
        #expect(tiles["voided (not counted)"] == summary["voided"])
        #expect(tiles["rejected by HQ (not counted)"] == summary["rejected"])
        #expect(tiles["dated in the future (clock skew)"] == summary["futureDated"])
        #expect(tiles["breaking a rule"] == summary["ruleViolations"])
        #expect(tiles["returns in conflict"] == summary["returnsInConflict"])
        #expect(tiles["awaiting review"] == summary["reviewQueue"], "the total, not the 100 rows listed")
        #expect(text.contains("\(waiting) returns waiting for HQ's decision"))
        #expect(text.contains("Showing the first 100 of \(waiting)."))
        #expect(text.contains("1 return is dated after this report was made"))

        // The chart ends on the report's day; the future capture is on no day.
        #expect(text.contains("11-03"), "the report's day is labelled")
        #expect(!text.contains("2027-"))

        // Rule violations: the hazardous item routed to restock is on the page.
        #expect(text.contains("1 return breaks a lifecycle rule"))
        #expect(text.contains(hazardous.rawValue))
        let words = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("breaks a rule: a hazardous item can only be quarantined, recycled or disposed of"))

        // Open conflicts: the field's label and plain values, no JSON.
        #expect(text.contains("1 open conflict in 1 return"))
        let conflictLine = try #require(
            text.split(separator: "\n").first { $0.contains(routed.rawValue) && $0.contains("disposition") }
        )
        #expect(conflictLine.contains("recycle or repair"))
        #expect(!conflictLine.contains("\""))

        // Recall completion and return rates: the JSON reports' rows, one line each on paper.
        func line(startingWith key: String, after heading: String) -> [String]? {
            guard let start = text.range(of: heading) else { return nil }
            return text[start.upperBound...].split(separator: "\n")
                .map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
                .first { $0.first == key }
        }
        func percent(_ value: Any?) -> String {
            guard let value = value as? Double else { return "—" }
            return String(format: "%.1f%%", value * 100)
        }
        for row in try await Self.json(["report", "--by", "recall", "--db", db]) {
            let campaign = row["campaign"] as! String
            let cells = try #require(line(startingWith: campaign, after: "Recall completion"))
            #expect(cells.contains(percent(row["completion"])), "\(campaign): \(cells)")
            #expect(cells.contains(String(row["unitsReturned"] as! Int)))
        }
        #expect(line(startingWith: "RC-2", after: "Recall completion")?.contains("0.0%") == true)
        for row in try await Self.json(["report", "--by", "store", "--db", db]) {
            let store = row["store"] as! String
            let cells = try #require(line(startingWith: store, after: "Return rates by store"))
            let expected = ["returns", "units", "voided", "rejected", "returnedUnits", "soldUnits"].map {
                (row[$0] as? Int).map(String.init) ?? "—"
            }
            #expect(Array(cells.dropFirst().prefix(6)) == expected, "\(store)")
            #expect(cells.last == percent(row["returnRate"]), "\(store)")
        }
    }
}
