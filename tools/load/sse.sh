#!/usr/bin/env bash
# Fan-out of Agent's notification stream: a release `vario serve` with notifications on,
# LISTENERS streams on one environment (the generated medium datafile), then ROUNDS
# publishes of a new revision; prints per round how long until every listener was told,
# then the server's peak memory.
#   tools/load/sse.sh [LISTENERS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
LISTENERS="${1:-1000}"
ROUNDS="${2:-5}"
PORT=18091
TOKEN=load-test-admin-token-0123
ulimit -n "$((LISTENERS * 2 + 1024))"
# One build for the server and the generators: building them apart would resolve
# features apart and build the dependencies twice.
cargo build --release -q -p vario-cli -p vario-testkit --examples --bins
TARGET="${CARGO_TARGET_DIR:-target}"
DATA="$(mktemp -d)"
trap 'kill -9 $SERVER 2>/dev/null || true; rm -rf "$DATA" "$DATA".*' EXIT
"$TARGET/release/examples/datafile" medium 1 >"$DATA.datafile.json"
printf '[agent]\nnotifications = true\nmax_notification_streams = %s\n' "$((LISTENERS + 10))" >"$DATA.toml"
"$TARGET/release/vario" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --admin-token $TOKEN --config "$DATA.toml" \
  --log warn >"$DATA.log" 2>&1 &
SERVER=$!
sleep 2
curl -sf -X PUT "127.0.0.1:$PORT/api/v1/environments/load/datafile" -H "Authorization: Bearer $TOKEN" \
  --data-binary @"$DATA.datafile.json" >/dev/null
python3 tools/load/sse_fanout.py "127.0.0.1:$PORT" load "$TOKEN" "$DATA.datafile.json" "$LISTENERS" "$ROUNDS"
echo "server peak resident memory: $(awk '/VmHWM/ {print $2}' /proc/$SERVER/status) kB"
