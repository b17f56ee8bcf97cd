#pragma once
// Accelerated emulation (issue 16): the build still runs in the target's rootfs under qemu,
// but its compiler is the host's cross compiler, running natively, with the rootfs as sysroot.
// Nearly all of an emulated build's time is the compiler under qemu; Debian multiarch lets the
// host's x86-64 loader and libraries sit in an arm64 rootfs at their own paths, so the host's
// /usr is bound read-only at a private path and the rootfs's compiler names are shadowed by
// small wrappers that exec the host's tool. All of it lives in the build's private mount
// namespace, over a tmpfs overlay of the rootfs (sandbox.hpp): the cached rootfs is never
// written and nothing of the host is writable from it.
// The decision reads files only (no process, no qemu): the rootfs's gcc major and triple
// against the host's <triple>-gcc-<major>, so `xbuild plan` can show it.

#include "config/project.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace xb::emulate {

/// What accelerated emulation does for one build of one platform.
struct Acceleration {
  std::vector<std::string> tools;  ///< the rootfs names the host's tools serve (gcc, cc, gcc-12, ...); empty = none
  std::string compiler;            ///< the host compiler behind gcc: "aarch64-linux-gnu-gcc-12" ("" = none)
  std::filesystem::path compiler_path;  ///< where the host has it: /usr/bin/aarch64-linux-gnu-gcc-12
  std::vector<std::string> emulated;  ///< compiler names the rootfs has that stay emulated (no host tool), e.g. "g++"
  std::vector<std::string> host_programs;  ///< phase two: rootfs programs replaced by the host's build of the
                                           ///< same Debian package version ("dash", "make")
  std::string why_not;             ///< accelerate = auto but no tools: why (the planned fallback message)
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> ro_binds;  ///< host -> inside, read-only
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> inner_binds;  ///< rootfs dir -> inside, read-only
  std::vector<std::filesystem::path> hidden;  ///< inside paths under an empty tmpfs
  std::vector<std::pair<std::filesystem::path, std::string>> scripts;  ///< inside path -> wrapper text

  bool active() const { return !tools.empty(); }
  /// One line for plan and messages: "gcc, cc, g++, ... by the host's aarch64-linux-gnu-gcc-12",
  /// "off", or "no: WHY".
  std::string describe(Accelerate mode) const;
};

/// Where the host's /usr is bound inside the rootfs.
inline constexpr const char* k_host_usr_inside = "/.xbuild-host/usr";

/// Decides acceleration for `p` in `rootfs`: with Accelerate::automatic, as root, when the rootfs's
/// /usr/bin/gcc is gcc N for p's triple (its link target <triple>-gcc-N or gcc-N, and
/// /usr/lib/gcc/<triple>/N) and the host has /usr/bin/<triple>-gcc-N, the mounts and wrappers
/// that serve gcc, cc, g++, c++, cpp, as, ld, ar, ranlib, nm, strip (and their triple-prefixed
/// and version-suffixed names, each only where the rootfs has it and the host has the tool).
/// Then (phase two) the rootfs's dash (its /bin/sh) and make are the host's own binaries where
/// the Debian package versions are equal in both dpkg databases: configure-heavy builds spend
/// their time there. Otherwise no tools and `why_not`. $XBUILD_ACCEL_HOST_USR replaces the host's /usr (tests
/// simulate a host without the cross compiler, or with another major, through it).
Acceleration plan_acceleration(const Platform& p, const std::filesystem::path& rootfs, Accelerate mode);

/// The host's dynamic loader and multiarch library dirs (host path, path inside), bound read-only
/// at their own paths in a rootfs of another architecture so that host programs run there: the
/// accelerated tools, and the host's ccache of an emulated build (emulate/ccache.hpp).
std::vector<std::pair<std::filesystem::path, std::filesystem::path>> host_runtime_binds();

/// Before the rootfs exists: the host compilers that could serve `p` ("aarch64-linux-gnu-gcc-12",
/// ...), for plan's "decided once the rootfs exists" line.
std::vector<std::string> host_cross_compilers(const Platform& p);

}  // namespace xb::emulate
