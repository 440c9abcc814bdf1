import Foundation
import PostgresStorage
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import SyncClient
import SyncCore
import Testing

/// Faults of a fleet on PostgreSQL: a `serve` process killed mid-push while another serves on, and PostgreSQL itself
/// restarted under a running server.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresFaultTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres-test-cluster").path

    /// Runs `scripts/postgres-test-cluster ARGUMENTS` (on a thread of its own: `initdb` takes seconds); its output.
    static func cluster(_ arguments: [String]) async throws -> String {
        let (output, status) = try await offThePool { try clusterNow(arguments) }
        try #require(status == 0, "postgres-test-cluster \(arguments.joined(separator: " ")) failed")
        return output
    }

    /// `cluster(_:)` on the calling thread, for a `defer`; its output and exit status.
    static func clusterNow(_ arguments: [String]) throws -> (String, Int32) {
        let process = try ChildProcess("/bin/bash", [script] + arguments, output: .pipe, error: .discard)
        let output = String(decoding: process.standardOutput!.readDataToEndOfFile(), as: UTF8.self)
        return (output, process.waitUntilExit().status)
    }

    @Test func aServeProcessKilledMidPushLosesNothingAndAnotherServesOn() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let directory = try TemporaryDirectory()
        let first = try await PostgresFleetTests.ServeProcess.start(url)
        let second = try await PostgresFleetTests.ServeProcess.start(url)
        let (a, clientA) = try await PostgresFleetTests.enrolledKiosk(
            url,
            store: "store-1",
            kiosk: "a",
            server: first.address,
            in: directory
        )
        _ = try a.importReturns(ndjson: SampleData.importLines(count: 3_000))
        let pushing = Task { try? await clientA.sync() }
        // The fault's timing, not a synchronisation: the process dies wherever the push happens to be.
        try await Task.sleep(for: .milliseconds(Int.random(in: 20...600)))
        first.process.send(SIGKILL)
        _ = try await offThePool { first.process.waitUntilExit() }
        _ = await pushing.value
        // The kiosk carries on through the other process; nothing acknowledged or not is lost or doubled.
        _ = try await clientA.sync(server: second.address)
        let (b, clientB) = try await PostgresFleetTests.enrolledKiosk(
            url,
            store: "store-1",
            kiosk: "b",
            server: second.address,
            in: directory
        )
        _ = try await clientB.sync()
        let held = try a.returnRecords()
        #expect(held.count == 3_000)
        #expect(try b.returnRecords() == held, "every return reached the database once, whichever process took it")
        second.stop()
        await drop()
    }

    @Test func postgresRestartedUnderARunningServerRecoversWithoutARestart() async throws {
        // A cluster of its own: the shared one serves the other tests meanwhile.
        var urlText = ""
        var clusterDirectory = ""
        for line in try await Self.cluster(["start"]).split(separator: "\n") {
            if line.hasPrefix("export RETURNSYNC_POSTGRES_URL=") {
                urlText = String(line.dropFirst("export RETURNSYNC_POSTGRES_URL=".count))
            }
            if line.hasPrefix("export RETURNSYNC_POSTGRES_DIR=") {
                clusterDirectory = String(line.dropFirst("export RETURNSYNC_POSTGRES_DIR=".count))
            }
        }
        defer { _ = try? Self.clusterNow(["stop", clusterDirectory]) }
        let url = try PostgresURL(urlText)
        let directory = try TemporaryDirectory()
        let token = try await PostgresFleetTests.enroll(url, store: "store-1", kiosk: "a")
        let serve = try await PostgresFleetTests.ServeProcess.start(url)
        let (a, client) = try PostgresFleetTests.kiosk(
            store: "store-1",
            kiosk: "a",
            token: token,
            server: serve.address,
            in: directory
        )
        _ = try a.recordReturn(ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .damaged))
        #expect(try await client.sync().pushed == 1)

        _ = try await Self.cluster(["pause", clusterDirectory])
        _ = try a.recordReturn(ReturnCapture(orderID: OrderID("ORD-2"), gtin: GTIN("4006381333931"), reason: .damaged))
        // The server says it cannot complete the sync, and keeps running; the kiosk keeps its return.
        await #expect {
            _ = try await client.sync()
        } throws: { error in
            (error as? SyncError)?.serverError?.code == .internalError
        }
        #expect(serve.process.isRunning, "serve survives its database going away")

        _ = try await Self.cluster(["resume", clusterDirectory])
        // The pool reconnects by itself: a sync or two later (connections from before are found dead on use).
        var pushed = 0
        for _ in 0..<3 where pushed == 0 {
            pushed = (try? await client.sync().pushed) ?? 0
        }
        #expect(pushed == 1, "serve recovered without a restart")
        serve.stop()
    }
}
