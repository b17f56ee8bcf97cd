#!/usr/bin/env bash
# CI step: make sure the target root filesystems for emulated builds exist on this machine.
# Each is created once with mmdebstrap (from the machine's own apt sources, about 1.5 min
# for arm64 with gcc, make, libc6-dev) into the rootfs cache, keyed by platform, suite and
# package set (/var/cache/xbuild/rootfs/<platform>-<suite>-<hash>), and reused afterwards.
# A cold machine creates them from scratch well inside CI's 90 minutes.
#
# Usage: scripts/ci-rootfs.sh [PLATFORM ...]   (default: linux/arm64 linux/arm/v7, the ones the
#        emulation tests use; tests/integration/emu_helpers.py rootfs_for creates a missing one too)
# Env:   XBUILD_BIN (default build/xbuild), XBUILD_ROOTFS_CACHE, ROOTFS_PACKAGES (comma list)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
xbuild="${XBUILD_BIN:-$repo/build/xbuild}"
packages="${ROOTFS_PACKAGES:-gcc,make,libc6-dev}"
[ -x "$xbuild" ] || { echo "ci-rootfs.sh: error: $xbuild is not built (meson setup build && ninja -C build)" >&2; exit 2; }
[ $# -gt 0 ] || set -- linux/arm64 linux/arm/v7

for platform in "$@"; do
  start=$(date +%s)
  dir="$("$xbuild" rootfs create --platform "$platform" --packages "$packages")"
  echo "ci-rootfs.sh: $platform rootfs ready in $(( $(date +%s) - start ))s: $dir"
done
