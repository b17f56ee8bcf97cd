#!/usr/bin/env bash
# The README's main command: installs what is needed, builds xbuild, then builds the C example
# for four platforms into one multi-arch OCI image and runs each binary (under QEMU where foreign).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build
xb="$PWD/build/xbuild"
project=tests/projects/c-make
platforms=linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64

"$xb" -C "$project" plan --platform "$platforms"
"$xb" -C "$project" build --platform "$platforms" --output type=local,dest=/tmp/xbuild-example/local
for slug in linux_amd64 linux_arm64 linux_arm_v7 linux_riscv64; do
  file /tmp/xbuild-example/local/$slug/hello
  /tmp/xbuild-example/local/$slug/hello
done
