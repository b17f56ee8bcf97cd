#!/usr/bin/env bash
# Installs everything xbuild's build, examples, tests and benchmarks need on Debian 12,
# mounts binfmt_misc and registers qemu-user-static. Idempotent: a second run only checks.
# Run as root (CI and the README's commands do).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: error: run as root (it calls apt-get and mounts binfmt_misc)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Libraries: each is used by one stage (README "Dependencies"). Boost.Process v2 (exec/) is
# header-only in 1.81 and runs on std::filesystem, so only the Boost headers are needed for it.
build_pkgs=(
  build-essential pkg-config meson ninja-build git ca-certificates
  libboost1.81-dev libboost-json1.81-dev
  libtomlplusplus-dev libarchive-dev libssl-dev libcurl4-openssl-dev libzstd-dev zlib1g-dev
  doctest-dev libcli11-dev libfmt-dev libyaml-cpp-dev
)
# libclang-rt-14-dev holds libFuzzer and the sanitizer runtimes (scripts/fuzz.sh); clang only
# recommends it, and --no-install-recommends below would leave it out.
tool_pkgs=(
  g++-aarch64-linux-gnu g++-arm-linux-gnueabihf g++-riscv64-linux-gnu
  clang lld libclang-rt-14-dev cmake make golang-go rustc cargo
  qemu-user-static binfmt-support file zstd
  skopeo umoci oci-image-tool docker-registry apache2-utils
  mmdebstrap arch-test librsvg2-bin openssh-server openssh-client rsync python3 bsdutils
  python3-pytest python3-cryptography
  tmux zsh fish ccache python3-yaml python3-jsonschema jq
)
# Debian rustc's standard library for the cross targets (Rust cross builds and their tests).
foreign_pkgs=(libstd-rust-dev:arm64 libstd-rust-dev:armhf)
# kubectl: some machines carry one from a cloud SDK package, which Debian's
# kubernetes-client conflicts with; install Debian's only where no kubectl exists.
if ! command -v kubectl >/dev/null 2>&1; then
  tool_pkgs+=(kubernetes-client)
fi

missing=()
for p in "${build_pkgs[@]}" "${tool_pkgs[@]}" "${foreign_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  for arch in arm64 armhf; do
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      dpkg --add-architecture "$arch"
    fi
  done
  # A mirror caught mid-sync fails one index ("File has unexpected size"): retry, and if an
  # index still fails, go on with the lists apt has; the install below fails clearly if a
  # package is really missing.
  for try in 1 2 3; do
    apt-get update -qq && break
    echo "setup.sh: apt-get update failed (try $try of 3)" >&2
    sleep $((try * 5))
  done
  # docker-registry and openssh-server try to start services on install; the tests start
  # their own instances on loopback ports, so keep the packaged ones from starting.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# The CycloneDX project's own JSON validator for the SBOM tests (tests/integration/
# test_sbom.py): @cyclonedx/cyclonedx-library and the ajv packages its validator loads,
# pinned, in a prefix of their own. The library wants Node.js >= 20.18; Debian's nodejs is
# installed only where no node exists.
cdx_prefix=/opt/xbuild-test-node
cdx_pkgs=(@cyclonedx/cyclonedx-library@10.3.0 ajv@8.20.0 ajv-formats@3.0.1 ajv-formats-draft2019@1.6.1)
if ! command -v npm >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ ! -e "$cdx_prefix/node_modules/@cyclonedx/cyclonedx-library/package.json" ]; then
  echo "setup.sh: installing ${cdx_pkgs[*]} into $cdx_prefix"
  npm install --prefix "$cdx_prefix" --no-audit --no-fund --silent "${cdx_pkgs[@]}"
fi

# binfmt_misc: mount it if needed, then let binfmt-support register the qemu handlers
# (qemu-user-static ships them with the F flag, so they work inside chroots).
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable >/dev/null 2>&1 || true
  for f in /usr/share/binfmts/qemu-*; do
    update-binfmts --import "$(basename "$f")" >/dev/null 2>&1 || true
  done
fi
for a in aarch64 arm riscv64; do
  if ! grep -q enabled "/proc/sys/fs/binfmt_misc/qemu-$a" 2>/dev/null; then
    echo "setup.sh: error: binfmt handler qemu-$a is not registered;" \
         "try: update-binfmts --enable qemu-$a" >&2
    exit 1
  fi
done
echo "setup.sh: ready"
