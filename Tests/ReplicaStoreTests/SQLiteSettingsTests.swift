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

    /// A statement that writes many rows inside a larger transaction journals the pages it changes that the
    /// transaction had changed before; past SQLite's default of 64 KiB that journal went to a temporary file (110 MB
    /// of them for a kiosk's import of 100,000). Seen through a VFS that counts the sub-journals opened as files: a
    /// kiosk's imports, many 64-row statements in one transaction each, open none (with SQLite's default, two).
    @Test func manyRowStatementsKeepTheirJournalsInMemory() throws {
        #expect(returnsync_sqlite3_statement_journal_spill_result() == SQLITE_OK)
        let before = returnsync_sqlite3_subjournal_files_opened()  // installs the counting VFS
        let directory = try TemporaryDirectory()
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-12"), kiosk: KioskID("k"))
        )
        // Into a kiosk holding returns already (no deferred indexes): every index updated row by row.
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 2_000))
        try kiosk.importReturns(ndjson: SampleData.importLines(count: 3_000, offset: 2_000))
        #expect(try kiosk.status().totalReturns == 5_000)
        #expect(returnsync_sqlite3_subjournal_files_opened() == before)
    }
}
