#include "CSQLiteSettings.h"

#include <sqlite3.h>

static int memoryStatisticsResult = -1;

// The system's SQLite (Debian's 3.40.1 here) keeps SQLite's default of memory statistics on and is built without
// lookaside memory, so every allocation it makes takes a process-wide mutex to count itself (`sqlite3Malloc`): 5 % of
// the server writer's CPU in a sync, the thread that bounds it. Nothing here reads those statistics
// (`sqlite3_memory_used`, `sqlite3_status64`, heap limits), and SQLite recommends them off (SQLITE_DEFAULT_MEMSTATUS=0
// among its recommended compile-time options). The setting is read only before SQLite's first initialization, which any
// open of a database does; a constructor is the one place sure to run before all of them, tests' own connections
// included.
__attribute__((constructor)) static void returnsync_sqlite3_configure(void) {
    memoryStatisticsResult = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int returnsync_sqlite3_memory_statistics_result(void) {
    return memoryStatisticsResult;
}
