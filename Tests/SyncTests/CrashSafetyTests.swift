import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import Testing

/// Real `returns-server` and `kiosk` processes, killed with SIGKILL at random points of capture and sync, at both
/// ends, round after round. After every round both databases pass `PRAGMA integrity_check`; nothing the server
/// acknowledged is missing after it restarts; in the end every return the kiosk reported as recorded exists
/// exactly once on both sides and the two replicas hold identical records.
///
/// `swift test` runs a few rounds; `scripts/soak.sh ROUNDS [SEED]` runs as many as asked
/// (`RETURNSYNC_SOAK_ROUNDS`, `RETURNSYNC_SOAK_SEED`).
@Suite struct CrashSafetyTests {

    /// A child process whose output is collected; `kill()` sends SIGKILL.
    final class Child: Sendable {
        let process: ChildProcess

        /// - Parameter keepsErrors: pipe standard error too (small: read after standard output), for diagnostics.
        init(_ tool: String, _ arguments: [String], in directory: String, keepsErrors: Bool = false) throws {
            process = try ChildProcess(
                ToolRun.binaries.appendingPathComponent(tool).path,
                arguments,
                directory: directory,
                error: keepsErrors ? .pipe : .discard
            )
        }

        /// What the child wrote to standard error, when kept.
        func errors() -> String {
            process.standardError.map { String(decoding: $0.readDataToEndOfFile(), as: UTF8.self) } ?? ""
        }

        func kill() { process.send(SIGKILL) }

        /// Waits for the exit; the status and everything printed.
        func finish() -> (status: Int32, killed: Bool, stdout: String) {
            let data = process.standardOutput!.readDataToEndOfFile()
            let termination = process.waitUntilExit()
            return (termination.status, termination.bySignal, String(decoding: data, as: UTF8.self))
        }

        /// `finish()` on a thread of its own, off the threads every test's async work shares.
        func finished() async throws -> (status: Int32, killed: Bool, stdout: String) {
            try await offThePool { self.finish() }
        }

        /// `firstLine()` on a thread of its own.
        func listening() async throws -> String { try await offThePool { self.firstLine() } }

