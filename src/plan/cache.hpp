#pragma once
// The per-platform compiler caches: which ones a platform's build uses, under which key, and
// what they add to its environment. Planning decides and names them (so `xbuild plan` shows
// them); the pipeline creates the directories and runs ccache before and after the build.
//
// C and C++ go through ccache in masquerade mode: <dir>/bin holds a symlink to ccache named
// like each compiler the build calls (CC's and CXX's programs) and is put first on PATH, so
// CC, CXX, {cc} and the generated CMake/Meson files stay as they are and ccache finds the real
// compiler further down PATH. Go gets its own GOCACHE per platform. The key is the platform,
// the toolchain descriptor's content hash and its compilers' versions, and the variables that
// change code generation, so two platforms never share a cache and an upgrade starts a new one.
// An emulated build's key also needs its rootfs and how it is accelerated, known only once the
// rootfs exists: planning leaves such a cache unsealed (no key, no dir) and emulate/ccache.hpp
// seals it with the rootfs's identity (seal_cache) just before the build.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xb {

struct Project;
struct PlatformPlan;

/// What a platform's build caches, and where.
struct CachePlan {
  std::filesystem::path dir;            ///< <state>/cache/<platform>-<key>; empty when nothing is cached
  std::string key;                      ///< 16 hex digits of the sha256 of what the key is made of
  std::vector<std::string> kinds;       ///< "ccache", "gocache" (in that order); empty = none
  std::filesystem::path ccache;         ///< the ccache program, when "ccache" is a kind
  std::vector<std::string> compilers;   ///< the names masqueraded in bin() (CC's and CXX's programs)
  std::vector<std::string> notes;       ///< what is not cached and why
  std::vector<std::string> key_parts;   ///< what the key is made of, one "name=value" a line
  bool in_rootfs = false;               ///< the build runs in the target's rootfs (emulate): sealed there
  std::filesystem::path link_target;    ///< what bin()'s links point at: `ccache` as the build sees it
                                        ///< ("" = ccache itself; the host's ccache inside a rootfs)
  std::string compiler_check;           ///< CCACHE_COMPILERCHECK ("" = ccache's default, the compiler's mtime)
  /// True when C/C++ compiles go through ccache.
  bool uses_ccache() const;
  /// True when the build gets its own GOCACHE.
  bool uses_gocache() const;
  /// "ccache", "ccache+gocache", "gocache" or "none".
  std::string kind() const;
  /// The masquerade directory put first on PATH.
  std::filesystem::path bin() const { return dir / "bin"; }
  /// CCACHE_DIR.
  std::filesystem::path ccache_dir() const { return dir / "ccache"; }
  /// GOCACHE.
  std::filesystem::path go_cache() const { return dir / "go-build"; }
  /// True when the kinds are decided but the key is not yet (an emulated build before its rootfs).
  bool unsealed() const { return !kinds.empty() && dir.empty(); }
};

/// Where every cache of the project lives: <project>/.xbuild/cache (the project's state dir,
/// whatever --state-root a bench uses, so benches and builds warm the same caches).
std::filesystem::path cache_root(const Project& project);

/// Decides the caches of `plan`, whose env platform_env has computed. `off_reason` non-empty
/// means caching is turned off ("--no-cache", "[cache] enabled = false"): no cache, and a note
/// saying so. Runs probes only (the compilers' `--version`, cached).
CachePlan plan_cache(const Project& project, const PlatformPlan& plan, const std::string& off_reason);

/// Sets cache.key and cache.dir from cache.key_parts and `more` (an emulated build's rootfs and
/// acceleration), under `platform_dir` (Platform::dir_name()).
void seal_cache(const Project& project, CachePlan& cache, const std::string& platform_dir, const std::vector<std::string>& more = {});

/// What `cache` adds to the build's environment `env`: PATH with bin() first, CCACHE_DIR,
/// CCACHE_BASEDIR (the project dir), CCACHE_MAXSIZE ([cache] max_size), GOCACHE. In a rootfs
/// (in_rootfs) not PATH, which the rootfs sandbox sets with bin() first, but CCACHE_COMPILERCHECK
/// and CCACHE_TEMPDIR (the host's $XDG_RUNTIME_DIR is not there). Nothing while unsealed.
std::map<std::string, std::string> cache_env(const Project& project, const CachePlan& cache,
                                             const std::map<std::string, std::string>& env);

}  // namespace xb
