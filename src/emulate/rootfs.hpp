#pragma once
// Target root filesystems for emulated builds. A project names one per platform (a
// directory, a tarball, an OCI image) or lets xbuild create it with mmdebstrap from the
// machine's own apt sources. Created and unpacked ones live in a cache keyed by what went
// into them, are built in a temp dir and renamed into place (never half-made), under a
// lock, so CI machines create each once and reuse it.

#include "config/project.hpp"
#include "platform/platform.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xb::emulate {

/// $XBUILD_ROOTFS_CACHE, else /var/cache/xbuild/rootfs for root, else
/// $XDG_CACHE_HOME (or ~/.cache)/xbuild/rootfs.
std::filesystem::path rootfs_cache_dir();
/// The Debian codename of this machine (VERSION_CODENAME in /etc/os-release), "bookworm".
std::string host_suite();
/// Options for ensure_rootfs.
struct CreateOptions {
  std::string suite;                      ///< "" = host_suite()
  std::vector<std::string> mirrors;       ///< mmdebstrap mirror args ("" = the host's apt sources)
  std::vector<std::string> apt_options;   ///< mmdebstrap --aptopt values
  bool force = false;                     ///< recreate even when cached
};

/// The cache entry name for an mmdebstrap rootfs: "<dir_name>-<suite>-<12 hex of sha256
/// over the sorted package set, suite, mirrors and apt options>"; the same package set in
/// any order gives the same name.
std::string rootfs_key(const Platform& p, std::vector<std::string> packages, const std::string& suite,
                       const std::vector<std::string>& mirrors = {}, const std::vector<std::string>& apt_options = {});

/// The cached mmdebstrap rootfs for `p` with `packages`, created first when missing.
/// Throws Error(environment) naming what failed (mmdebstrap's output tail included).
std::filesystem::path ensure_rootfs(const Platform& p, const std::vector<std::string>& packages,
                                    const CreateOptions& options = {});
/// Any complete cached rootfs for `p` (for a sysroot), or nullopt.
std::optional<std::filesystem::path> find_cached_rootfs(const Platform& p);

/// The rootfs an emulated build of `project` for `p` uses: $XBUILD_ROOTFS or
/// [emulate] rootfs (placeholders {arch} {debian_arch} {platform_dir}; relative to the
/// project), unpacked into the cache when a tarball or image, or an mmdebstrap one with
/// rootfs_packages(project) (the language's defaults + [emulate] packages) when unset. Throws Error(usage/environment) naming the source.
std::filesystem::path resolve_rootfs(const Project& project, const Platform& p);

/// The rootfs resolve_rootfs would use when it is there already (a directory, or a created one
/// in the cache), without creating, unpacking or running anything; nullopt otherwise.
std::optional<std::filesystem::path> existing_rootfs(const Project& project, const Platform& p);

/// True when resolve_rootfs would create an mmdebstrap rootfs for `project` (neither
/// $XBUILD_ROOTFS nor [emulate] rootfs is set), so its package list is known beforehand.
bool rootfs_is_created(const Project& project);

/// Resolves an absolute path as seen inside `root` (symlinks, also absolute ones, stay
/// inside it). Returns the host path, or nullopt when it does not exist.
std::optional<std::filesystem::path> path_in_root(const std::filesystem::path& root,
                                                  const std::filesystem::path& inside);
/// Finds a program inside `root` the way PATH lookup would (/usr/local/bin, /usr/bin,
/// /bin, /usr/sbin, /sbin); returns the host path, or nullopt.
std::optional<std::filesystem::path> find_program_in_root(const std::filesystem::path& root,
                                                          const std::string& name);

}  // namespace xb::emulate
