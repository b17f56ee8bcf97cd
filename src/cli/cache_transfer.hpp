#pragma once
// --cache-to / --cache-from: sharing each platform's compiler cache through a registry or a
// directory. Each platform's cache is its own OCI artifact (oci/cache_pack.hpp) under its own
// tag, TAG-<os>_<arch>[_<variant>] (Platform::dir_name), so CI jobs that build different
// platforms and export to one ref never write the same object. Import runs before the builds,
// export after a platform built; every failure of either (unreachable, refused, a corrupt or
// foreign artifact) is a warning and, for import, a cold build: never a failed build.

#include "plan/plan.hpp"
#include "pipeline/build.hpp"
#include "registry/push.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xb::cli {

/// Where a cache goes to or comes from.
struct CacheTarget {
  enum class Type { registry, local };
  Type type = Type::registry;
  std::string ref;              ///< type=registry: REGISTRY/REPO:TAG as given
  std::filesystem::path dir;    ///< type=local: an OCI layout directory
};

/// The repeatable --cache-to and --cache-from values, unparsed.
struct CacheFlags {
  std::vector<std::string> to;
  std::vector<std::string> from;
};

/// Adds --cache-to and --cache-from to `cmd` (build, matrix).
void add_cache_flags(CLI::App& cmd, CacheFlags& flags);
/// Parses one value: type=registry,ref=REF | type=local,dest=DIR (--cache-to) or src=DIR
/// (--cache-from) | a bare REF (type=registry). Error(usage) naming `flag` and the expected form.
CacheTarget parse_cache_target(std::string_view text, std::string_view flag);
/// The per-platform tag: "TAG-linux_arm64". Error(usage) when it would be no valid tag.
std::string cache_tag(const std::string& tag, const Platform& platform);

/// What moved for one platform.
struct CacheTransfer {
  bool imported = false;            ///< an artifact was found and its chunks are in the cache dir
  bool exported = false;            ///< the artifact was written
  std::int64_t bytes_imported = 0;  ///< compressed bytes downloaded (or copied from a layout)
  std::int64_t bytes_exported = 0;  ///< compressed bytes uploaded (or written to a layout)
  int chunks_reused = 0;            ///< import: chunks already here; export: chunks the target had
  int chunks_moved = 0;             ///< chunks downloaded / uploaded
};

/// Imports each plan's cache from the first of `from` that has it (in parallel across
/// plans). `out` gets one entry per plan. Never throws for a cache problem: warnings on stderr.
/// A plan whose cache is still unsealed (an emulated build: its key needs the rootfs) is left
/// to import_cache, which run_builds calls once it sealed it.
void import_caches(const std::vector<PlatformPlan>& plans, const std::vector<CacheTarget>& from,
                   const registry::PushOptions& options, std::vector<CacheTransfer>& out);
/// Imports one plan's cache (as import_caches does for each) into `out`.
void import_cache(const PlatformPlan& plan, const std::vector<CacheTarget>& from, const registry::PushOptions& options,
                  CacheTransfer& out);
/// Exports the cache of each plan whose result is ok to every target of `to`. Never throws
/// for a cache problem: warnings on stderr.
void export_caches(const std::vector<PlatformPlan>& plans, const std::vector<PlatformResult>& results,
                   const std::vector<CacheTarget>& to, const registry::PushOptions& options, std::vector<CacheTransfer>& out);

}  // namespace xb::cli
