#!/usr/bin/env bash
# One run, every figure against the sqlite3 shell: returns-bench sync of N returns (kiosk → server over loopback
# TCP, everything durable), the sqlite3 shell loading the same returns, returns-bench pull and sync again; then the
# rates and the ratios. Quote ratios from one run: these machines are noisy.
#
# The headline reference (printed first) is what a user would compare with: the shell loading the returns into one
# plain table (primary key on id; the record's JSON beside it) from SQL text, in one WAL transaction with
# synchronous=FULL. The second reference loads the rows sync stored into our whole server schema (three tables and
# their indexes), which measures SQLite's share of our own work.
#
#   scripts/bench-vs-sqlite3.sh [N] [--all]        (default 100000; needs the sqlite3 shell)
#
# With --all, the rest of issue 18's targets follow, each figure beside its target (about five more minutes):
# fleet (1,000 kiosks x 100 returns), noop against 1,000,000 returns, kiosk record on a kiosk of 1,000,000, and
# the metadata share of a return edited five times.
set -euo pipefail
cd "$(dirname "$0")/.."
N=100000
ALL=0
for argument in "$@"; do
    case "$argument" in
    --all) ALL=1 ;;
    *[!0-9]* | "") echo "usage: scripts/bench-vs-sqlite3.sh [N] [--all]; '$argument' is neither" >&2; exit 64 ;;
    *) N="$argument" ;;
    esac
done
swift build -c release --product returns-bench >/dev/null
swift build -c release --product returns-server >/dev/null
BIN=.build/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Loads $2 (SQL text) into the fresh database $1 in one transaction; prints the seconds it took.
load() {
    local start end
    start=$(date +%s.%N)
    sqlite3 -bail "$1" < "$2"
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}

# 1. The sync whose server rows the shell will load.
first=$("$BIN/returns-bench" sync --returns "$N" --work-dir "$WORK/first")
echo "$first"

# 2. The headline reference: the same returns into one plain table.
{
    echo "PRAGMA synchronous=FULL; BEGIN;"
    sqlite3 "$WORK/first/hq.sqlite" ".mode insert returns" \
        "SELECT id, record FROM records WHERE entity_type = 'return' ORDER BY change_seq;"
    echo "COMMIT;"
} > "$WORK/plain.sql"
echo "PRAGMA journal_mode=WAL; CREATE TABLE returns (id TEXT PRIMARY KEY, record TEXT NOT NULL);" \
    | sqlite3 "$WORK/plain.sqlite" >/dev/null
plain_seconds=$(load "$WORK/plain.sqlite" "$WORK/plain.sql")
echo "{\"benchmark\":\"sqlite3-shell-plain-table\",\"returns\":$N,\"seconds\":$plain_seconds,\"sqlBytes\":$(stat -c %s "$WORK/plain.sql")}"

# Loads the rows sync stored in tables $3... of the first sync's server into a fresh database with the schema $2;
# prints the benchmark's line, named $1, and leaves the seconds in $loaded_seconds.
load_rows() {
    local name=$1 schema=$2
    shift 2
    {
        echo "PRAGMA synchronous=FULL; PRAGMA cache_size=-131072; BEGIN;"
        for table in "$@"; do
            sqlite3 "$WORK/first/hq.sqlite" ".mode insert $table" "SELECT * FROM $table;"
        done
        echo "COMMIT;"
    } > "$WORK/$name.sql"
    { echo "PRAGMA journal_mode=WAL;"; cat "$schema"; } | sqlite3 "$WORK/$name.sqlite" >/dev/null
    loaded_seconds=$(load "$WORK/$name.sqlite" "$WORK/$name.sql")
    echo "{\"benchmark\":\"sqlite3-shell-$name\",\"returns\":$N,\"seconds\":$loaded_seconds,\"sqlBytes\":$(stat -c %s "$WORK/$name.sql")}"
}

# 3. The rows sync stored, into the server's own schema.
sqlite3 "$WORK/first/hq.sqlite" .schema | grep -v '^CREATE TABLE sqlite_sequence' > "$WORK/schema.sql"
load_rows server-schema "$WORK/schema.sql" change_log records returns
schema_seconds=$loaded_seconds

# 3b. The sync core alone: the change log and the records with their indexes, no `returns` projection. What taking
# HQ's projection off the hot path could reach at most (BENCHMARKS.md, issue 18).
python3 - "$WORK/schema.sql" > "$WORK/core-schema.sql" <<'PY'
import re, sys
for statement in open(sys.argv[1]).read().split(";\n"):
    match = re.match(r'\s*CREATE (?:UNIQUE )?(?:TABLE|INDEX) (?:IF NOT EXISTS )?"?(\w+)"?(?: ON "?(\w+)"?)?', statement)
    if match and (match.group(2) or match.group(1)) in ("change_log", "records"):
        print(statement.strip().rstrip(";") + ";")
