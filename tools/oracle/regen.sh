#!/usr/bin/env bash
# Regenerate the differential-test fixtures in spec/compat/ with the reference Python SDK,
# and the OptimizelyConfig answers in spec/optimizely-config/ (beside its hand-written
# datafiles).
#
#   tools/oracle/regen.sh           regenerate spec/compat (case sets + datafile-validity)
#                                   and spec/optimizely-config/*/optimizely-config.json
#   tools/oracle/regen.sh --check   regenerate into a temporary directory and diff against
#                                   the committed fixtures; exit 1 on any difference
#
# A virtualenv with optimizely-sdk==5.7.0 is created at .venv-oracle/ (repo root, git-ignored)
# when missing. Set PYTHON to choose the interpreter used to create it (default: python3).
# Output is fully deterministic: uuid/timestamp in events are written as fixed placeholders.
set -euo pipefail

SDK_VERSION="5.7.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$ROOT/.venv-oracle"
PY="$VENV/bin/python"
COMPAT="$ROOT/spec/compat"

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

ensure_venv() {
  if [ -x "$PY" ] && "$PY" -c "import optimizely.version as v, sys; sys.exit(v.__version__ != '$SDK_VERSION')" 2>/dev/null; then
    return
  fi
  echo "setting up $VENV with optimizely-sdk==$SDK_VERSION" >&2
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q "optimizely-sdk==$SDK_VERSION"
}

# generate_into DIR: write every case set, its expected outputs and the validity files into DIR
generate_into() {
  local out="$1"
  "$PY" "$HERE/generate.py" --out "$out"
  local dir
  for dir in "$out"/[0-9][0-9]-*/; do
    dir="${dir%/}"
    "$PY" "$HERE/run_python_sdk.py" --datafile "$dir/datafile.json" \
      --requests "$dir/requests.jsonl" --out "$dir/expected.jsonl"
    "$PY" "$HERE/optimizely_config.py" --datafile "$dir/datafile.json" --out "$dir/optimizely-config.json"
  done
  "$PY" "$HERE/run_python_sdk.py" --validity "$out/datafile-validity" \
    --out "$out/datafile-validity/expected.json"
}

ensure_venv
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
generate_into "$tmp/compat"

if [ "$check" = 1 ]; then
  status=0
  if diff -r --exclude=README.md "$COMPAT" "$tmp/compat" >"$tmp/diff.txt"; then
    echo "spec/compat is up to date"
  else
    echo "spec/compat differs from a fresh regeneration (run tools/oracle/regen.sh):" >&2
    head -n 200 "$tmp/diff.txt" >&2
    status=1
  fi
  "$PY" "$HERE/optimizely_config.py" --check "$ROOT/spec/optimizely-config" || status=1
  exit "$status"
fi

mkdir -p "$COMPAT"
rm -rf "$COMPAT"/[0-9][0-9]-*/ "$COMPAT/datafile-validity"
cp -R "$tmp/compat/." "$COMPAT/"
echo "regenerated $(ls -d "$COMPAT"/[0-9][0-9]-*/ | wc -l | tr -d ' ') case sets in spec/compat"
"$PY" "$HERE/optimizely_config.py" "$ROOT/spec/optimizely-config"
