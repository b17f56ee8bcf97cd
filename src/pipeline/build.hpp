#pragma once
// Executes plans: one job per platform in the scheduler (within -j slots), each logged in
// full, then the outputs are collected and every ELF file is checked against its target.
// Failures are gathered and reported together. Progress goes to a Status (pipeline/status.hpp)
// and the processes to a CommandRunner made by a factory, so the whole pipeline is tested
// with a fake runner and a temp tree (tests/unit/test_pipeline.cpp), as ninja's BuildTest is.

#include "config/project.hpp"
#include "exec/scheduler.hpp"
#include "pipeline/cache.hpp"
#include "pipeline/status.hpp"
#include "plan/plan.hpp"
#include "util/error.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xb {

/// Options for run_builds.
struct BuildOptions {
  int slots = 0;                                 ///< concurrent platform builds (0 = cores)
  bool keep_going = false;                       ///< finish the others after a failure
  std::optional<std::chrono::seconds> timeout;   ///< per-platform build timeout
  bool clean = false;                            ///< wipe build and out dirs first
  /// Called with a plan's index once the pipeline sealed its cache (an emulated build's key
  /// needs the rootfs, which exists only then), before the cache dirs are prepared: the caller
  /// imports a shared cache there.
  std::function<void(std::size_t, const PlatformPlan&)> cache_sealed;
};

/// What happened to one platform.
struct PlatformResult {
  Platform platform;
  Strategy strategy = Strategy::none;
  bool accelerated = false;                      ///< emulate with the host's cross compiler serving the rootfs's
  bool ok = false;
  bool cancelled = false;                        ///< never ran or killed because another failed
  std::string error;                             ///< why it failed
  Exit exit = Exit::build_failed;                ///< the exit code this failure calls for
  int exit_status = -1;                          ///< the build command's $? (128+signal); -1 if it never ended
  double wall_seconds = 0;
  double cpu_seconds = 0;                        ///< user+sys of the build's processes
  std::filesystem::path out;                     ///< the collected outputs
  std::filesystem::path log;
  std::optional<CacheStats> cache;               ///< what its build got from its compiler cache (nullopt: none)
};

/// Makes the runner for one run_builds call: at most `slots` jobs at once, output lines to `sink`.
using RunnerFactory = std::function<std::unique_ptr<CommandRunner>(int slots, LineSink sink)>;
/// The real factory: a SubprocessRunner (process groups, logs, timeouts, signals).
RunnerFactory subprocess_runner_factory();

/// Builds every plan, reporting to `status`. A platform whose build fails or whose outputs
/// fail verify_outputs stops the others unless options.keep_going. Returns one result per
/// plan (same order). Throws Error(interrupted) after killing every child group on
/// SIGINT/SIGTERM.
std::vector<PlatformResult> run_builds(const Project& project, std::vector<PlatformPlan>& plans,
                                       const BuildOptions& options, Status& status,
                                       const RunnerFactory& make_runner = subprocess_runner_factory());

}  // namespace xb
