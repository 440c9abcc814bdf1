#ifndef RETURNSYNC_CSQLITESETTINGS_H
#define RETURNSYNC_CSQLITESETTINGS_H

/// What SQLite answered when this process turned its memory statistics off (`SQLITE_CONFIG_MEMSTATUS`, 0), before
/// SQLite's first initialization: `SQLITE_OK` (0) when they are off.
///
/// SQLite's C configuration call is variadic, which Swift cannot call; this target makes it, once, as the process
/// loads.
int returnsync_sqlite3_memory_statistics_result(void);

#endif
