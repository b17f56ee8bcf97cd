#pragma once
// Executes plans: one job per platform in the scheduler (within -j slots), each streamed
// with a platform prefix and logged in full, then the outputs are collected and every ELF
// file is checked against its target. Failures are gathered and reported together.

#include "config/project.hpp"
#include "plan/plan.hpp"
#include "util/error.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

namespace xb {

/// How output is shown.
enum class Progress { plain, tty, json, quiet };

/// Options for run_builds.
struct BuildOptions {
  int slots = 0;                                 ///< concurrent platform builds (0 = cores)
  bool keep_going = false;                       ///< finish the others after a failure
  std::optional<std::chrono::seconds> timeout;   ///< per-platform build timeout
  Progress progress = Progress::plain;
  bool clean = false;                            ///< wipe build and out dirs first
  std::function<void(std::string_view)> warn;    ///< receives warnings (e.g. a build wrote into a shared tree)
};

/// What happened to one platform.
struct PlatformResult {
  Platform platform;
  Strategy strategy = Strategy::none;
  bool ok = false;
  bool cancelled = false;                        ///< never ran or killed because another failed
  std::string error;                             ///< why it failed
  Exit exit = Exit::build_failed;                ///< the exit code this failure calls for
  double wall_seconds = 0;
  double cpu_seconds = 0;                        ///< user+sys of the build's processes
  std::filesystem::path out;                     ///< the collected outputs
  std::filesystem::path log;
};

/// Builds every plan. Returns one result per plan (same order). Throws Error(interrupted)
/// after killing every child group on SIGINT/SIGTERM.
std::vector<PlatformResult> run_builds(const Project& project, std::vector<PlatformPlan>& plans,
                                       const BuildOptions& options);

/// Checks that each of project.outputs exists under `out` and that every ELF file among
/// them is for `platform`. Returns the problems (empty = fine), each naming the file.
std::vector<std::string> verify_outputs(const Project& project, const Platform& platform,
                                        const std::filesystem::path& out);

}  // namespace xb
