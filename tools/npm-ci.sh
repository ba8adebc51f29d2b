#!/usr/bin/env bash
# Usage: tools/npm-ci.sh DIR WHAT
# Installs the npm packages of DIR exactly as its package-lock.json pins them (npm ci),
# when node_modules/ is missing or older than the lock file. WHAT names, in the error
# when Node.js is missing, what needs the packages.
set -euo pipefail

DIR="$1"
WHAT="$2"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is needed for $WHAT (Node.js 18 or later)" >&2
    exit 1
  fi
done
# npm keeps a copy of the lock file it installed from in node_modules/.package-lock.json.
installed="$DIR/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ "$DIR/package-lock.json" -nt "$installed" ]; then
  echo "installing the npm packages of $DIR (npm ci)" >&2
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
