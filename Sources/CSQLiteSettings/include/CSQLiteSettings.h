#ifndef RETURNSYNC_CSQLITESETTINGS_H
#define RETURNSYNC_CSQLITESETTINGS_H

/// What SQLite answered when this process turned its memory statistics off (`SQLITE_CONFIG_MEMSTATUS`, 0), before
/// SQLite's first initialization: `SQLITE_OK` (0) when they are off.
///
/// SQLite's C configuration call is variadic, which Swift cannot call; this target makes it, once, as the process
/// loads.
int returnsync_sqlite3_memory_statistics_result(void);

/// What SQLite answered when this process set how large a statement journal may grow in memory before it spills to a
/// temporary file (`SQLITE_CONFIG_STMTJRNL_SPILL`, ``returnsync_sqlite3_statement_journal_spill``): `SQLITE_OK` (0)
/// when it took it.
int returnsync_sqlite3_statement_journal_spill_result(void);

/// The bytes a statement journal may hold in memory before it spills to a temporary file (SQLite's default: 64 KiB);
/// -1: it never spills.
int returnsync_sqlite3_statement_journal_spill(void);

/// For tests: makes the default VFS one that counts the statement journals and savepoint journals (sub-journals)
/// SQLite opens as files — not those it keeps in memory — and returns the count so far (0 at the first call, which
/// installs it). Only connections opened after the first call go through it.
int returnsync_sqlite3_subjournal_files_opened(void);

#endif
