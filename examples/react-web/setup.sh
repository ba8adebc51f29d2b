#!/usr/bin/env bash
# Installs the npm packages of the React example (the official React SDK, React and
# esbuild), exactly as package-lock.json pins them (npm ci), when they are missing or
# older than the lock file. The browser test crates/vario-cli/tests/it/web_sdk.rs bundles
# the example with them (node build.mjs) and fails without them; scripts/test runs this
# script first.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
"$ROOT/tools/npm-ci.sh" "$HERE" "building examples/react-web"
