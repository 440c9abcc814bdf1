import Foundation
import ReturnSyncTestSupport
import Testing

/// The README's walkthrough, with the real `returns-server` and `kiosk` executables as processes.
@Suite struct CommandLineSyncTests {

    private typealias Result = ToolRun

    /// Runs a tool to its end on a thread of its own: waiting for a process must not hold one of the threads every
    /// test's async work shares.
    private static func run(
        _ tool: String,
        _ arguments: [String],
        in directory: TemporaryDirectory
    ) async throws
        -> Result
    {
        let path = directory.path
        return try await offThePool { try ToolRun(tool, arguments, in: path) }
    }

    /// Expects a command to succeed, showing its stderr when it did not.
    private func succeed(_ result: Result, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 0, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func serveEnrollRecordSyncEditAndReport() async throws {
        let directory = try TemporaryDirectory()
        func server(_ arguments: String...) async throws -> Result {
            try await Self.run("returns-server", arguments, in: directory)
        }
        func kiosk(_ arguments: String...) async throws -> Result {
            try await Self.run("kiosk", arguments, in: directory)
        }

        // serve --port 0: the first line of stdout names the real port.
        let serve = try ChildProcess(
            ToolRun.binaries.appendingPathComponent("returns-server").path,
            ["serve", "--db", "hq.sqlite", "--port", "0"],
            directory: directory.path
        )
        defer { serve.send(SIGTERM) }
        let firstLine = try await offThePool { [output = serve.standardOutput!] in
            var line = Data()
            while line.last != UInt8(ascii: "\n") {
                let byte = output.readData(ofLength: 1)
                guard !byte.isEmpty else { break }
                line.append(byte)
            }
            return line
        }
        let listening = String(decoding: firstLine, as: UTF8.self).trimmingCharacters(in: .newlines)
        #expect(listening.hasPrefix("listening on 127.0.0.1:"))
        let address = String(listening.dropFirst("listening on ".count))
        #expect(!address.hasSuffix(":0"))

        let tokenA = try await server("enroll", "--db", "hq.sqlite", "--store", "store-12", "--kiosk", "kiosk-a").line
        let tokenB = try await server("enroll", "--db", "hq.sqlite", "--store", "store-12", "--kiosk", "kiosk-b").line
        #expect(!tokenA.isEmpty && !tokenA.contains(" ") && tokenA != tokenB)
        succeed(
            try await kiosk(
                "init",
                "--db",
                "a.sqlite",
                "--store",
                "store-12",
                "--kiosk",
                "kiosk-a",
                "--server",
                address,
                "--token",
                tokenA
            )
        )
        succeed(
            try await kiosk(
                "init",
                "--db",
                "b.sqlite",
                "--store",
                "store-12",
                "--kiosk",
                "kiosk-b",
                "--server",
                address,
                "--token",
                tokenB
            )
        )

        let id = try await kiosk(
            "record",
            "--db",
            "a.sqlite",
            "--order",
            "O-1",
            "--gtin",
            "4006381333931",
            "--reason",
            "defective"
        ).line
        succeed(try await kiosk("inspect", "--db", "a.sqlite", id, "--condition", "defective", "--test", "fail"))
        let synced = try await kiosk("sync", "--db", "a.sqlite", "--json")
        #expect(synced.status == 0, "\(synced.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(synced.stdout.utf8)) as? [String: Any])
        #expect(report["pushed"] as? Int == 1 && report["pulled"] as? Int == 0)
        #expect((report["conflicts"] as? [Any])?.isEmpty == true)

        // Kiosk b receives it, routes it; HQ routes it differently; both ends end up with one conflict.
        succeed(try await kiosk("sync", "--db", "b.sqlite"))
        succeed(try await kiosk("disposition", "--db", "b.sqlite", id, "repair"))
        succeed(try await server("returns", "disposition", "--db", "hq.sqlite", id, "recycle"))
        let conflicted = try await kiosk("sync", "--db", "b.sqlite", "--json")
        let conflicts = try #require(
            (try JSONSerialization.jsonObject(with: Data(conflicted.stdout.utf8)) as? [String: Any])?["conflicts"]
                as? [[String: String]]
        )
        #expect(conflicts == [["recordId": id, "field": "disposition"]])
        succeed(try await kiosk("sync", "--db", "a.sqlite"))
        for database in ["a.sqlite", "b.sqlite"] {
            let output = try await kiosk("show", "--db", database, id, "--json").stdout
            let shown = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            #expect(shown["disposition"] as? String == "recycle")
            #expect(shown["conflicts"] as? [String] == ["disposition"])
        }
        let hqShown = try await server("returns", "show", "--db", "hq.sqlite", id, "--json")
        #expect(hqShown.stdout.contains(#""disposition" : "recycle""#))

        let csv = try await server("report", "--db", "hq.sqlite", "--by", "reason", "--format", "csv")
        #expect(csv.stdout == "reason,returns,units,voided,rejected\ndefective,1,1,0,0\n")
        let kiosks = try await server("kiosks", "--db", "hq.sqlite", "--json")
        #expect(kiosks.stdout.contains("store-12/kiosk-a") && kiosks.stdout.contains("store-12/kiosk-b"))

        // A refused sync: an unreachable server is one line on stderr and a non-zero exit.
        let unreachable = try await kiosk("sync", "--db", "a.sqlite", "--server", "127.0.0.1:1")
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.hasPrefix("error: cannot reach the server at 127.0.0.1:1"))

        // SIGTERM stops the server gracefully.
        serve.send(SIGTERM)
        let stopped = try await offThePool { serve.waitUntilExit() }
        #expect(stopped == .init(status: 0, bySignal: false))
    }
}
