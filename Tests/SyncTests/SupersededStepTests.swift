import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

/// HQ keeps the step writes later writes replaced, on every backend, whichever way the later write arrives: a
/// kiosk's push or HQ's own edit. Conflicts settled are not steps replaced (the record keeps them).
@Suite struct SupersededStepTests {
    static func kiosk(in directory: TemporaryDirectory, _ name: String = "k1") throws -> ReplicaStore {
        try ReplicaStore.create(
            at: directory.file("\(name).sqlite"),
            identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID(name))
        )
    }

    @Test func onlyWritesTheNewVersionNoLongerHoldsAreSuperseded() throws {
        let directory = try TemporaryDirectory()
        let a = try Self.kiosk(in: directory, "a")
        let b = try Self.kiosk(in: directory, "b")
        let item = try a.recordReturn(ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("96385074"), reason: .damaged))
        _ = try a.updateReturn(item.id, operation: "inspect") {
            try $0.inspect(condition: .unopened, testResult: .pass, by: $1, at: $2)
        }
        _ = try a.updateReturn(item.id, operation: "route") { try $0.assignDisposition(.restock, by: $1, at: $2) }
        let restocked = try a.returnRecord(item.id)
        try b.merge(restocked)
        // Concurrent routings: both values stay (a conflict), nothing is superseded.
        _ = try a.updateReturn(item.id, operation: "route") { try $0.assignDisposition(.repair, by: $1, at: $2) }
        _ = try b.updateReturn(item.id, operation: "route") { try $0.assignDisposition(.recycle, by: $1, at: $2) }
        let repaired = try a.returnRecord(item.id)
        #expect(SupersededStep.between(restocked, repaired).map(\.value) == ["restock"])
        try a.merge(try b.returnRecord(item.id))
        let both = try a.returnRecord(item.id)
        #expect(SupersededStep.between(repaired, both).isEmpty, "a conflict keeps both values")
        // Settling the conflict: the replaced value goes to the record's history, not here.
        _ = try a.resolveConflict(item.id, field: ReturnEntity.Field.disposition, value: "recycle")
        #expect(SupersededStep.between(both, try a.returnRecord(item.id)).isEmpty)
    }

    @Test(arguments: StorageBackend.all)
    func hqKeepsTheStepsThatPushesAndItsOwnEditsReplaced(backend: StorageBackend) async throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kiosk(in: directory)
        let first = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("96385074"), reason: .damaged)
        )
        let second = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-2"), gtin: GTIN("96385074"), reason: .damaged)
        )
        for id in [first.id, second.id] {
            _ = try kiosk.updateReturn(id, operation: "inspect") {
                try $0.inspect(condition: .unopened, testResult: .pass, by: $1, at: $2)
            }
            _ = try kiosk.updateReturn(id, operation: "route") { try $0.assignDisposition(.restock, by: $1, at: $2) }
        }
        try await backend.with { instance in
            let storage = instance.storage
            let hq = try #require(storage as? any ReturnAdministration)
            func push() async throws {
                _ = try await storage.acceptPush(
                    try kiosk.returnRecords(),
                    from: ReplicaID("store-1/k1"),
                    store: StoreID("store-1")
                )
            }
            try await push()
            #expect(try await hq.supersededSteps(of: [first.id.rawValue, second.id.rawValue]).isEmpty)
            // The kiosk routes the first again, and pushes; HQ routes the second itself.
            _ = try kiosk.updateReturn(first.id, operation: "route") {
                try $0.assignDisposition(.repair, by: $1, at: $2)
            }
            try await push()
            _ = try await hq.editReturn(second.id, operation: "disposition", operatorID: nil) {
                try $0.assignDisposition(.recycle, by: $1, at: $2)
            }
            let steps = try await hq.supersededSteps(of: [first.id.rawValue, second.id.rawValue])
            #expect(steps[first.id.rawValue]?.map(\.value) == ["restock"], "\(backend)")
            #expect(steps[first.id.rawValue]?.first?.dot.replica.rawValue == "store-1/k1")
            #expect(steps[second.id.rawValue]?.map(\.value) == ["restock"], "\(backend)")
            // Pushing the same versions again keeps nothing twice.
            try await push()
            #expect(try await hq.supersededSteps(of: [first.id.rawValue])[first.id.rawValue]?.count == 1)
        }
    }
}
