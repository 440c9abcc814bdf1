import Foundation
import ReturnSyncTestSupport
import Testing

/// One `serve` per SQLite database, as an operator meets it: a second `returns-server serve` on a database another
/// one serves refuses to start and says who holds it; other commands go on beside the serving one; once the first
/// is gone (killed: the kernel lets go of its lock), `serve` starts again.
@Suite struct ServeLockTests {
    typealias Child = CrashSafetyTests.Child

    @Test func aSecondServeOfTheSameSQLiteDatabaseRefusesToStartAndSaysWhoServesIt() async throws {
        let directory = try TemporaryDirectory()
        let (first, _) = try await AttachmentCommandTests.serve("hq.sqlite", in: directory)
        defer {
            first.kill()
            _ = first.finish()
        }

        let second = try Child(
            "returns-server",
            ["serve", "--db", "hq.sqlite", "--port", "0"],
            in: directory.path,
            keepsErrors: true
        )
        let line = try await second.listening()
        if line.hasPrefix("listening on ") { second.kill() }
        let refused = try await second.finished()
        let errors = second.errors()
        #expect(line.isEmpty && refused.status == 1 && !refused.killed, "\(line) \(errors)")
        #expect(
            errors.contains("hq.sqlite is already served by another returns-server serve (process ")
                && errors.contains("which holds hq.sqlite.serve.lock; a SQLite database takes one serve"),
            "\(errors)"
        )
        let permissions =
            try FileManager.default.attributesOfItem(atPath: directory.file("hq.sqlite.serve.lock"))[
                .posixPermissions
            ] as? Int
        #expect(permissions == 0o600)

        // Other commands run beside the serving process, as before.
        let enrolled = try await offThePool {
            try ToolRun(
                "returns-server",
                ["enroll", "--db", "hq.sqlite", "--store", "s1", "--kiosk", "a"],
                in: directory.path
            )
        }
        #expect(enrolled.status == 0, "\(enrolled.stderr)")

        first.kill()
        _ = try await first.finished()
        let (third, _) = try await AttachmentCommandTests.serve("hq.sqlite", in: directory)
        third.kill()
        _ = try await third.finished()
    }
}
