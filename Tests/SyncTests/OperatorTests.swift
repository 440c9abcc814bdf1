import Foundation
import KioskCLI
import ReplicaStore
import ReturnsModel
import ReturnsServerCLI
import ReturnsSync
import SyncClient
import Testing

/// Every edit records who made it — at the kiosk and at HQ — shown in the history and the conflict audit.
@Suite struct OperatorTests {
    static func kiosk(
        _ kiosk: TestKiosk,
        _ arguments: String...
    ) async -> (status: Int32, stdout: String, stderr: String) {
        await runCaptured { await KioskCLI.run(arguments: arguments + ["--db", kiosk.store.path]) }
    }

    @Test func eachEditNamesItsOperatorInTheHistoryAndTheAudit() async throws {
        let server = try await TestServer()
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let id = await Self.kiosk(
            a,
            "record",
            "--order",
            "O-1",
            "--gtin",
            "96385074",
            "--reason",
            "defective",
            "--operator",
            "alice"
        ).stdout.trimmingCharacters(in: .newlines)
        #expect(await Self.kiosk(a, "inspect", id, "--condition", "used", "--operator", "alice").status == 0)
        try await a.sync()
        try await b.sync()
        // Two people route it at two kiosks at once: the audit says who wrote which value.
        #expect(await Self.kiosk(a, "disposition", id, "restock", "--operator", "alice").status == 0)
        #expect(await Self.kiosk(b, "disposition", id, "repair", "--operator", "bob@store1").status == 0)
        try await a.sync()
        try await b.sync()
        let hq = server.store.path
        let noted = await runCaptured {
            await ReturnsServerCLI.run(arguments: [
                "returns", "note", id, "called the customer", "--operator", "carol", "--db", hq,
            ])
        }
        #expect(noted.status == 0, "\(noted.stderr)")

        let history = ReturnEdit.history(of: try server.store.returnRecord(ReturnID(id))).map {
            "\($0.operatorID)@\($0.replica)"
        }
        #expect(
            history == ["alice@store-1/a", "alice@store-1/a", "alice@store-1/a", "bob@store1@store-1/b", "carol@hq"]
                || history == [
                    "alice@store-1/a", "alice@store-1/a", "bob@store1@store-1/b", "alice@store-1/a", "carol@hq",
                ],
            "\(history)"
        )
        let shown = await runCaptured { await ReturnsServerCLI.run(arguments: ["returns", "show", id, "--db", hq]) }
        #expect(shown.stdout.contains("carol at hq (write"), "\(shown.stdout)")
        #expect(shown.stdout.contains("bob@store1 at store-1/b (write"), "\(shown.stdout)")
        let json = await Self.kiosk(a, "show", id, "--json")
        #expect(json.stdout.contains("\"operatorId\" : \"alice\""), "\(json.stdout)")
        let audit = await runCaptured { await ReturnsServerCLI.run(arguments: ["conflicts", "--db", hq]) }
        #expect(audit.stdout.contains("by alice") && audit.stdout.contains("by bob@store1"), "\(audit.stdout)")

        // A bad operator id is named, and nothing is stored.
        let before = try a.store.returnRecord(ReturnID(id))
        let refused = await Self.kiosk(a, "note", id, "x", "--operator", "no spaces allowed")
        #expect(refused.stderr.hasPrefix("error: invalid --operator 'no spaces allowed'"), "\(refused.stderr)")
        #expect(try a.store.returnRecord(ReturnID(id)) == before)
        try await server.stop()
    }
}
