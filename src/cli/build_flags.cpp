// The flags build/plan/bench/test/run share, parsed into PlanOptions in one place, and the
// global options main.cpp fills (defined here so cli/ links into the unit tests without main).

#include "cli/build_flags.hpp"

#include "cli/commands.hpp"
#include "kube/kubectl.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <algorithm>

namespace xb::cli {

GlobalOptions& globals() {
  static GlobalOptions g;  // filled by main; here so that cli/ links without main.cpp (tests)
  return g;
}

CLI::Validator platform_list_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (!split(value, ',').empty()) return {};
        return fmt::format("'{}' names no platform (an unset variable?); give one, e.g. linux/arm64", value);
      },
      "PLATFORM[,PLATFORM...]", "platform list");
}

void add_plan_flags(CLI::App& cmd, PlanFlags& flags) {
  cmd.add_option("--platform,--platforms", flags.platforms,
                 "Target platforms, e.g. linux/amd64,linux/arm64,linux/arm/v7, or `cluster` for those the Kubernetes "
                 "cluster's nodes run (default: xbuild.toml's, else the host)")
      ->check(platform_list_check());
  cmd.add_option("--strategy", flags.strategies,
                 "Force a strategy: auto|native|cross|emulate|runner for all, or PLATFORM=STRATEGY (repeatable)");
  cmd.add_option("-j,--jobs", flags.jobs, "Platforms built at once (default: cores)")->check(CLI::Range(1, 1024));
  add_build_arg_flag(cmd, flags.build_args);
  add_no_cache_flag(cmd, flags.no_cache);
  auto* on = cmd.add_flag_callback("--accelerate", [&flags] { flags.accelerate = true; },
                                   "Emulated builds: serve the rootfs's gcc, cc, g++, as, ld... with the host's cross tools "
                                   "when their gcc major and triple match (the default; [emulate] accelerate)");
  auto* off = cmd.add_flag_callback("--no-accelerate", [&flags] { flags.accelerate = false; },
                                    "Emulated builds: run every tool under qemu, the rootfs's own compiler included");
  on->excludes(off);
  add_cluster_flags(cmd, flags.cluster);
}

void add_no_cache_flag(CLI::App& cmd, bool& no_cache) {
  cmd.add_flag("--no-cache", no_cache, "Use no compiler cache (ccache, GOCACHE under .xbuild/cache) for this run");
}

void add_cluster_flags(CLI::App& cmd, ClusterFlags& flags) {
  cmd.add_option("--kube-context", flags.context, "kubeconfig context (default: the current one; KUBECONFIG is honoured)");
  cmd.add_option("--nodes", flags.nodes, "Read the nodes from FILE (`kubectl get nodes -o json` output) instead of the cluster");
  cmd.add_option("--arm-variant", flags.arm_variant, "Variant of arm nodes without a variant label")
      ->capture_default_str()
      ->check(CLI::IsMember({"v6", "v7"}));
}

std::vector<Platform> platforms_from_flags(const std::vector<std::string>& items, const ClusterFlags& cluster) {
  constexpr std::string_view k_cluster = "cluster";
  std::vector<std::string> pieces, named;
  for (const auto& item : items)
    for (auto& piece : split(item, ',')) {
      if (to_lower(piece) == k_cluster) piece = k_cluster;  // as platforms, case does not matter
      else named.push_back(piece);
      pieces.push_back(std::move(piece));
    }
  std::vector<Platform> explicit_platforms;
  try {
    explicit_platforms = parse_platforms(named);
  } catch (const Error& e) {
    throw Error(fmt::format("--platform: {}", e.what()), Exit::usage);
  }
  if (named.size() == pieces.size()) return explicit_platforms;

  auto by_platform = kube::platforms_of(kube::load_nodes(kube::NodeSource{cluster.nodes, cluster.context}), cluster.arm_variant);
  std::vector<Platform> out;
  auto add = [&](const Platform& p) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  auto next_named = explicit_platforms.begin();
  for (const auto& piece : pieces) {
    if (piece != k_cluster) add(*next_named++);
    else
      for (const auto& entry : by_platform) add(entry.first);
  }
  std::vector<std::string> counts;
  for (const auto& [p, nodes] : by_platform)
    counts.push_back(fmt::format("{} ({} node{})", p.str(), nodes.size(), nodes.size() == 1 ? "" : "s"));
  if (out.size() == 1)
    fmt::print(stderr, "xbuild: cluster runs only {}: building one platform\n", counts.front());
  else
    fmt::print(stderr, "xbuild: cluster runs {}{}: building {} platforms\n", by_platform.size() == 1 ? "only " : "",
               join(counts, ", "), out.size());
  return out;
}

void add_build_arg_flag(CLI::App& cmd, std::vector<std::string>& build_args) {
  cmd.add_option("--build-arg", build_args,
                 "Build variable KEY=VALUE, in the build's environment and as {arg:KEY} (repeatable; over [args])")
      ->allow_extra_args(false);
}

std::map<std::string, std::string> parse_build_args(const std::vector<std::string>& build_args) {
  std::map<std::string, std::string> out;
  for (const auto& a : build_args) {
    auto eq = a.find('=');
    if (eq == std::string::npos) fail(Exit::usage, "--build-arg {}: expected KEY=VALUE", a);
    std::string key = a.substr(0, eq);
    if (!valid_arg_name(key))
      fail(Exit::usage, "--build-arg {}: '{}' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", a, key);
    out[key] = a.substr(eq + 1);
  }
  return out;
}

PlanOptions to_plan_options(const PlanFlags& flags) {
  PlanOptions o;
  o.platforms = platforms_from_flags(flags.platforms, flags.cluster);
  for (const auto& s : flags.strategies) {
    auto eq = s.find('=');
    std::string key = "all", value = s;
    if (eq != std::string::npos) {
      try {
        key = Platform::parse(s.substr(0, eq)).str();
      } catch (const Error& e) {
        throw Error(fmt::format("--strategy {}: {}", s, e.what()), Exit::usage);
      }
      value = s.substr(eq + 1);
    }
    try {
      if (auto st = parse_strategy(value)) o.forced[key] = *st;
    } catch (const Error& e) {
      throw Error(fmt::format("--strategy {}: {}", s, e.what()), Exit::usage);
    }
  }
  o.slots = flags.jobs;
  if (flags.accelerate) o.accelerate = *flags.accelerate ? Accelerate::automatic : Accelerate::off;
  o.build_args = parse_build_args(flags.build_args);
  o.no_cache = flags.no_cache;
  return o;
}

std::pair<Project, std::vector<Toolchain>> load_project_and_toolchains() {
  return load_project_and_toolchains(globals().dir, globals().file);
}

std::pair<Project, std::vector<Toolchain>> load_project_and_toolchains(const std::filesystem::path& dir,
                                                                       const std::filesystem::path& file) {
  Project project = load_project(dir, file);
  auto toolchains = load_toolchains(toolchain_dirs(project.dir));
  if (!project.toolchain.empty() &&
      std::none_of(toolchains.begin(), toolchains.end(), [&](const Toolchain& t) { return t.name == project.toolchain; })) {
    std::vector<std::string> names;
    for (const auto& t : toolchains) names.push_back(t.name);
    fail(Exit::usage, "{}: unknown toolchain '{}'; known: {} (see xbuild toolchains)", project.file.string(),
         project.toolchain, join(names, ", "));
  }
  return {std::move(project), std::move(toolchains)};
}

}  // namespace xb::cli
