#!/usr/bin/env bash
# Regenerates crates/vario-stats/tests/it/data/reference-cases.json from
# gbstats, scipy, numpy and statsmodels in a virtualenv at .venv-stats/
# (git-ignored) in the repository root.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv-stats"
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tools/stats-oracle/requirements.txt"
"$venv/bin/python" "$root/tools/stats-oracle/generate.py"
