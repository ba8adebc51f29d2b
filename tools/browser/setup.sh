#!/usr/bin/env bash
# Installs Debian's headless browser for the page tests, when it is missing:
# chromium and chromium-driver (the WebDriver server the tests drive it through).
# The integration test crates/vario-cli/tests/it/ui.rs fails without them;
# scripts/test runs this script first. VARIO_CHROMIUM / VARIO_CHROMEDRIVER point the
# test at other binaries.
set -euo pipefail

CHROMIUM="${VARIO_CHROMIUM:-/usr/bin/chromium}"
DRIVER="${VARIO_CHROMEDRIVER:-/usr/bin/chromedriver}"

if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: install Chromium and its WebDriver (chromedriver), or set VARIO_CHROMIUM and VARIO_CHROMEDRIVER" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "installing chromium and chromium-driver" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
