#!/usr/bin/env bash
# The disk's physical limits next to the load figures: fsyncs/s of 4 KiB appends (what a
# group commit of the event log costs at least) and sequential write MB/s, both on the
# file system of DIR (default: a new temporary directory under the system's one).
#   tools/load/disk.sh [DIR]
set -euo pipefail
DIR="$(mktemp -d "${1:-${TMPDIR:-/tmp}}/vario-disk.XXXXXX")"
trap 'rm -rf "$DIR"' EXIT
python3 - "$DIR/fsync" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
block, n, start = b"x" * 4096, 0, time.monotonic()
while time.monotonic() - start < 5:
    os.write(fd, block)
    os.fsync(fd)
    n += 1
print(f"fsync of a 4 KiB append: {n / (time.monotonic() - start):.0f}/s")
PY
# 2 GiB written through the page cache, timed until it is on disk.
dd if=/dev/zero of="$DIR/seq" bs=1M count=2048 conv=fdatasync 2>&1 | tail -1 | sed 's/^/sequential write: /'
