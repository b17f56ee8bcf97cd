#pragma once
// Flags shared by the commands that plan and build (build, plan, bench, test, run): one
// definition, so --platform and --strategy mean the same everywhere.

#include "config/project.hpp"
#include "config/toolchain.hpp"
#include "plan/plan.hpp"

#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

namespace xb::cli {

/// --platform, --strategy, -j, --build-arg.
struct PlanFlags {
  std::vector<std::string> platforms;   ///< repeatable, comma lists allowed
  std::vector<std::string> strategies;  ///< "emulate" (all) or "linux/arm64=emulate"
  int jobs = 0;                         ///< -j
  std::vector<std::string> build_args;  ///< --build-arg KEY=VALUE, repeatable
};

/// The check every --platform option has (build, plan, matrix, bench, test, doctor, run, pull,
/// rootfs): a value naming no platform ("" or ",", as an unset $PLATFORM gives) is a usage
/// error, never "all platforms".
CLI::Validator platform_list_check();

/// Adds --platform, --strategy, -j and --build-arg to `cmd`.
void add_plan_flags(CLI::App& cmd, PlanFlags& flags);
/// Adds --build-arg KEY=VALUE (repeatable, as docker buildx) to `cmd`, for commands that
/// take no other plan flags (run, bench).
void add_build_arg_flag(CLI::App& cmd, std::vector<std::string>& build_args);
/// KEY=VALUE strings into a map (a later KEY wins); Error(usage) naming the flag for a value
/// without '=' or a KEY that is not [A-Za-z_][A-Za-z0-9_]*.
std::map<std::string, std::string> parse_build_args(const std::vector<std::string>& build_args);
/// Parses the flags into PlanOptions; Error(usage) naming the flag on bad input.
PlanOptions to_plan_options(const PlanFlags& flags);
/// Loads the project from -C and the toolchains it sees.
std::pair<Project, std::vector<Toolchain>> load_project_and_toolchains();
/// Loads the project in `dir` (from `file`, "" = DIR/xbuild.toml) and the toolchains it sees.
std::pair<Project, std::vector<Toolchain>> load_project_and_toolchains(const std::filesystem::path& dir,
                                                                       const std::filesystem::path& file);

}  // namespace xb::cli
