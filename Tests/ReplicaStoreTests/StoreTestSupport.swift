import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine

/// A kiosk store in its own temporary directory.
struct KioskFixture {
    let directory: TemporaryDirectory
    let store: ReplicaStore

    init(store storeID: String = "store-12", kiosk: String = "kiosk-a", function: String = #function) throws {
        directory = try TemporaryDirectory(function: function)
        store = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID(storeID), kiosk: KioskID(kiosk))
        )
    }

    @discardableResult
    func record(reason: ReturnReason = .defective, note: String? = nil) throws -> ProductReturn {
        try store.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: reason, note: note)
        )
    }

    /// Everything a failed command must leave untouched: the change log and every stored record.
    func snapshot() throws -> (changes: Int, export: Data) {
        var export = Data()
        try store.exportReturns { export.append($0) }
        return (try store.changeLogCount(), export)
    }
}
