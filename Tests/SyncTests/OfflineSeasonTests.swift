import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import ReturnsSync
import SyncClient
import SyncEngine
import Synchronization
import Testing

/// Issue 22, "months offline": a kiosk left in a stockroom for a season, its clock drifting, while its store's other
/// kiosk and HQ kept working, recalls and policies came and went, and the server was restored from a backup. It
/// syncs in one go, with progress; each of its captures arrives once; it receives its store's season and nothing
/// of another store's. (`returns-bench offline` runs the same story at full size, for time and memory.)
@Suite struct OfflineSeasonTests {
    @Test func aKioskOfflineForASeasonSyncsInOneGoAndEveryCaptureArrivesOnce() async throws {
        let server = try await TestServer()
        let away = try TestKiosk(store: "store-1", kiosk: "away", server: server)
        let peer = try TestKiosk(store: "store-1", kiosk: "peer", server: server)
        let other = try TestKiosk(store: "store-2", kiosk: "x", server: server)
        try await away.sync()  // enrolled, then off to the stockroom
        try await other.sync()  // enrolled before the backup below (a kiosk enrolled after it enrolls again)

        // The season, first half: the store's other kiosk, a policy, a recall.
        _ = try peer.store.importReturns(ndjson: SampleData.importLines(count: 1_500))
        try await peer.sync()
        try server.store.setReturnPolicy(
            .validated(store: StoreID("store-1"), gtinPrefix: "", windowDays: 30, receiptRequired: false)
        )
        let recalled = try GTIN(SampleData.gtin(4_006_381_000 + 7))
        try server.store.createRecall(
            RecallCampaign(
                id: "RC-1",
                gtins: [recalled],
                hazard: "overheating",
                instructions: "quarantine",
                unitsAffected: 40,
                createdAt: Date()
            )
        )
        let backup = server.directory.file("backup.sqlite")
        try server.store.backup(to: backup)

        // Second half, lost with the server later: more captures, HQ's inspections, the recall closed, the policy
        // changed, another store's returns.
        _ = try peer.store.importReturns(ndjson: SampleData.importLines(count: 1_500, offset: 1_500))
        try await peer.sync()
        let inspected = try peer.store.returnRecords().prefix(100).map { try ReturnID($0.id) }
        for id in inspected {
            _ = try server.store.updateReturn(id, operation: "inspect") { item, author, date in
                try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
            }
        }
        _ = try server.store.closeRecall("RC-1")
        try server.store.setReturnPolicy(
            .validated(store: StoreID("store-1"), gtinPrefix: "", windowDays: 60, receiptRequired: false)
        )
        try await peer.sync()  // peer holds HQ's inspections
        _ = try other.store.importReturns(ndjson: SampleData.importLines(count: 500, offset: 200_000))
        try await other.sync()
        try await server.stop()

        // The server's disk is lost; it is restored from the backup and serves again under a new id.
        let path = server.directory.file("restored.sqlite")
        let restore = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["restore", "--from", backup, "--db", path])
        }
        #expect(restore.status == 0, "\(restore.stderr)")
        let restored = try await TestServer(serving: try ReplicaStore.open(at: path))
        _ = try await peer.client.sync(server: restored.address)  // re-sends what the restore lost
        _ = try await other.client.sync(server: restored.address)
        // HQ's own writes since the backup came back with no kiosk (kiosks send returns): HQ does them again.
        #expect(try restored.store.recalls().map(\.status) == [.open])
        _ = try restored.store.closeRecall("RC-1")
        try restored.store.setReturnPolicy(
            .validated(store: StoreID("store-1"), gtinPrefix: "", windowDays: 60, receiptRequired: false)
        )

        // Meanwhile, in the stockroom, the kiosk's clock went two days ahead, and it captured and noted.
        let drifted = try ReplicaStore.open(
            at: away.store.path,
            configuration: .init(now: { Date().addingTimeInterval(2 * 86_400) })
        )
        _ = try drifted.importReturns(ndjson: SampleData.importLines(count: 600, offset: 100_000))
        let captured = try drifted.returnRecords().map(\.id)
        for id in captured.prefix(50) {
            _ = try drifted.updateReturn(try ReturnID(id), operation: "note") { item, author, date in
                try item.addNote("found on the shelf", by: author, at: date)
            }
        }

        // Back in service: one sync, with progress.
        let steps = Mutex<[SyncProgress]>([])
        let client = SyncClient(store: drifted, progress: { step in steps.withLock { $0.append(step) } })
        let report = try await client.sync(server: restored.address)
        #expect(report.pushed == 600, "its captures, once each")
        #expect(report.clock?.restamped.count == 600, "every capture was stamped two days ahead")
        #expect(report.quarantined.isEmpty)

        // Every capture arrived once, as the kiosk holds it; the season's returns of its store came back to it.
        let held = try restored.store.returnRecords()
        #expect(held.count == 3_000 + 500 + 600)
        #expect(Set(held.map(\.id)).count == held.count)
        for id in captured {
            #expect(try restored.store.returnRecord(ReturnID(id)) == drifted.returnRecord(ReturnID(id)))
        }
        let kiosk = try drifted.returnRecords()
        #expect(kiosk.count == 3_000 + 600, "its store's season, and nothing of store-2's")
        #expect(try kiosk.allSatisfy { try ProductReturn(record: $0).storeID.rawValue == "store-1" })
        for id in inspected {
            #expect(try ProductReturn(record: drifted.returnRecord(id)).condition == .damaged)
        }
        // What came and went at HQ is what the kiosk holds now: the recall closed, the policy changed.
        #expect(try drifted.recalls().map(\.status) == [.closed])
        #expect(try drifted.returnPolicies().map(\.windowDays) == [60])
        #expect(try drifted.recalls() == restored.store.recalls())

        // The progress counted up to what it said, pushing, then pulling.
        let seen = steps.withLock { $0 }
        let pushes = seen.filter { $0.phase == .push }
        let pulls = seen.filter { $0.phase == .pull }
        #expect(!pushes.isEmpty && !pulls.isEmpty)
        #expect(zip(pushes, pushes.dropFirst()).allSatisfy { $0.done <= $1.done })
        #expect(zip(pulls, pulls.dropFirst()).allSatisfy { $0.done <= $1.done })
        #expect(pushes.last.map { $0.done == $0.total } == true, "\(pushes.last.map(String.init(describing:)) ?? "")")

        // Nothing is sent twice: the next sync has nothing to do.
        let again = try await client.sync(server: restored.address)
        #expect(again.pushed == 0 && again.pulled == 0)
        try await restored.stop()
    }
}
