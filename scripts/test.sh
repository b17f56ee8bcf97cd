#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is needed, builds xbuild, runs the unit
# tests and the integration tests. Works on a fresh Debian 12 machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release
fi
ninja -C build
echo "== unit tests"
meson test -C build --print-errorlogs
# Every fuzz harness for 10 s (tests/fuzz; a clang build in build-fuzz), so they keep building
# and a regression crash on the seed corpus or near it fails the run. Measured on this 2-core
# machine, loaded: 7.6 min cold with 15 s each (5 min of it the build), so 10 s.
fuzz_seconds=${XBUILD_FUZZ_SECONDS:-10}
echo "== fuzz (each harness ${fuzz_seconds} s)"
bash scripts/fuzz.sh "$fuzz_seconds"
echo "== integration tests"
export XBUILD_BIN="$PWD/build/xbuild"
exec /usr/bin/python3 -m pytest -ra -p no:cacheprovider tests/integration "$@"
