#!/usr/bin/env bash
# Load on the Events API from a light generator: wrk, 2 threads, 16 connections, each
# request one visitor with 10 events (an impression and 9 conversions, fresh uuids).
# Starts a release `vario serve` on a fresh data directory, runs RUNS runs of SECONDS
# seconds each, and prints per run the requests/s (×10 = events/s), p99 latency, the
# events stored so far, and at the end the server's peak resident memory and the sizes of
# the log and the Parquet files.
#   tools/load/run.sh [RUNS] [SECONDS]
#   PACE_MS=2 tools/load/run.sh 1 60    # each connection waits 2 ms before each request
#   UUIDS=ordered tools/load/run.sh     # time-ordered uuids instead of random ones
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-3}"
SECONDS_PER_RUN="${2:-20}"
PORT=18080
TOKEN=load-test-admin-token-0123
command -v wrk >/dev/null || { echo "install wrk (Debian package wrk)" >&2; exit 1; }
cargo build --release -q -p vario-cli
DATA="$(mktemp -d)"
trap 'kill -9 $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
target/release/vario serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --admin-token $TOKEN >"$DATA.log" 2>&1 &
SERVER=$!
sleep 2
PEAK=0
for run in $(seq 1 "$RUNS"); do
  RUN=$run wrk -t 2 -c 16 -d "${SECONDS_PER_RUN}s" -s tools/load/post.lua "http://127.0.0.1:$PORT" --latency \
    | grep -E "Requests/sec| 99%|Non-2xx" | tr -s ' ' | tr '\n' ' '
  curl -s -X POST "127.0.0.1:$PORT/api/v1/query" -H "Authorization: Bearer $TOKEN" \
    -d '{"sql":"SELECT count(*) AS stored FROM events"}'
  echo
  RSS=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)
  PEAK=$RSS
done
echo "server peak resident memory: ${PEAK} kB"
du -sh "$DATA/log" "$DATA/events"
