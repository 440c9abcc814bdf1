#!/usr/bin/env bash
# Crash-safety soak: real returns-server and kiosk processes killed with SIGKILL at random points of capture and
# sync, at both ends, for ROUNDS rounds (default 200). Prints the seed first; rerun with it to replay a failure.
#
#   scripts/soak.sh [ROUNDS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export RETURNSYNC_SOAK_ROUNDS="${1:-200}"
if [ -n "${2:-}" ]; then export RETURNSYNC_SOAK_SEED="$2"; fi
swift build --build-tests
swift test --skip-build --filter CrashSafetyTests 2>&1 | grep -E "crash soak|✔|✘|error"
