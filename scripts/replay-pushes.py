#!/usr/bin/env python3
"""Replays the rows a server stored, push by push, into fresh copies of its schema: what SQLite alone costs.

    scripts/replay-pushes.py HQ_DATABASE [RETURNS_PER_COMMIT ...]     (default: 500 2000 10000)
    scripts/replay-pushes.py --each-index HQ_DATABASE [RETURNS_PER_COMMIT]     (default: 500)
    scripts/replay-pushes.py --split HQ_DATABASE [RETURNS_PER_COMMIT]     (default: 1000)

HQ_DATABASE is a server's database after a sync (`returns-bench sync --work-dir DIR` leaves DIR/hq.sqlite). Its
change log, records and returns are inserted again in the order they were stored, one transaction of
RETURNS_PER_COMMIT returns at a time (a kiosk pushes 500 a batch; group commit takes more together), with the
server's settings (WAL, synchronous=FULL, 64 MiB of page cache, a checkpoint every 10,000 pages). Printed for each
size, and again without the `returns` projection: seconds, returns a second, and the bytes written (the WAL and its
checkpoints) per return. An index in random key order dirties a page per stored return at every commit; this
shows what each costs without any of our Swift code (BENCHMARKS.md, issue 18). With --each-index, the schema is
replayed whole and then once without each index of the three tables in turn, twice over (this machine is noisy):
what every index costs. With --split, the change log and records go to one database and the projection to another,
each by a process of its own at the same time (the projection in commits of five times as many returns), three times
over against the whole schema in one database: what a second writer for the projection would give on this machine.
Uses Python's sqlite3 module, which is the system's libsqlite3, as the server is.
"""
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time


def written_bytes():
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("wchar"))


def replay(statements, rows, tables, batch, path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-65536", "wal_autocheckpoint=10000"):
        db.execute("PRAGMA " + pragma)
    for statement in statements:
        db.execute(statement)
    inserts = {t: f"INSERT INTO {t} VALUES ({','.join('?' * len(rows[t][0]))})" for t in tables if rows[t]}
    count = len(rows["returns"])
    before, start = written_bytes(), time.monotonic()
    for first in range(0, count, batch):
        db.execute("BEGIN")
        for table in tables:
            if table in inserts:
                db.executemany(inserts[table], rows[table][first:first + batch])
        db.execute("COMMIT")
    seconds, written = time.monotonic() - start, written_bytes() - before
    db.close()
    return seconds, written


def main():
    arguments = sys.argv[1:]
    each_index = arguments[:1] == ["--each-index"]
    split = arguments[:1] == ["--split"]
    if each_index or split:
        arguments = arguments[1:]
    if not arguments:
        sys.exit(__doc__)
    source = sqlite3.connect(f"file:{arguments[0]}?mode=ro", uri=True)
    batches = [int(a) for a in arguments[1:]] or ([500] if each_index else [1000] if split else [500, 2000, 10000])
    tables = ("change_log", "records", "returns")
    statements = [
        sql for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN (?, ?, ?) ORDER BY type DESC",
            tables,
        )
    ]
    # One change per return in a sync into an empty server: the change log and records in the order written,
    # the projection in the same order (by the change that wrote it).
    rows = {
        "change_log": source.execute("SELECT * FROM change_log ORDER BY seq").fetchall(),
        "records": source.execute("SELECT * FROM records ORDER BY change_seq").fetchall(),
        "returns": source.execute(
            "SELECT r.* FROM returns r JOIN records c ON c.entity_type = 'return' AND c.id = r.id ORDER BY c.change_seq"
        ).fetchall(),
    }
    count = len(rows["returns"])
    # A table rebuilt by a migration is named in quotes (`CREATE TABLE "returns"`, schema v25).
    core = [s for s in statements if " returns " not in s.split("(")[0].replace('"', "") + " "]
    if split:
        projection = [s for s in statements if s not in core]
        with tempfile.TemporaryDirectory() as work:
            for _ in range(3):
                one, _ = replay(statements, rows, tables, batches[0], os.path.join(work, "one.sqlite"))
                start = time.monotonic()
                writers = [
                    multiprocessing.Process(
                        target=replay, args=(core, rows, tables[:2], batches[0], os.path.join(work, "core.sqlite"))
                    ),
                    multiprocessing.Process(
                        target=replay,
                        args=(projection, rows, tables[2:], batches[0] * 5, os.path.join(work, "projection.sqlite")),
                    ),
                ]
                for writer in writers:
                    writer.start()
                done = []
                for writer in writers:
                    writer.join()
                    done.append(time.monotonic() - start)
                print(
                    f"{count:,} returns, one database, one writer, {batches[0]:,} a commit: {count / one:,.0f} returns/s; "
                    f"two databases, two writers at once: change log and records {count / done[0]:,.0f} returns/s, "
                    f"the projection ({batches[0] * 5:,} a commit) {count / done[1]:,.0f} returns/s",
                    flush=True,
                )
        return
    if each_index:
        indexes = [s for s in statements if s.startswith("CREATE INDEX")]
        variants = [("the server's schema", statements)] + [
            ("without " + index.split()[2], [s for s in statements if s != index]) for index in indexes
        ]
        with tempfile.TemporaryDirectory() as work:
            for _ in range(2):
                for name, schema in variants:
                    seconds, written = replay(schema, rows, tables, batches[0], os.path.join(work, "replay.sqlite"))
                    print(
                        f"{count:,} returns, {batches[0]:,} a commit, {name}: {seconds:.2f} s, "
                        f"{count / seconds:,.0f} returns/s, {written / count:,.0f} bytes written a return",
                        flush=True,
                    )
        return
    with tempfile.TemporaryDirectory() as work:
        for batch in batches:
            for name, schema, replayed in (
                ("the server's schema", statements, tables),
                ("without the returns projection", core, tables[:2]),
            ):
                seconds, written = replay(schema, rows, replayed, batch, os.path.join(work, "replay.sqlite"))
                print(
                    f"{count:,} returns, {batch:,} a commit, {name}: {seconds:.2f} s, {count / seconds:,.0f} returns/s, "
                    f"{written / count:,.0f} bytes written a return"
                )


if __name__ == "__main__":
    main()
