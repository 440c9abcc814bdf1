#include "CSQLiteSettings.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

static int memoryStatisticsResult = -1;
static int statementJournalSpillResult = -1;

// A statement that writes many rows inside a larger transaction (a kiosk storing 64 pulled or imported records, or a
// few hundred projection rows, at once) keeps, in a statement journal, each page it changes that the transaction had
// changed before, so that it can be undone alone. Past 64 KiB, SQLite's default, the journal spills to a temporary
// file: a kiosk's import of 100,000 returns wrote 110 MB into such files in 50,000 `pwrite` calls, more than its
// write-ahead log, and a first pull about as much (BENCHMARKS.md, issue 18, thirty-third part). Such a journal lives
// for one statement and holds at most the pages the transaction has changed, which its page cache holds already;
// -1 keeps every statement journal in memory, as a server's `temp_store = MEMORY` does (ReplicaStore.Configuration
// .server) — without moving a kiosk's large sorts into memory, which that setting would. Not a larger threshold: an
// in-memory journal is made of chunks of the threshold's size, and spilling writes each chunk in one call, which the
// unix VFS cuts to its low 17 bits (`seekAndWriteFd`: at most 128 KiB a write) — with 4 MiB, `pwrite(fd, "", 0, 0)`
// and SQLITE_FULL on a kiosk's second import of 100,000 returns (the `record` benchmark's set-up, strace).
int returnsync_sqlite3_statement_journal_spill(void) {
    return -1;
}

// The system's SQLite (Debian's 3.40.1 here) keeps SQLite's default of memory statistics on and is built without
// lookaside memory, so every allocation it makes takes a process-wide mutex to count itself (`sqlite3Malloc`): 5 % of
// the server writer's CPU in a sync, the thread that bounds it. Nothing here reads those statistics
// (`sqlite3_memory_used`, `sqlite3_status64`, heap limits), and SQLite recommends them off (SQLITE_DEFAULT_MEMSTATUS=0
// among its recommended compile-time options). The settings are read only before SQLite's first initialization, which
// any open of a database does; a constructor is the one place sure to run before all of them, tests' own connections
// included.
__attribute__((constructor)) static void returnsync_sqlite3_configure(void) {
    memoryStatisticsResult = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    statementJournalSpillResult =
        sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, returnsync_sqlite3_statement_journal_spill());
}

int returnsync_sqlite3_memory_statistics_result(void) {
    return memoryStatisticsResult;
}

int returnsync_sqlite3_statement_journal_spill_result(void) {
    return statementJournalSpillResult;
}

// The counting VFS: the default one's methods, with `xOpen` counting sub-journal files before it opens them.
static sqlite3_vfs countingVFS;
static sqlite3_vfs *underlyingVFS;
static atomic_int subjournalFilesOpened;

static int countingOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *outFlags) {
    (void)vfs;
    if (flags & SQLITE_OPEN_SUBJOURNAL) atomic_fetch_add(&subjournalFilesOpened, 1);
    return underlyingVFS->xOpen(underlyingVFS, name, file, flags, outFlags);
}

int returnsync_sqlite3_subjournal_files_opened(void) {
    static atomic_flag installed = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&installed)) {
        underlyingVFS = sqlite3_vfs_find(NULL);
        memcpy(&countingVFS, underlyingVFS, sizeof(countingVFS));
        countingVFS.zName = "returnsync-counting";
        countingVFS.xOpen = countingOpen;
        sqlite3_vfs_register(&countingVFS, 1);
    }
    return atomic_load(&subjournalFilesOpened);
}
