#!/usr/bin/env bash
# Installs what the official-SDK clients in this directory need, when it is missing:
#   - .venv-oracle/ at the repository root with optimizely-sdk==5.7.0 (the virtualenv that
#     tools/oracle/ uses too); set PYTHON to choose the interpreter that creates it;
#   - node_modules/ here, exactly as package-lock.json pins it (npm ci), when it is missing
#     or older than the lock file.
# The integration tests crates/vario-cli/tests/it/official_clients.rs and
# crates/vario-cli/tests/it/project/official_sdk.rs (with decide_all.py) fail without them;
# scripts/test runs this script first.
set -euo pipefail

SDK_VERSION="5.7.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$ROOT/.venv-oracle"
PY="$VENV/bin/python"

if ! { [ -x "$PY" ] && "$PY" -c "import optimizely.version as v, sys; sys.exit(v.__version__ != '$SDK_VERSION')" 2>/dev/null; }; then
  echo "setting up $VENV with optimizely-sdk==$SDK_VERSION" >&2
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q "optimizely-sdk==$SDK_VERSION"
fi

"$ROOT/tools/npm-ci.sh" "$HERE" "tools/official-clients/js_client.mjs"
