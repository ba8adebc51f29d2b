#!/usr/bin/env bash
# Installs the npm packages of the React example (the official React SDK, React and
# esbuild), exactly as package-lock.json pins them (npm ci), when they are missing or
# older than the lock file. The browser test crates/vario-cli/tests/it/web_sdk.rs bundles
# the example with them (node build.mjs) and fails without them; scripts/test runs this
# script first.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is needed to build examples/react-web (Node.js 18 or later)" >&2
    exit 1
  fi
done
installed="$HERE/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ "$HERE/package-lock.json" -nt "$installed" ]; then
  echo "installing the npm packages of examples/react-web (npm ci)" >&2
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
