#!/usr/bin/env bash
# The README's main command: installs what is needed, builds xbuild, then builds the C example
# for four platforms in parallel into one multi-arch OCI image, inspects it, checks it with
# skopeo, and runs each platform's binary (under QEMU where foreign).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build
xb="$PWD/build/xbuild"
project=tests/projects/c-make
platforms=linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64
layout=/tmp/xbuild-example/oci

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "xbuild plan: strategy, toolchain and command per platform (nothing runs)"
"$xb" -C "$project" plan --platform linux/arm64
step "xbuild build: four platforms in parallel -> one OCI image index"
"$xb" -C "$project" build --platform "$platforms" -t hello-c:latest --output "type=oci,dest=$layout"
step "xbuild inspect"
"$xb" inspect "$layout:latest"
step "checked by skopeo (not written by xbuild)"
skopeo inspect "oci:$layout:latest" | head -n 12
step "each platform's binary, under qemu-user where foreign"
for p in ${platforms//,/ }; do
  "$xb" -C "$project" run --platform "$p"
done
step "xbuild test: the project's test command on every platform"
"$xb" -C "$project" test --platform "$platforms"
