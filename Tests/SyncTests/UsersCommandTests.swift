import Foundation
import HQAccess
import ReplicaStore
import ReturnSyncTestSupport
import Testing

/// `returns-server users` as an operator types it: the real executable, the password on standard input as a script
/// (or `echo … |`) gives it, its real output — and what ends up stored is a bcrypt hash of that password, never the
/// password.
@Suite struct UsersCommandTests {
    /// Runs `executable ARGUMENTS` in `directory` with `input` on standard input, waited for off the shared
    /// threads; status, stdout, stderr.
    static func execute(
        _ executable: String,
        _ arguments: [String],
        input: String,
        in directory: TemporaryDirectory,
        environment: [String: String]? = nil
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let path = directory.path
        return try await offThePool {
            let process = try ChildProcess(
                executable,
                arguments,
                directory: path,
                environment: environment,
                input: .pipe,
                output: .pipe,
                error: .pipe
            )
            process.standardInput!.write(Data(input.utf8))
            try process.standardInput!.close()
            // Small outputs: neither pipe fills while the other is read.
            let stdout = process.standardOutput!.readDataToEndOfFile()
            let stderr = process.standardError!.readDataToEndOfFile()
            return (
                process.waitUntilExit().status, String(decoding: stdout, as: UTF8.self),
                String(decoding: stderr, as: UTF8.self)
            )
        }
    }

    static let returnsServer = ToolRun.binaries.appendingPathComponent("returns-server").path

