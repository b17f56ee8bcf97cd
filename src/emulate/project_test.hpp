#pragma once
// A project's test command, per platform: expanded like its build command, run on this
// machine, foreign platforms under qemu-user. `xbuild test` runs it for every platform in
// parallel; `xbuild bench` runs it on each strategy's outputs.

#include "config/project.hpp"
#include "emulate/qemu.hpp"
#include "exec/command.hpp"
#include "plan/plan.hpp"
#include "platform/platform.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xb::emulate {

/// The placeholder values a build of `p` with `paths` sees ({src} {out} {build} {jobs} ...).
std::map<std::string, std::string> placeholders_for(const Project& project, const Platform& p,
                                                    const PlatformPaths& paths, int jobs);
/// Replaces every placeholder of `values` in `s`.
std::string expand_placeholders(std::string s, const std::map<std::string, std::string>& values);

/// project.test for `p` on the outputs in `paths`, ready to run here (see foreign_command).
/// Throws Error(usage) when the project has no test command, Error(environment) when `p`
/// cannot be run on this machine.
Command test_command(const Project& project, const Platform& p, const PlatformPaths& paths,
                     const std::filesystem::path& sysroot, RunMode* mode = nullptr);

/// One platform's test run.
struct TestRun {
  Platform platform;
  PlatformPaths paths;
  std::filesystem::path sysroot;                 ///< "" = default_sysroot(platform)
};

/// What happened.
struct TestOutcome {
  Platform platform;
  bool ok = false;
  std::string how;                               ///< "native", "binfmt", "qemu-aarch64 -L ..."
  std::string output;                            ///< merged stdout+stderr
  std::string error;                             ///< why it failed
  double wall_seconds = 0;
};

/// Runs the test command of each run, up to `slots` at once, each killed with its process
/// group after `timeout`. One outcome per run, same order. Never throws for a platform.
std::vector<TestOutcome> run_tests(const Project& project, const std::vector<TestRun>& runs, int slots,
                                   std::optional<std::chrono::seconds> timeout = std::nullopt);

}  // namespace xb::emulate
