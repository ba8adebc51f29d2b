#!/usr/bin/env bash
# `vario eval` throughput with events out: LINES request lines of a decide_all-heavy mix
# (vario-testkit's eval_requests example) against the generated medium datafile, timed by
# hyperfine over whole runs of the release binary; prints lines/s and peak memory.
#   tools/load/eval.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/../.."
LINES="${1:-200000}"
command -v hyperfine >/dev/null || { echo "install hyperfine (Debian package hyperfine)" >&2; exit 1; }
# One build for the server and the generators: building them apart would resolve
# features apart and build the dependencies twice.
cargo build --release -q -p vario-cli -p vario-testkit --examples --bins
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$TARGET/release/examples/datafile" medium 1 >"$WORK/datafile.json"
"$TARGET/release/examples/eval_requests" "$LINES" >"$WORK/requests.jsonl"
RUN="$TARGET/release/vario eval --datafile $WORK/datafile.json --events-out $WORK/events.jsonl <$WORK/requests.jsonl >$WORK/out.jsonl"
hyperfine --warmup 1 --runs 5 --export-json "$WORK/times.json" "$RUN" >&2
python3 - "$WORK/times.json" "$LINES" <<'PY'
import json, sys
times = json.load(open(sys.argv[1]))["results"][0]
lines = int(sys.argv[2])
print(f"{lines} lines: median {times['median']:.3f} s, {lines / times['median']:,.0f} lines/s (min {times['min']:.3f} s)")
PY
/usr/bin/time -f "peak resident memory: %M kB" sh -c "$RUN"
echo "event lines written: $(wc -l <"$WORK/events.jsonl")"