    /// Runs `returns-server ARGUMENTS --db hq.sqlite` as the system user `ops`.
    static func run(
        _ arguments: [String],
        input: String = "",
        in directory: TemporaryDirectory
    ) async throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        try await execute(
            returnsServer,
            arguments + ["--db", "hq.sqlite"],
            input: input,
            in: directory,
            environment: ["PATH": "/usr/bin:/bin", "USER": "ops"]
        )
    }

    /// On a terminal (util-linux's `script` gives the command one), the password is asked for twice, and two that
    /// differ change nothing.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func onATerminalThePasswordIsAskedForTwice() async throws {
        let directory = try TemporaryDirectory()
        func typed(_ input: String, name: String) async throws -> (status: Int32, stdout: String, stderr: String) {
            let command = [
                Self.returnsServer, "users", "add", name, "--role", "analyst", "--db", directory.file("hq.sqlite"),
            ]
            .joined(separator: " ")
            return try await Self.execute(
                "/usr/bin/script",
                ["-qec", command, "/dev/null"],
                input: input,
                in: directory
            )
        }
        let asked = try await typed("typed at the prompt\ntyped at the prompt\n", name: "gus")
        #expect(asked.status == 0, "\(asked)")
        #expect(asked.stdout.contains("Password for gus: ") && asked.stdout.contains("Again: "), "\(asked.stdout)")
        #expect(asked.stdout.contains("added gus (analyst)"), "\(asked.stdout)")
        let differ = try await typed("typed at the prompt\ntyped at the prompX\n", name: "hal")
        #expect(differ.status != 0 && differ.stdout.contains("the passwords differ; nothing changed"), "\(differ)")
        let store = try ReplicaStore.open(at: directory.file("hq.sqlite"))
        #expect(try store.hqUsers().map(\.name.rawValue) == ["gus"])
        let gus = try #require(try store.hqUsers().first)
        #expect(PasswordHasher.verify("typed at the prompt", hash: gus.passwordHash))
    }

    @Test func addListChangeAndRemoveUsersFromTheCommandLine() async throws {
        let directory = try TemporaryDirectory()
        let added = try await Self.run(
            ["users", "add", "Dana", "--role", "admin"],
            input: "correct horse battery staple\n",
            in: directory
        )
        #expect(added.status == 0 && added.stdout == "added dana (admin)\n", "\(added)")
        let analyst = try await Self.run(
            ["users", "add", "bo", "--role", "analyst"],
            input: "another long passphrase\n",
            in: directory
        )
        #expect(analyst.status == 0, "\(analyst)")

        // Refusals name the bad value, exit 1, and change nothing.
        let refusals: [([String], String, String)] = [
            (["users", "add", "cy", "--role", "boss"], "x\n", "invalid role 'boss': expected analyst|returns-manager"),
            (["users", "add", "c y", "--role", "analyst"], "x\n", "invalid user name 'c y'"),
            (["users", "add", "DANA", "--role", "analyst"], "long enough password\n", "user 'dana' already exists"),
            (["users", "add", "cy", "--role", "analyst"], "short\n", "the password is too short"),
            (["users", "add", "cy", "--role", "analyst"], "", "no password on standard input"),
            (["users", "remove", "dana"], "", "user 'dana' is the last admin"),
            (["users", "remove", "cy"], "", "no user 'cy'"),
            (["users", "passwd", "cy"], "long enough password\n", "no user 'cy'"),
        ]
        for (arguments, input, message) in refusals {
            let refused = try await Self.run(arguments, input: input, in: directory)
            #expect(refused.status == 1 && refused.stderr.contains("error: \(message)"), "\(arguments): \(refused)")
            #expect(!refused.stderr.contains("short\n") && !refused.stderr.contains("long enough"), "never echoed")
        }

        let listed = try await Self.run(["users", "list"], in: directory)
        let lines = listed.stdout.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true)
        }
        #expect(lines.map { $0.prefix(2).joined(separator: " ") } == ["USER ROLE", "bo analyst", "dana admin"])
        let json = try await Self.run(["users", "list", "--json"], in: directory)
        let documents = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]],
            "\(json.stdout)"
        )
        #expect(documents.map { $0["name"] as? String } == ["bo", "dana"])
        #expect(documents.allSatisfy { $0["passwordHash"] == nil }, "hashes stay in the database")

        // The stored hash is bcrypt's (cost 12) of the password typed, and a new one replaces it.
        let store = try ReplicaStore.open(at: directory.file("hq.sqlite"))
        let dana = try #require(try store.hqUsers().first { $0.name.rawValue == "dana" })
        #expect(dana.passwordHash.hasPrefix("$2b$12$"))
        #expect(PasswordHasher.verify("correct horse battery staple", hash: dana.passwordHash))
        let changed = try await Self.run(["users", "passwd", "dana"], input: "a brand new passphrase\n", in: directory)
        #expect(changed.status == 0 && changed.stdout == "password changed for dana\n", "\(changed)")
        let after = try #require(try store.hqUsers().first { $0.name.rawValue == "dana" })
        #expect(PasswordHasher.verify("a brand new passphrase", hash: after.passwordHash))
        #expect(!PasswordHasher.verify("correct horse battery staple", hash: after.passwordHash))
        let database =
            try Data(contentsOf: URL(fileURLWithPath: directory.file("hq.sqlite")))
            + ((try? Data(contentsOf: URL(fileURLWithPath: directory.file("hq.sqlite-wal")))) ?? Data())
        #expect(database.range(of: Data("brand new passphrase".utf8)) == nil, "the password is nowhere in the files")

        // Another admin lets the first go; everything is in the audit, as the system user who ran it.
        _ = try await Self.run(
            ["users", "add", "ed", "--role", "admin"],
            input: "yet another passphrase\n",
            in: directory
        )
        let removed = try await Self.run(["users", "remove", "dana", "--operator", "ed"], in: directory)
        #expect(removed.status == 0 && removed.stdout == "removed dana\n", "\(removed)")
        let audit = try await Self.run(["users", "audit", "--json"], in: directory)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]])
        #expect(
            entries.map { "\($0["actor"] ?? "") \($0["action"] ?? "") \($0["subject"] ?? "")" } == [
                "ops (command line) user-added dana", "ops (command line) user-added bo",
                "ops (command line) password-changed dana", "ops (command line) user-added ed",
                "ed (command line) user-removed dana",
            ]
        )
    }
}
