#!/usr/bin/env bash
# Installs Debian's systemd package when systemd-analyze is missing: the test
# crates/vario-cli/tests/it/service.rs checks deploy/vario.service with
# `systemd-analyze verify` (which needs no running systemd). scripts/test runs this first.
set -euo pipefail

if command -v systemd-analyze >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: install systemd-analyze (Debian's systemd package)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "installing systemd (for systemd-analyze)" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends systemd
