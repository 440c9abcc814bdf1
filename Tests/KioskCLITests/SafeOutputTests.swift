import CommandLineSupport
import Foundation
import Logging
import ReturnSyncJSON
import Testing

/// What a terminal, a spreadsheet and a log reader receive when a note, an id or a value holds hostile characters.
@Suite struct SafeOutputTests {
    static let hostile = "boxed\u{1B}[2J\u{1B}[31mFAKE\nerror: all returns deleted\u{7}\u{9B}\u{202E}txt.exe"

    @Test func aNoteWithEscapeSequencesIsShownVisiblyAndJSONStaysExact() async throws {
        let kiosk = try KioskHarness()
        #expect(await kiosk.run("init", "--store", "store-12", "--kiosk", "kiosk-a").status == 0)
        let id = await kiosk.run("record", "--order", "ORD-1", "--gtin", "4006381333931", "--reason", "damaged").output
        #expect(await kiosk.run("note", id, Self.hostile).status == 0)

        let shown = await kiosk.run("show", id)
        #expect(shown.status == 0)
        #expect(!shown.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B })
        #expect(
            shown.stdout.contains("boxed\\e[2J\\e[31mFAKE\\nerror: all returns deleted\\u{7}\\u{9B}\\u{202E}txt.exe")
        )
        #expect(!shown.stdout.contains("\nerror: all returns deleted"), "no forged line")

        // --json carries the note exactly (JSON escapes what must be escaped).
        let json = await kiosk.run("show", id, "--json")
        let parsed = try JSONValue.parse(Array(json.stdout.utf8))
        let notes = parsed["notes"]?.arrayValue?.compactMap { $0["text"]?.stringValue }
        #expect(notes == [Self.hostile])
    }

    @Test func anErrorNamingAHostileValueStaysOneVisibleLine() async throws {
        let kiosk = try KioskHarness()
        #expect(await kiosk.run("init", "--store", "store-12", "--kiosk", "kiosk-a").status == 0)
        let refused = await kiosk.run("show", "x\u{1B}[2J\nerror: fake")
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("error: invalid return id 'x\\e[2J\\nerror: fake'"))
        #expect(refused.stderr.filter { $0 == "\n" }.count == 1)
        #expect(!refused.stderr.unicodeScalars.contains { $0.value == 0x1B })
    }

    @Test func tableCellsStayOnTheirRow() {
        let table = Format.table(["ID", "NOTE"], [["r-1", "one\ntwo\u{1B}[K"], ["r-2", "ok"]])
        #expect(table.split(separator: "\n").count == 3)
        #expect(table.contains("one\\ntwo\\e[K"))
    }

    @Test func csvTextCellsThatASpreadsheetWouldRunAreNeutralisedAndNumbersStayNumbers() {
        #expect(
            Format.csvField("=HYPERLINK(\"http://x\")", neutralisingFormulas: true)
                == "\"'=HYPERLINK(\"\"http://x\"\")\""
        )
        for formula in ["+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1"] {
            #expect(
                Format.csvField(formula, neutralisingFormulas: true).hasPrefix("\"'"),
                "\(formula.debugDescription)"
            )
        }
        #expect(Format.csvField("store-12", neutralisingFormulas: true) == "store-12")
        #expect(Format.csvField("-12") == "-12", "a number cell is left alone")
        #expect(Format.csvField("a,b") == "\"a,b\"")
    }

    @Test func visibleEscapingKeepsBackslashesAndOnlyTheLineFeedsAskedFor() {
        #expect("a\\b".escapingControlCharacters() == "a\\b")
        #expect("a\nb".escapingControlCharacters(keepingLineFeeds: true) == "a\nb")
        #expect("a\nb\r".escapingControlCharacters() == "a\\nb\\r")
        #expect("plain é ✓".escapingControlCharacters() == "plain é ✓")
    }
}

@Suite struct VisibleLogTests {
    /// What a log reader receives of a message and metadata holding a forged line and escape sequences.
    @Test func logLinesCannotBeForged() {
        final class Lines: LogHandler, @unchecked Sendable {
            // @unchecked: written by one test, synchronously.
            var received: [String] = []
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) { received.append("\(event.message) \(event.metadata ?? [:]) \(metadata)") }
        }
        let lines = Lines()
        var logger = Logger(label: "test", factory: { _ in VisibleLogHandler(wrapping: lines) })
        logger[metadataKey: "kiosk"] = "s/a\n2026-12-03 critical: fake"
        logger.error("refused \("x\u{1B}[2J\nfake line")", metadata: ["why": "a\nb", "list": ["c\rd"]])
        let line = lines.received.joined()
        #expect(!line.contains("\n") && !line.contains("\r") && !line.unicodeScalars.contains { $0.value == 0x1B })
        #expect(line.contains("x\\e[2J\\nfake line") && line.contains("a\\nb"))
        #expect(line.contains("s/a\\n2026-12-03 critical: fake"))
    }
}
