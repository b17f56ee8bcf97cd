#pragma once
// The compiler cache of an emulated build (issue 11): its C/C++ compiles go through the HOST's
// ccache, running natively inside the target's rootfs. The rootfs sees the project, and so the
// cache dir under its state dir, at the same absolute path; the sandbox binds the host's
// ccache binary at a private path with the host's loader and libraries (the ones accelerated
// emulation binds for its tools), over the tmpfs overlay that keeps the cached rootfs
// unwritten, and puts the cache's masquerade dir first on the rootfs PATH. ccache then runs
// the compiler that PATH finds after it: the rootfs's gcc under qemu, or the accelerated
// build's wrapper of the host's cross gcc. Hashing and lookups run at native speed, and the
// statistics are read on the host by the same ccache.
// The key adds the rootfs's identity (its path, which names its package set, and the hash of
// its dpkg database, so a recreated rootfs with a newer gcc starts a new cache) and how it is
// accelerated (the host cross compiler's version, or "off"): plain and accelerated builds never
// share objects. ccache's own compiler check (the compiler's mtime) is replaced by that key,
// since an accelerated build's compiler is a wrapper written afresh by every build.

#include "emulate/accelerate.hpp"
#include "emulate/sandbox.hpp"
#include "plan/plan.hpp"

#include <filesystem>

namespace xb::emulate {

/// Where the host's ccache is bound inside the rootfs (what the masquerade links point at).
inline constexpr const char* k_ccache_inside = "/.xbuild-ccache/ccache";

/// plan.cache sealed for a build in `rootfs` under `acc`: key, dir, link target and compiler
/// check, masquerading only the compilers the rootfs has. When ccache cannot run there (not
/// root, a rootfs path an overlay cannot name, a project path with a colon, none of the
/// compilers) the cache has no ccache and a note says why. Anything but an unsealed rootfs
/// cache is returned as it is. Reads
/// files and runs the host cross compiler's --version (a cached probe); creates nothing.
CachePlan rootfs_cache(const Project& project, const PlatformPlan& plan, const std::filesystem::path& rootfs,
                       const Acceleration& acc);

/// Adds to `e` what a sealed rootfs `cache` needs: the overlay, the host's ccache and runtime
/// bound read-only (those `e` has already are not bound twice) and bin() first on PATH (the
/// cache dir itself is bound by in_rootfs). Nothing for any other cache.
void add_cache_mounts(RootfsExec& e, const CachePlan& cache);

}  // namespace xb::emulate
