#!/usr/bin/env bash
# One run, three figures: returns-bench sync of N returns (kiosk → server over loopback TCP, everything durable),
# the sqlite3 shell loading the rows that sync stored on the server as SQL text in one WAL transaction, and
# returns-bench sync again; then the rates and the ratio. Quote ratios from one run: these machines are noisy.
#
#   scripts/bench-vs-sqlite3.sh [N]        (default 100000; needs the sqlite3 shell)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
swift build -c release --product returns-bench >/dev/null
swift build -c release --product returns-server >/dev/null
BIN=.build/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

rate() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['returnsPerSecond'])" "$1"; }

# 1. The sync whose server rows the shell will load.
first=$("$BIN/returns-bench" sync --returns "$N" --work-dir "$WORK/first")
echo "$first"

# 2. The same rows, as SQL text, into a fresh database with the same schema, WAL, synchronous=FULL, one transaction.
sqlite3 "$WORK/first/hq.sqlite" .schema | grep -v '^CREATE TABLE sqlite_sequence' > "$WORK/schema.sql"
{
    echo "PRAGMA synchronous=FULL; PRAGMA cache_size=-131072; BEGIN;"
    for table in change_log records returns; do
        sqlite3 "$WORK/first/hq.sqlite" ".mode insert $table" "SELECT * FROM $table;"
    done
    echo "COMMIT;"
} > "$WORK/rows.sql"
{ echo "PRAGMA journal_mode=WAL;"; cat "$WORK/schema.sql"; } | sqlite3 "$WORK/shell.sqlite" >/dev/null
start=$(date +%s.%N)
sqlite3 -bail "$WORK/shell.sqlite" < "$WORK/rows.sql"
end=$(date +%s.%N)
shell_seconds=$(python3 -c "print($end - $start)")
shell_rate=$(python3 -c "print($N / ($end - $start))")
echo "{\"benchmark\":\"sqlite3-shell\",\"returns\":$N,\"seconds\":$shell_seconds,\"returnsPerSecond\":$shell_rate,\"sqlBytes\":$(stat -c %s "$WORK/rows.sql")}"

# 3. returns-bench sync again, right after.
second=$("$BIN/returns-bench" sync --returns "$N" --work-dir "$WORK/second")
echo "$second"

python3 - "$first" "$second" "$shell_rate" <<'PY'
import json, sys
first, second, shell = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
for name, run in (("first", first), ("second", second)):
    print(f"sync {name}: {run['returnsPerSecond']:,.0f} returns/s; sqlite3 shell: {shell:,.0f} returns/s; "
          f"ratio {run['returnsPerSecond'] / shell:.2f}")
PY
