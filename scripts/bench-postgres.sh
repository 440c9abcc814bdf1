#!/usr/bin/env bash
# One session, interleaved: returns-bench sync and fleet against SQLite, then against PostgreSQL with 1, 2 and 4
# `serve` processes on one database, each figure a JSON line; then issue 18's metadata target on both backends (a
# return edited five times). Quote ratios from one run: these machines are noisy.
#
#   scripts/bench-postgres.sh POSTGRES_URL [SYNC_RETURNS] [FLEET_KIOSKS] [ROUNDS]
#
# POSTGRES_URL names a server and a database to connect to (postgres://USER@HOST:PORT/postgres); each run creates
# a fresh database beside it and drops it at the end. A throw-away server: eval "$(scripts/postgres-test-cluster start)".
set -euo pipefail
cd "$(dirname "$0")/.."
URL="${1:?usage: scripts/bench-postgres.sh POSTGRES_URL [SYNC_RETURNS] [FLEET_KIOSKS] [ROUNDS]}"
N="${2:-100000}"
K="${3:-1000}"
ROUNDS="${4:-2}"
swift build -c release --product returns-bench >/dev/null
swift build -c release --product returns-server >/dev/null
BENCH=.build/release/returns-bench

for round in $(seq "$ROUNDS"); do
    echo "# round $round" >&2
    "$BENCH" sync --returns "$N"
    "$BENCH" sync --returns "$N" --db "$URL"
    "$BENCH" fleet --kiosks "$K" --returns 100
    for servers in 1 2 4; do
        "$BENCH" fleet --kiosks "$K" --returns 100 --db "$URL" --servers "$servers"
    done
done

# The sync metadata of 10,000 returns edited five times, as a share of each server's database (target < 25 %).
sqlite_metadata=$("$BENCH" metadata --returns 10000 --edits 5)
postgres_metadata=$("$BENCH" metadata --returns 10000 --edits 5 --db "$URL")
echo "$sqlite_metadata"
echo "$postgres_metadata"
python3 - "$sqlite_metadata" "$postgres_metadata" <<'PY'
import json, sys
for name, text in zip(("SQLite", "PostgreSQL"), sys.argv[1:3]):
    share = json.loads(text)["serverMetadataShare"]
    print(f"metadata on {name}, 5 edits: server {share:.1%} of the database (target < 25 %): "
          f"{'met' if share < 0.25 else 'NOT met'}")
PY
