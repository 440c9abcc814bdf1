import Foundation
import ReturnLabel
import ReturnSyncTestSupport
import ReturnsModel
import Testing

/// The tools that look at a label as a person and a scanner would: librsvg renders it, poppler reads its text,
/// zbar scans its barcode.
enum LabelTools {
    static let rsvg = "/usr/bin/rsvg-convert"
    static let zbar = "/usr/bin/zbarimg"
    static let pdftotext = "/usr/bin/pdftotext"
    static var available: Bool { [rsvg, zbar, pdftotext].allSatisfy(FileManager.default.isExecutableFile(atPath:)) }

    /// Runs a tool on a thread of its own; its standard output, or an error naming how it ended.
    static func run(_ tool: String, _ arguments: [String]) async throws -> String {
        let (output, end) = try await offThePool {
            let child = try ChildProcess(tool, arguments)
            let output = child.standardOutput!.readDataToEndOfFile()
            return (output, child.waitUntilExit())
        }
        guard end.status == 0, !end.bySignal else {
            throw LabelToolFailed(message: "\(tool) \(arguments.joined(separator: " ")) ended with \(end)")
        }
        return String(decoding: output, as: UTF8.self)
    }
}

struct LabelToolFailed: Error {
    var message: String
}

/// A return label as the person routing the unit sees it, and as the store's scanner reads it.
@Suite(
    .enabled(
        if: LabelTools.available,
        "needs rsvg-convert, zbarimg and pdftotext (librsvg2-bin zbar-tools poppler-utils)"
    )
)
struct LabelTests {
    @Test(arguments: ReturnLabel.Size.allCases)
    func aLabelRendersAndItsBarcodeScansBackToTheReturnID(size: ReturnLabel.Size) async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "store-12", "--kiosk", "k1")
        let id = await kiosk.run(
            "record",
            "--order",
            "ORD-7",
            "--gtin",
            "4006381333931",
            "--reason",
            "defective",
            "--serial",
            "SN-42"
        ).output
        #expect(await kiosk.run("inspect", id, "--condition", "defective", "--test", "fail").status == 0)
        #expect(await kiosk.run("disposition", id, "return-to-vendor").status == 0)
        #expect(await kiosk.run("rma", id, "--number", "RMA-7781", "--carrier", "DHL").status == 0)
        let svg = kiosk.directory.file("label.svg")
        let written = await kiosk.run("label", String(id.prefix(10)), "--output", svg, "--size", size.rawValue)
        #expect(written.status == 0 && written.stdout == "label for \(id) written to \(svg)\n", "\(written.stderr)")

        // Rendered as a printer would (at 300 dpi), scanned back.
        let png = kiosk.directory.file("label.png")
        _ = try await LabelTools.run(
            LabelTools.rsvg,
            ["--dpi-x", "300", "--dpi-y", "300", "--format", "png", "--output", png, svg]
        )
        let scanned = try await LabelTools.run(LabelTools.zbar, ["--raw", "-q", png])
        #expect(scanned == "\(id)\n", "the barcode holds the whole return id")
        // Read as a person would: the text on the rendered page.
        let pdf = kiosk.directory.file("label.pdf")
        _ = try await LabelTools.run(LabelTools.rsvg, ["--format", "pdf", "--output", pdf, svg])
        let text = try await LabelTools.run(LabelTools.pdftotext, ["-layout", pdf, "-"])
        for expected in [
            "STORE-12", "RETURN \(id.prefix(13))", "GTIN 04006381333931", "serial SN-42", "reason defective",
            "RETURN TO VENDOR", "RMA RMA-7781 via DHL",
        ] {
            #expect(text.contains(expected), "'\(expected)' on the page:\n\(text)")
        }
        // A scanned id works in the next command.
        #expect(await kiosk.run("show", String(scanned.dropLast())).status == 0)
    }

    @Test func aQuarantinedUnitsLabelIsRed() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await kiosk.run("record", "--order", "O-1", "--gtin", "96385074", "--reason", "damaged").output
        #expect(await kiosk.run("inspect", id, "--condition", "hazardous").status == 0)
        #expect(await kiosk.run("disposition", id, "quarantine").status == 0)
        let svg = kiosk.directory.file("red.svg")
        #expect(await kiosk.run("label", id, "--output", svg).status == 0)
        let png = kiosk.directory.file("red.png")
        _ = try await LabelTools.run(
            LabelTools.rsvg,
            ["--dpi-x", "203", "--dpi-y", "203", "--format", "png", "--output", png, svg]
        )
        // The destination box, filled red, says where the unit goes; it still scans at a thermal printer's 203 dpi.
        let document = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(document.contains("QUARANTINE CAGE") && document.contains("fill=\"#c00000\""))
        #expect(try await LabelTools.run(LabelTools.zbar, ["--raw", "-q", png]) == "\(id)\n")
    }

    @Test func badLabelRequestsAreRefusedNamingTheValue() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await kiosk.run("record", "--order", "O-1", "--gtin", "96385074", "--reason", "damaged").output
        let size = await kiosk.run("label", id, "--output", kiosk.directory.file("x.svg"), "--size", "letter")
        #expect(size.status == 1 && size.stderr.contains("invalid --size 'letter'"), "\(size.stderr)")
        let pdf = await kiosk.run("label", id, "--output", kiosk.directory.file("x.pdf"))
        #expect(pdf.status == 1 && pdf.stderr.contains("x.pdf"), "\(pdf.stderr)")
        let unknown = await kiosk.run("label", "ffffffff", "--output", kiosk.directory.file("x.svg"))
        #expect(unknown.status == 1 && unknown.stderr.contains("ffffffff"), "\(unknown.stderr)")
    }

    @Test func aVoidedReturnsLabelSaysNotToRouteIt() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await kiosk.run("record", "--order", "O-1", "--gtin", "96385074", "--reason", "damaged").output
        #expect(await kiosk.run("void", id, "--note", "scanned twice").status == 0)
        let svg = kiosk.directory.file("void.svg")
        #expect(await kiosk.run("label", id, "--output", svg).status == 0)
        let pdf = kiosk.directory.file("void.pdf")
        _ = try await LabelTools.run(LabelTools.rsvg, ["--format", "pdf", "--output", pdf, svg])
        let text = try await LabelTools.run(LabelTools.pdftotext, ["-layout", pdf, "-"])
        #expect(text.contains("AWAITING DISPOSITION") && text.contains("VOIDED — DO NOT ROUTE"), "\(text)")
    }

    @Test func code128EncodesPrintableASCIIOnly() {
        #expect(throws: Code128.Unencodable.self) { try Code128.modules("café") }
        // Start B, one symbol, the check symbol and the stop: 11 + 11 + 11 + 13 modules.
        #expect((try? Code128.modules("A"))?.count == 46)
    }
}