        /// Reads the first line printed (the server's `listening on HOST:PORT`).
        func firstLine() -> String {
            var line = Data()
            while line.last != UInt8(ascii: "\n") {
                let byte = process.standardOutput!.readData(ofLength: 1)
                guard !byte.isEmpty else { break }
                line.append(byte)
            }
            return String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// Runs `tool`, and with `killChance` percent kills it after a random delay of up to `maxDelay` ms.
    static func run(
        _ tool: String,
        _ arguments: [String],
        in directory: String,
        random: inout SeededRandom,
        killChance: Int,
        maxDelay: Int = 40
    ) async throws -> (status: Int32, killed: Bool, stdout: String) {
        let child = try Child(tool, arguments, in: directory)
        if random.chance(killChance) {
            // The fault's timing, not a synchronisation: the process is killed wherever it happens to be.
            try await Task.sleep(for: .microseconds(random.below(maxDelay * 1000)))
            child.kill()
        }
        return try await child.finished()
    }

    @Test(.timeLimit(.minutes(10)))
    func returnsSurviveSIGKILLAtBothEnds() async throws {
        let environment = ProcessInfo.processInfo.environment
        let rounds = environment["RETURNSYNC_SOAK_ROUNDS"].flatMap(Int.init) ?? 8
        let seed = environment["RETURNSYNC_SOAK_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1 ... .max)
        print("crash soak: \(rounds) rounds, seed \(seed)")
        var random = SeededRandom(seed: seed)
        let directory = try TemporaryDirectory()
        let dir = directory.path
        let kioskDB = ["--db", directory.file("kiosk.sqlite")]
        let serverDB = ["--db", directory.file("hq.sqlite")]

        var server = try Child("returns-server", ["serve", "--port", "0"] + serverDB, in: dir)
        var address = String(try await server.listening().dropFirst("listening on ".count))
        func restartServer() async throws {
            server.kill()
            _ = try await server.finished()
            #expect(try ReplicaStore.open(at: directory.file("hq.sqlite")).integrityCheck() == "ok")
            server = try Child("returns-server", ["serve", "--port", "0"] + serverDB, in: dir)
            address = String(try await server.listening().dropFirst("listening on ".count))
        }
        let token = try await Child("returns-server", ["enroll", "--store", "s1", "--kiosk", "k1"] + serverDB, in: dir)
            .finished().stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let initialised = try await Child(
            "kiosk",
            ["init", "--store", "s1", "--kiosk", "k1", "--server", address, "--token", token] + kioskDB,
            in: dir
        ).finished()
        try #require(initialised.status == 0)

        var recorded: [String] = []  // every id `kiosk record` reported
        var acknowledged = Set<String>()  // every id a successful sync carried to the server
        var kills = (kiosk: 0, server: 0)
        for round in 0..<rounds {
            // Capture: some commands are killed mid-way; those that reported an id must keep it.
            for index in 0..<4 {
                let result = try await Self.run(
                    "kiosk",
                    ["record", "--order", "ORD-\(round)-\(index)", "--gtin", "4006381333931", "--reason", "defective"]
                        + kioskDB,
                    in: dir,
                    random: &random,
                    killChance: 30
                )
                if result.killed { kills.kiosk += 1 }
                if result.status == 0, !result.killed {
                    recorded.append(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
            if let target = recorded.randomElement() {
                let noted = try await Self.run(
                    "kiosk",
                    ["note", target, "round \(round)"] + kioskDB,
                    in: dir,
                    random: &random,
                    killChance: 30
                )
                if noted.killed { kills.kiosk += 1 }
            }

            // Sync, with the kiosk or the server killed part of the time.
            let before = Set(recorded)
            let sync = try Child("kiosk", ["sync", "--server", address] + kioskDB, in: dir)
            let killKiosk = random.chance(30)
            let killServer = !killKiosk && random.chance(30)
            if killKiosk || killServer {
                try await Task.sleep(for: .microseconds(random.below(60_000)))
                if killKiosk { sync.kill() } else { server.kill() }
            }
            let synced = try await sync.finished()
            if synced.killed { kills.kiosk += 1 }
            if synced.status == 0 { acknowledged.formUnion(before) }
            if killServer || !server.process.isRunning {
                kills.server += 1
                try await restartServer()
                // Whatever the server acknowledged before it died is still there.
                let held = Set(try ReplicaStore.open(at: directory.file("hq.sqlite")).returnRecords().map(\.id))
                #expect(acknowledged.isSubset(of: held), "round \(round): acknowledged returns lost by the server")
            }
            #expect(try ReplicaStore.open(at: directory.file("kiosk.sqlite")).integrityCheck() == "ok")
        }

        // A last, undisturbed sync (a killed one may have left work for it).
        var final = try await Child("kiosk", ["sync", "--server", address] + kioskDB, in: dir).finished()
        if final.status != 0 {
            let again = try Child("kiosk", ["sync", "--server", address] + kioskDB, in: dir, keepsErrors: true)
            final = try await again.finished()
            let errors = try await offThePool { again.errors() }
            #expect(final.status == 0, "the final sync: \(final.stdout) \(errors)")
        }
        server.kill()
        _ = try await server.finished()

        let kiosk = try ReplicaStore.open(at: directory.file("kiosk.sqlite"))
        let hq = try ReplicaStore.open(at: directory.file("hq.sqlite"))
        let kioskRecords = try kiosk.returnRecords()
        #expect(try kiosk.integrityCheck() == "ok" && hq.integrityCheck() == "ok")
        #expect(Set(recorded).count == recorded.count, "no id reported twice")
        #expect(Set(recorded).isSubset(of: Set(kioskRecords.map(\.id))), "every reported return is on the kiosk")
        #expect(try hq.returnRecords() == kioskRecords, "kiosk and server converged")
        print(
            "crash soak: \(rounds) rounds survived, \(kills.kiosk) kiosk and \(kills.server) server processes killed, "
                + "\(recorded.count) returns reported, \(kioskRecords.count) stored, none lost"
        )
    }
}
