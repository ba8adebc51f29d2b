#!/usr/bin/env bash
# Installs the official OpenFeature OFREP providers that the tests in
# crates/vario-cli/tests/it/openfeature.rs run against `vario serve`, when missing:
#   - node_modules/ here, exactly as package-lock.json pins it (npm ci): the JavaScript
#     server provider and web provider with their OpenFeature SDKs;
#   - .venv-openfeature/ at the repository root with the Python provider and SDK.
# scripts/test runs this script first.
set -euo pipefail

PYTHON_SDK="openfeature-sdk==0.10.0"
PYTHON_PROVIDER="openfeature-provider-ofrep==0.3.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$ROOT/.venv-openfeature"
PY="$VENV/bin/python"

if ! { [ -x "$PY" ] && "$PY" -m pip freeze 2>/dev/null | grep -qx "$PYTHON_PROVIDER" \
       && "$PY" -m pip freeze 2>/dev/null | grep -qx "$PYTHON_SDK"; }; then
  echo "setting up $VENV with $PYTHON_PROVIDER and $PYTHON_SDK" >&2
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q "$PYTHON_SDK" "$PYTHON_PROVIDER"
fi

"$ROOT/tools/npm-ci.sh" "$HERE" "tools/openfeature/ofrep_clients.mjs"
