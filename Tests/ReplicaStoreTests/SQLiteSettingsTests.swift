import CSQLiteSettings
import GRDBSQLite
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import SyncEngine
import Testing

/// SQLite's process-wide settings: made once as the process loads, before any connection (CSQLiteSettings).
@Suite struct SQLiteSettingsTests {
    /// With memory statistics on, each of SQLite's allocations takes a process-wide lock to count itself, and this
    /// system's SQLite has no lookaside memory to spare it: a store's writer paid 5 % of its CPU for them.
    @Test func sqliteCountsNoMemorySoItsAllocationsTakeNoLock() throws {
        // SQLITE_OK: SQLite took the setting, so no connection had initialized it before this process's constructor.
        #expect(returnsync_sqlite3_memory_statistics_result() == SQLITE_OK)
        let directory = try TemporaryDirectory()
        let store = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("s"), kiosk: KioskID("k"))
        )
        _ = try store.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        // Counted, this would be the bytes the open store's connections and caches hold: 521,216 with the setting
        // left out of the constructor.
        #expect(sqlite3_memory_used() == 0)
    }
}