PY
load_rows sync-core "$WORK/core-schema.sql" change_log records
core_seconds=$loaded_seconds
rm -rf "$WORK/first"

# 4. A fresh kiosk's pull of the same number of returns, then sync again.
pull=$("$BIN/returns-bench" pull --returns "$N" --work-dir "$WORK/pull")
echo "$pull"
rm -rf "$WORK/pull"
second=$("$BIN/returns-bench" sync --returns "$N" --work-dir "$WORK/second")
echo "$second"

python3 - "$N" "$plain_seconds" "$schema_seconds" "$core_seconds" "$first" "$pull" "$second" <<'PY'
import json, sys
n, plain, schema, core = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
first, pull, second = (json.loads(a) for a in sys.argv[5:8])
reference = n / plain
print(f"sqlite3 shell, one plain table: {reference:,.0f} returns/s (the reference); "
      f"into the server's schema: {n / schema:,.0f} returns/s; "
      f"the sync core's two tables alone: {n / core:,.0f} returns/s ({plain / core:.2f} of the reference)")
rows = [
    ("sync", first["returnsPerSecond"]),
    ("sync again", second["returnsPerSecond"]),
    ("pull", pull["returnsPerSecond"]),
    ("kiosk import", first.get("importReturnsPerSecond", 0)),
    ("kiosk import again", second.get("importReturnsPerSecond", 0)),
]
for name, rate in rows:
    print(f"{name}: {rate:,.0f} returns/s; ratio to the plain table {rate / reference:.2f} (target 1.0); "
          f"to the server schema {rate / (n / schema):.2f}")
# Bound by one thread (cores to spare) or by the machine (cores used near its count)?
for name, run in (("sync", first), ("pull", pull), ("sync again", second)):
    if "coresUsed" in run:
        print(f"{name}: {run['coresUsed']:.2f} cores used; CPU a return: server "
              f"{run['serverCPUMicrosecondsPerReturn']:.1f} µs, kiosk {run['kioskCPUMicrosecondsPerReturn']:.1f} µs")
PY

[ "$ALL" = 1 ] || exit 0

# 5. The other targets, each from its own returns-bench run.
fleet=$("$BIN/returns-bench" fleet --kiosks 1000 --returns 100 --work-dir "$WORK/fleet")
echo "$fleet"
rm -rf "$WORK/fleet"
# A p99 of 1,000 syncs, not of 100 (whose p99 is its slowest one or two).
noop=$("$BIN/returns-bench" noop --server-returns 1000000 --runs 1000 --work-dir "$WORK/noop")
echo "$noop"
rm -rf "$WORK/noop"
record=$("$BIN/returns-bench" record --returns 1000000 --work-dir "$WORK/record")
echo "$record"
rm -rf "$WORK/record"
metadata=$("$BIN/returns-bench" metadata --returns 10000 --edits 5 --work-dir "$WORK/metadata")
echo "$metadata"

python3 - "$fleet" "$noop" "$record" "$metadata" <<'PY'
import json, sys
fleet, noop, record, metadata = (json.loads(a) for a in sys.argv[1:5])
def met(ok): return "met" if ok else "NOT met"
complete = fleet["completed"] == fleet["kiosks"]
rss = fleet["serverPeakRSSBytes"] / 2**30
print(f"fleet {fleet['kiosks']:.0f} x {fleet['returnsPerKiosk']:.0f}: {fleet['completed']:.0f} completed, "
      f"p99 {fleet['latencySecondsP99']:.2f} s (target < 2 s), server RSS {rss:.2f} GiB (target < 1): "
      f"{met(complete and fleet['latencySecondsP99'] < 2 and rss < 1)}"
      + (f"; {fleet['coresUsed']:.2f} cores used" if "coresUsed" in fleet else ""))
print(f"noop against {noop['serverReturns']:,.0f}: p99 {noop['latencyMsP99']:.2f} ms (target < 5), "
      f"{noop['wireBytesPerSync']:.0f} bytes (target < 1,024): "
      f"{met(noop['latencyMsP99'] < 5 and noop['wireBytesPerSync'] < 1024)}")
print(f"kiosk record on {record['kioskReturns']:,.0f}: p99 {record['latencyMsP99']:.2f} ms (target < 5): "
      f"{met(record['latencyMsP99'] < 5)}")
print(f"metadata, {metadata['edits']:.0f} edits: kiosk {metadata['kioskMetadataShare']:.1%}, "
      f"server {metadata['serverMetadataShare']:.1%} of the database (target < 25 %): "
      f"{met(max(metadata['kioskMetadataShare'], metadata['serverMetadataShare']) < 0.25)}")
PY
