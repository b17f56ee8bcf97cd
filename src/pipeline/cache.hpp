#pragma once
// The build-time half of the compiler caches plan/cache.hpp decides: the cache directories and
// ccache's masquerade links are made here, just before the build, and ccache's statistics are
// zeroed then and read after it, so the summary says what this build got from the cache.

#include "plan/plan.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace xb {

/// What one platform's build got from its cache.
struct CacheStats {
  std::string kind;               ///< CachePlan::kind(): "ccache", "ccache+gocache", ...
  std::filesystem::path dir;      ///< the platform's cache dir
  bool measured = false;          ///< ccache's statistics were read (hits/misses are meaningful)
  long long hits = 0;             ///< ccache direct + preprocessed hits during this build
  long long misses = 0;           ///< ccache misses during this build
  /// hits / (hits + misses), 0 when nothing was compiled.
  double hit_rate() const { return hits + misses == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(hits + misses); }
};

/// Creates `plan`'s cache dirs and its masquerade links (bin/<compiler> -> ccache) and zeroes
/// ccache's statistics there (`ccache -z`, the host's ccache also for a build in a rootfs,
/// which sees the dir at the same path). Nothing when the plan caches nothing, or an emulated
/// plan's cache is still unsealed (emulate::prepare_build seals it: call this after). Throws
/// Error(environment) naming what could not be made.
void prepare_cache(const PlatformPlan& plan);

/// What the build got from the cache: ccache's statistics (`ccache --print-stats`) since
/// prepare_cache; nullopt when the plan caches nothing. Never throws: a failed read leaves
/// `measured` false.
std::optional<CacheStats> read_cache_stats(const PlatformPlan& plan);

}  // namespace xb
