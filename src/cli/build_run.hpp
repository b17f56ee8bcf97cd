#pragma once
// The build+export+push path of `xbuild build`, as one function so `xbuild resolve` builds
// its xbuild:// projects exactly as `build --push` does: the checks that can fail in a second
// (base, export, push access) first, then every platform in parallel, the export (a local
// copy or an OCI layout) and the push. Flag parsing and reporting stay with the commands.

#include "cli/cache_transfer.hpp"
#include "config/project.hpp"
#include "config/toolchain.hpp"
#include "oci/export.hpp"
#include "pipeline/build.hpp"
#include "pipeline/status.hpp"
#include "plan/plan.hpp"
#include "registry/push.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb::cli {

/// What to build and where the result goes.
struct BuildJob {
  PlanOptions plan;                     ///< platforms (empty: the project's, else the host), strategies, args
  BuildOptions build;                   ///< slots, keep-going, clean, timeout
  oci::ExportOptions exports;           ///< type, dest, tags, compression (type=local: dest is the directory)
  std::string shown_dest;               ///< dest as messages name it ("- (stdout)")
  bool push = false;                    ///< push the image to `refs` after the export
  std::vector<std::string> refs;        ///< where to push
  registry::PushOptions push_options;   ///< also the registry settings of cache_to / cache_from
  std::vector<CacheTarget> cache_to;    ///< --cache-to: where each platform's cache goes after it built
  std::vector<CacheTarget> cache_from;  ///< --cache-from: where caches come from before building
};

/// What happened.
struct BuildRun {
  std::vector<PlatformResult> results;
  std::vector<PlatformPlan> plans;          ///< the plan of each platform (same order as results)
  std::vector<std::string> failures;        ///< "platform: why", one per failed platform
  std::optional<Exit> code;                 ///< the exit code the failures share
  std::optional<oci::ExportResult> image;   ///< the exported image (not for type=local)
  std::vector<registry::PushResult> pushed;
  std::string push_error;                   ///< a failed push with the command that retries it
  std::vector<CacheTransfer> caches;        ///< per plan: what --cache-from / --cache-to moved
  double wall_seconds = 0;
  bool ok() const { return failures.empty() && push_error.empty(); }
};

/// The toolchain a plan builds with, as the metadata file and the SBOM name it: the descriptor's
/// name for native and cross builds, "emulate" (the rootfs's own compilers) or "runner HOST".
std::string toolchain_label(const PlatformPlan& plan);

/// What check_writable checks: a directory to create or write into, or a file to create or replace.
enum class WriteTarget { directory, file };

/// Fails before building unless `path` could be created or written: `what` names the flag
/// and `noun` what to choose instead ("dest", "path").
void check_writable(const std::filesystem::path& path, WriteTarget target, std::string_view what, std::string_view noun);

/// Checks, builds, exports and pushes as `xbuild build` does, reporting to `status`.
/// Throws Error for a check that fails before building (nothing built) and for export
/// errors; build failures and a failed push are in the result, for the caller to report.
BuildRun build_and_export(Project& project, const std::vector<Toolchain>& toolchains, BuildJob& job, Status& status);

}  // namespace xb::cli
