#pragma once
// The build-time half of the compiler caches plan/cache.hpp decides: the cache directories and
// ccache's masquerade links are made here, just before the build, and ccache's counters are
// read then and after it, so the summary says what this build got from the cache.

#include "plan/plan.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xb {

/// What one platform's build got from its cache.
struct CacheStats {
  std::string kind;               ///< CachePlan::kind(): "ccache", "ccache+gocache", ...
  std::filesystem::path dir;      ///< the platform's cache dir
  bool measured = false;          ///< ccache's statistics were read (hits/misses are meaningful)
  long long hits = 0;             ///< ccache direct + preprocessed hits during this build
  long long misses = 0;           ///< ccache misses during this build
  bool go_measured = false;       ///< the Go build cache was counted (go_hits/go_misses are meaningful)
  long long go_hits = 0;          ///< Go actions this build took from GOCACHE
  long long go_misses = 0;        ///< Go actions this build ran and stored in GOCACHE
  /// hits / (hits + misses), 0 when nothing was compiled.
  double hit_rate() const { return hits + misses == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(hits + misses); }
  double go_hit_rate() const {
    return go_hits + go_misses == 0 ? 0.0 : static_cast<double>(go_hits) / static_cast<double>(go_hits + go_misses);
  }
};

/// ccache's cumulative counters in one cache dir.
struct CcacheCounters {
  long long hits = 0;    ///< direct + preprocessed hits
  long long misses = 0;  ///< misses
};

/// What prepare_cache saw before the build, for read_cache_stats to count against.
struct CacheBaseline {
  bool ready = false;                                ///< the dirs exist and the build uses them
  CcacheCounters ccache;                             ///< ccache's counters before the build
  long long go_entries = -1;                         ///< GOCACHE's action entries before the build (-1: not counted)
  std::filesystem::file_time_type go_start{};        ///< entries used by this build have an mtime at or after it
  std::vector<std::string> warnings;                 ///< what could not be prepared (the build runs without it)
};

/// Creates `plan`'s cache dirs and its masquerade links (bin/<compiler> -> ccache), reads
/// ccache's counters there (`ccache --print-stats`, the host's ccache also for a build in a
/// rootfs, which sees the dir at the same path) and ages GOCACHE's recently used action entries so
/// Go marks each one this build uses (see read_cache_stats). Never throws: a cache is an
/// optimisation, so a dir that cannot be made (read-only state dir, full disk) becomes a
/// warning and the plan's cache is dropped from `plan` (the build runs uncached, as --no-cache).
/// Nothing when the plan caches nothing, or an emulated plan's cache is still unsealed
/// (emulate::prepare_build seals it: call this after).
CacheBaseline prepare_cache(const Project& project, PlatformPlan& plan);

/// What the build got from the cache: ccache's counters (`ccache --print-stats`) minus those
/// prepare_cache read, and Go's: Go's cache touches an action entry it reuses (when its mtime is an
/// hour old or more; prepare_cache made every entry so) and writes a new one for each action it
/// runs, so hits = old entries touched since the start, misses = new entries. nullopt when the
/// plan caches nothing. Never throws: a failed read leaves `measured`/`go_measured` false.
std::optional<CacheStats> read_cache_stats(const PlatformPlan& plan, const CacheBaseline& baseline);

}  // namespace xb
