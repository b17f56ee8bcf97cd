#pragma once
// Flags shared by the commands that plan and build (build, plan, bench, test, run): one
// definition, so --platform and --strategy mean the same everywhere.

#include "config/project.hpp"
#include "config/toolchain.hpp"
#include "plan/plan.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace xb::cli {

/// --platform, --strategy, -j.
struct PlanFlags {
  std::vector<std::string> platforms;   ///< repeatable, comma lists allowed
  std::vector<std::string> strategies;  ///< "emulate" (all) or "linux/arm64=emulate"
  int jobs = 0;                         ///< -j
};

/// The check every --platform option has (build, plan, matrix, bench, test, doctor, run, pull,
/// rootfs): a value naming no platform ("" or ",", as an unset $PLATFORM gives) is a usage
/// error, never "all platforms".
CLI::Validator platform_list_check();

/// Adds --platform, --strategy and -j to `cmd`.
void add_plan_flags(CLI::App& cmd, PlanFlags& flags);
/// Parses the flags into PlanOptions; Error(usage) naming the flag on bad input.
PlanOptions to_plan_options(const PlanFlags& flags);
/// Loads the project from -C and the toolchains it sees.
std::pair<Project, std::vector<Toolchain>> load_project_and_toolchains();

}  // namespace xb::cli
