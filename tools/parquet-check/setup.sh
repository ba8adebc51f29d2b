#!/usr/bin/env bash
# Installs pyarrow into .venv-oracle/ (repository root, git-ignored) for check.py, when it
# is missing. The virtualenv itself comes from tools/official-clients/setup.sh; set
# PYTHON to choose the interpreter that creates it if it does not exist yet.
set -euo pipefail

PYARROW_VERSION="22.0.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-oracle"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$PY" -c "import pyarrow, sys; sys.exit(pyarrow.__version__ != '$PYARROW_VERSION')" 2>/dev/null; then
  echo "installing pyarrow==$PYARROW_VERSION into $VENV" >&2
  "$VENV/bin/pip" install --disable-pip-version-check -q "pyarrow==$PYARROW_VERSION"
fi
