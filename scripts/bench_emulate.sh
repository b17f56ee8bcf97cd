#!/usr/bin/env bash
# The headline figure of docs/benchmarks.md ("Cross vs emulation"): `xbuild bench` on Lua's
# sources (a real C project, ~30 files, far larger than the examples), cross-compiled and
# emulated under qemu-user for linux/arm64 and linux/riscv64, with native amd64 beside them.
# Run it by hand (as root, after scripts/setup.sh); it is not part of the test suite.
#
# - Lua's upstream sources come from Debian (apt-get source lua5.4) through a deb-src entry for
#   the machine's own mirror; only the upstream tarball is used (Debian's patches move the
#   build to libtool).
# - The root filesystems come from `xbuild rootfs create` (cached): arm64 from this machine's
#   suite; riscv64 is not a bookworm architecture, so from forky on the same mirror.
#
# Usage: scripts/bench_emulate.sh [REPORT_DIR]   (default docs/bench)
# Env:   XBUILD_BIN (default build/xbuild), BENCH_DIR (default /var/tmp/xbuild-bench-lua)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
xbuild="$(realpath "${XBUILD_BIN:-$repo/build/xbuild}")"
report="$(realpath -m "${1:-$repo/docs/bench}")"
work="${BENCH_DIR:-/var/tmp/xbuild-bench-lua}"
packages="gcc,make,libc6-dev"
[ -x "$xbuild" ] || { echo "bench_emulate.sh: error: $xbuild is not built" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench_emulate.sh: error: run as root (apt-get, chroot)" >&2; exit 2; }

# 1. Lua's sources from the machine's own Debian mirror.
suite="$(. /etc/os-release && echo "$VERSION_CODENAME")"
src_list=/etc/apt/sources.list.d/xbuild-deb-src.sources
if ! apt-get source --print-uris lua5.4 >/dev/null 2>&1; then
  uri="$(grep -h -m1 '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)"
  uri="${uri:-http://deb.debian.org/debian}"
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$suite" > "$src_list"
  apt-get update -qq
fi
mkdir -p "$work"
cd "$work"
if ! ls lua5.4_*.orig.tar.* >/dev/null 2>&1; then
  apt-get source --download-only lua5.4 >/dev/null
fi
orig="$(ls lua5.4_*.orig.tar.* | head -1)"
proj="$work/lua"
rm -rf "$proj"
mkdir -p "$proj"
tar -xf "$orig" -C "$proj" --strip-components=1
cat > "$proj/xbuild.toml" <<'TOML'
# Lua 5.4, upstream sources, built with its own Makefile (posix target, static).
name = "lua-5.4"
language = "c"
platforms = ["linux/amd64", "linux/arm64", "linux/riscv64"]
build = """
rm -rf {build}/src && cp -r {src}/src {build}/src
make -C {build}/src -j{jobs} posix CC="${CC:-cc} -std=gnu99" AR="${AR:-ar} rcu" RANLIB="${RANLIB:-ranlib}" MYLDFLAGS=-static
cp {build}/src/lua {build}/src/luac {out}/
"""
outputs = ["lua", "luac"]
test = ["{out}/lua", "-e", "local t = {} for i = 1, 1000 do t[i] = i * i end assert(t[1000] == 1000000 and string.format('%5.1f', 2.25) == '  2.2') print(_VERSION .. ' ok')"]
TOML

# 2. The root filesystems, created once and cached; the bench finds each through a link.
arm64="$("$xbuild" rootfs create --platform linux/arm64 --packages "$packages")"
riscv64="$("$xbuild" rootfs create --platform linux/riscv64 --packages "$packages" --suite forky \
  --mirror "deb http://deb.debian.org/debian forky main" --aptopt 'Acquire::Check-Valid-Until "false"')"
mkdir -p "$work/rootfs"
ln -sfn "$arm64" "$work/rootfs/linux_arm64"
ln -sfn "$riscv64" "$work/rootfs/linux_riscv64"

# 3. The bench itself: clean builds, one at a time, each strategy's binaries tested.
mkdir -p "$report"
XBUILD_ROOTFS="$work/rootfs/{platform_dir}" "$xbuild" bench -C "$proj" \
  --platform linux/amd64,linux/arm64,linux/riscv64 --report-dir "$report"
echo "bench_emulate.sh: gcc in the rootfs: arm64 $(chroot "$arm64" gcc -dumpversion), riscv64 $(chroot "$riscv64" gcc -dumpversion); cross: $(aarch64-linux-gnu-gcc -dumpversion)"
