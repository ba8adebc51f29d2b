#!/usr/bin/env bash
# Decisions over HTTP from a light generator (wrk, keep-alive): OFREP single-flag
# evaluation, OFREP bulk evaluation (every flag and variable of a 20-flag datafile) and
# Agent's /v1/decide of one flag, each for a random user per request. Starts a release
# `vario serve` on a fresh data directory with the generated medium datafile and prints,
# per mode, requests/s and the latency percentiles, then the server's peak memory. With
# RATE=N, each mode runs at about N requests/s instead of as fast as it can (over
# N/250 connections, each waiting 4 ms between requests), for latency at that load.
#   [RATE=N] tools/load/decide.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_MODE="${1:-20}"
CONNECTIONS="${2:-32}"
RATE="${RATE:-0}"
if [ "$RATE" -gt 0 ]; then CONNECTIONS=$((RATE / 250)); fi
PORT=18090
TOKEN=load-test-admin-token-0123
command -v wrk >/dev/null || { echo "install wrk (Debian package wrk)" >&2; exit 1; }
# One build for the server and the generators: building them apart would resolve
# features apart and build the dependencies twice.
cargo build --release -q -p vario-cli -p vario-testkit --examples --bins
TARGET="${CARGO_TARGET_DIR:-target}"
DATA="$(mktemp -d)"
trap 'kill -9 $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
"$TARGET/release/examples/datafile" medium 1 >"$DATA.datafile.json"
"$TARGET/release/vario" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --admin-token $TOKEN --log warn >"$DATA.log" 2>&1 &
SERVER=$!
sleep 2
curl -sf -X PUT "127.0.0.1:$PORT/api/v1/environments/load/datafile" -H "Authorization: Bearer $TOKEN" \
  --data-binary @"$DATA.datafile.json" >/dev/null
for mode in ofrep bulk agent; do
  printf '%-6s ' "$mode"
  MODE=$mode RATE=$RATE CONNECTIONS=$CONNECTIONS wrk -t 2 -c "$CONNECTIONS" -d "${SECONDS_PER_MODE}s" -s tools/load/decide.lua "http://127.0.0.1:$PORT" --latency \
    | grep -E "Requests/sec| 50%| 99%|Non-2xx" | tr -s ' ' | tr '\n' ' '
  echo
done
echo "server peak resident memory: $(awk '/VmHWM/ {print $2}' /proc/$SERVER/status) kB"
