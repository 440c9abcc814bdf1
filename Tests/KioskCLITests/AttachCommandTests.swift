import Crypto
import Foundation
import GRDB
import ReturnsModel
import Testing

/// `kiosk attach` as staff type it: photos and documents by their bytes, limits that name the sizes, the same
/// bytes stored once.
@Suite struct AttachCommandTests {
    static let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]) + Data("JFIF damage photo".utf8)
    static let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 7, count: 100)
    static let pdf = Data("%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n".utf8)

    /// Overwrites an attachment's stored bytes, as a failing disk might.
    static func damage(_ digest: String, in path: String) throws {
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: "UPDATE attachments SET data = ? WHERE digest = ?",
                arguments: [Data("%PDF-x".utf8), digest]
            )
        }
    }

    /// How many attachments' bytes the kiosk's database holds.
    static func storedAttachments(_ path: String) throws -> Int {
        try DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM attachments") ?? 0 }
    }

    func file(_ kiosk: KioskHarness, _ name: String, _ data: Data) throws -> String {
        let path = kiosk.directory.file(name)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func photosAndDocumentsAreAttachedByTheirBytes() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await kiosk.run("record", "--order", "O-1", "--gtin", "96385074", "--reason", "damaged").output
        let other = await kiosk.run("record", "--order", "O-2", "--gtin", "96385074", "--reason", "damaged").output
        // Named .txt, but a JPEG: the bytes decide.
        let photo = try file(kiosk, "photo.txt", Self.jpeg)
        let attached = await kiosk.run("attach", id, photo, "--caption", "dent on the lid", "--operator", "alice")
        let digest = SHA256.hash(data: Self.jpeg).map { String(format: "%02x", $0) }.joined()
        #expect(
            attached.stdout == "attached \(digest) (image/jpeg, \(Self.jpeg.count) bytes) to \(id)\n",
            "\(attached.stderr)"
        )
        #expect(await kiosk.run("attach", id, try file(kiosk, "scan.png", Self.png)).status == 0)
        #expect(await kiosk.run("attach", id, try file(kiosk, "report.pdf", Self.pdf)).status == 0)
        // The same photo on another return: stored once.
        #expect(await kiosk.run("attach", other, photo).status == 0)
        let stored = try Self.storedAttachments(kiosk.db)
        #expect(stored == 3)

        let shown = await kiosk.run("show", id)
        #expect(
            shown.stdout.contains(
                "attachment   \(digest.prefix(12)) image/jpeg, \(Self.jpeg.count) bytes: dent on the lid"
            )
        )
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(await kiosk.run("show", id, "--json").stdout.utf8))
                as? [String: Any]
        )
        let attachments = try #require(json["attachments"] as? [[String: Any]])
        #expect(attachments.map { $0["mediaType"] as? String } == ["image/jpeg", "image/png", "application/pdf"])
        #expect(
            attachments.first?["digest"] as? String == digest && attachments.first?["replica"] as? String == "s1/k1"
        )
        // Who: the operator, tagged with the attaching write.
        let edits = try #require(json["edits"] as? [[String: Any]])
        #expect(edits.contains { $0["operatorId"] as? String == "alice" })
    }

    @Test func anAttachmentsBytesComeBackCheckedAgainstTheirDigest() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await kiosk.run("record", "--order", "O-1", "--gtin", "96385074", "--reason", "damaged").output
        #expect(await kiosk.run("attach", id, try file(kiosk, "report.pdf", Self.pdf)).status == 0)
        let digest = SHA256.hash(data: Self.pdf).map { String(format: "%02x", $0) }.joined()
        let output = kiosk.directory.file("copy.pdf")
        // By the 12 digits `show` prints, in capitals too.
        let got = await kiosk.run("attachment", "get", String(digest.prefix(12)).uppercased(), "--output", output)
        #expect(
            got.stdout == "\(digest) (application/pdf, \(Self.pdf.count) bytes) written to \(output)\n",
            "\(got.stderr)"
        )
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Self.pdf)
        let unknown = await kiosk.run("attachment", "get", "00000000", "--output", output)
        #expect(unknown.status == 1 && unknown.stderr.contains("no attachment 00000000"), "\(unknown.stderr)")
        let short = await kiosk.run("attachment", "get", "abc", "--output", output)
        #expect(short.status == 1 && short.stderr.contains("invalid attachment digest 'abc'"), "\(short.stderr)")
        // Bytes damaged on disk are never handed out as the attachment.
        try Self.damage(digest, in: kiosk.db)
        let damaged = await kiosk.run("attachment", "get", digest, "--output", kiosk.directory.file("bad.pdf"))
        #expect(damaged.status == 1 && damaged.stderr.contains("damaged"), "\(damaged.stderr)")
        #expect(!FileManager.default.fileExists(atPath: kiosk.directory.file("bad.pdf")))
    }

    @Test func refusalsNameTheFileOrTheSizesAndChangeNothing() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await kiosk.run("record", "--order", "O-1", "--gtin", "96385074", "--reason", "damaged").output
        let before = try kiosk.snapshot()
        let gif = try file(kiosk, "cat.jpg", Data("GIF89a....".utf8))
        let wrongType = await kiosk.run("attach", id, gif)
        #expect(
            wrongType.status == 1 && wrongType.stderr.contains("cat.jpg")
                && wrongType.stderr.contains("JPEG, PNG or PDF")
        )
        let missing = await kiosk.run("attach", id, kiosk.directory.file("nope.jpg"))
        #expect(missing.status == 1 && missing.stderr.contains("nope.jpg"))
        let big = try file(kiosk, "big.png", Self.png)
        // Limits come from the environment: the `kiosk` executable, run with it.
        func withLimit(_ name: String, _ value: String, _ arguments: String...) async throws -> Invocation {
            try await KioskCommandTests.launchKiosk(arguments, database: kiosk.db, environment: [name: value])()
        }
        let tooBig = try await withLimit("KIOSK_ATTACHMENT_MAX_FILE_BYTES", "50", "attach", id, big)
        #expect(tooBig.status == 1 && tooBig.stderr.contains("over the limit of 50 bytes per file"), "\(tooBig.stderr)")
        let badLimit = try await withLimit("KIOSK_ATTACHMENT_MAX_RETURN_BYTES", "lots", "attach", id, big)
        #expect(badLimit.status == 1 && badLimit.stderr.contains("'lots'"), "\(badLimit.stderr)")
        let badCaption = await kiosk.run("attach", id, big, "--caption", "   ")
        #expect(badCaption.status == 1 && badCaption.stderr.contains("invalid caption"), "\(badCaption.stderr)")
        let after = try kiosk.snapshot()
        #expect(after.changes == before.changes && after.export == before.export)
        #expect(try Self.storedAttachments(kiosk.db) == 0)

        // Within the return's limit, then over it.
        #expect(try await withLimit("KIOSK_ATTACHMENT_MAX_RETURN_BYTES", "120", "attach", id, big).status == 0)
        let pdf = try file(kiosk, "r.pdf", Self.pdf)
        let overReturn = try await withLimit("KIOSK_ATTACHMENT_MAX_RETURN_BYTES", "120", "attach", id, pdf)
        #expect(overReturn.status == 1 && overReturn.stderr.contains("at most 120 per return"), "\(overReturn.stderr)")
        let twice = await kiosk.run("attach", id, big)
        #expect(twice.status == 1 && twice.stderr.contains("already"), "\(twice.stderr)")
    }
}
