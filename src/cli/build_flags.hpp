#pragma once
// Flags shared by the commands that plan and build (build, plan, bench, test, run): one
// definition, so --platform and --strategy mean the same everywhere.

#include "config/project.hpp"
#include "config/toolchain.hpp"
#include "plan/plan.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xb::cli {

/// --kube-context, --nodes, --arm-variant: where `--platform cluster` (and `xbuild cluster`)
/// read the nodes.
struct ClusterFlags {
  std::string context;             ///< kubeconfig context, "" = the current one
  std::filesystem::path nodes;     ///< a saved `kubectl get nodes -o json`, "" = ask the cluster
  std::string arm_variant = "v7";  ///< the variant of arm nodes that have no variant label
};

/// --platform, --strategy, -j, --build-arg, and the cluster flags `--platform cluster` uses.
struct PlanFlags {
  std::vector<std::string> platforms;   ///< repeatable, comma lists allowed; "cluster" = the nodes'
  std::vector<std::string> strategies;  ///< "emulate" (all) or "linux/arm64=emulate"
  int jobs = 0;                         ///< -j
  std::vector<std::string> build_args;  ///< --build-arg KEY=VALUE, repeatable
  std::optional<bool> accelerate;       ///< --accelerate / --no-accelerate (unset: [emulate] accelerate)
  ClusterFlags cluster;                 ///< for --platform cluster
  bool no_cache = false;                ///< --no-cache
};

/// The check every --platform option has (build, plan, matrix, bench, test, doctor, run, pull,
/// rootfs): a value naming no platform ("" or ",", as an unset $PLATFORM gives) is a usage
/// error, never "all platforms".
CLI::Validator platform_list_check();

/// Adds --platform, --strategy, -j, --build-arg, --no-cache, --[no-]accelerate and the cluster flags to `cmd`.
void add_plan_flags(CLI::App& cmd, PlanFlags& flags);
/// Adds --kube-context, --nodes and --arm-variant to `cmd`.
void add_cluster_flags(CLI::App& cmd, ClusterFlags& flags);
/// The --platform values as platforms, each once, in the order given. "cluster" (alone or
/// in a comma list) stands for the platforms the cluster's nodes run, read through kubectl
/// or --nodes (a note on stderr says which and how many nodes run each); mixed with others
/// it is their union. Error(usage) naming --platform for an unknown or twice-named
/// platform; the cluster's errors are kube::load_nodes' and kube::platforms_of's (exit 4
/// unreachable, 3 a node of an unknown platform).
std::vector<Platform> platforms_from_flags(const std::vector<std::string>& items, const ClusterFlags& cluster);
/// Adds --build-arg KEY=VALUE (repeatable, as docker buildx) to `cmd`, for commands that
/// take no other plan flags (run, bench).
void add_build_arg_flag(CLI::App& cmd, std::vector<std::string>& build_args);
/// Adds --no-cache (no compiler cache for this run, whatever [cache] says) to `cmd`, for
/// commands that take no other plan flags (bench).
void add_no_cache_flag(CLI::App& cmd, bool& no_cache);
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
