#!/usr/bin/env bash
# One session, interleaved: returns-bench sync and fleet against SQLite, then against PostgreSQL with 1, 2 and 4
# `serve` processes on one database, each figure a JSON line. Quote ratios from one run: these machines are noisy.
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
