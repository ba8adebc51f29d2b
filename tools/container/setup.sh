#!/usr/bin/env bash
# Prepares the container test (crates/vario-cli/tests/it/service.rs): podman with the
# runc runtime (crun cannot run on a cgroup v1/v2 hybrid host), and a local Debian base
# image, `localhost/vario-test/debian:bookworm`, made with debootstrap from Debian's own
# archive, because the test must not depend on a container registry. Run as root (the
# test runs rootful podman). scripts/test runs this first.
set -euo pipefail

IMAGE="localhost/vario-test/debian:bookworm"
# The Debian archive this machine's apt uses (VARIO_DEBIAN_MIRROR overrides it).
# Not every machine has every one of these files, and grep finding nothing is no error.
debian_mirror() {
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -f "$file" ]; then cat "$file"; fi
  done | { grep -v '^[[:space:]]*#' || true; } \
    | { grep -oE '(https?|file)://[^[:space:]]+/debian/?([[:space:]]|$)' || true; } \
    | sed -n 1p | tr -d '[:space:]'
}
MIRROR="${VARIO_DEBIAN_MIRROR:-$(debian_mirror)}"
if [ -z "$MIRROR" ]; then
  echo "error: no Debian archive in apt's sources; set VARIO_DEBIAN_MIRROR" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

if $SUDO podman image exists "$IMAGE"; then
  exit 0
fi
echo "building $IMAGE with debootstrap (about 200 MB, once)" >&2
ROOTFS="$(mktemp -d)"
trap '$SUDO rm -rf "$ROOTFS"' EXIT
$SUDO debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
$SUDO tar -C "$ROOTFS" -c . | $SUDO podman import - "$IMAGE" >/dev/null
