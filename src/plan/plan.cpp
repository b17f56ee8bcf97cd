// Resolution of strategy and toolchain per platform, and the exact environment and command.
// Everything here is deterministic given the project, the descriptors and what is installed,
// so `xbuild plan` shows precisely what `xbuild build` will run.

#include "plan/plan.hpp"

#include "exec/subprocess.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <filesystem>
#include <future>

namespace xb {

namespace fs = std::filesystem;

std::string_view to_string(Strategy s) {
  switch (s) {
    case Strategy::native: return "native";
    case Strategy::cross: return "cross";
    case Strategy::emulate: return "emulate";
    case Strategy::runner: return "runner";
    case Strategy::none: return "none";
  }
  return "none";
}

std::optional<Strategy> parse_strategy(std::string_view s) {
  if (s == "auto") return std::nullopt;
  for (Strategy st : {Strategy::native, Strategy::cross, Strategy::emulate, Strategy::runner}) {
    if (to_string(st) == s) return st;
  }
  fail(Exit::usage, "unknown strategy '{}': expected auto, native, cross, emulate or runner", s);
}

fs::path state_dir(const Project& project) { return project.dir / ".xbuild"; }

PlatformPaths platform_paths(const fs::path& root, const Platform& p) {
  PlatformPaths paths;
  paths.build = root / "build" / p.dir_name();
  paths.out = root / "out" / p.dir_name();
  paths.log = root / "logs" / (p.dir_name() + ".log");
  paths.cmake_toolchain = root / "toolchain" / (p.dir_name() + ".cmake");
  paths.meson_cross = root / "toolchain" / (p.dir_name() + ".meson.ini");
  return paths;
}

namespace {

/// The placeholder values for a plan. A runner build sees the paths it has on the runner.
std::map<std::string, std::string> placeholders(const Project& project, const PlatformPlan& plan) {
  const auto& t = plan.platform.traits();
  auto where = [&](const fs::path& local) { return plan.runner ? runner_path(*plan.runner, local) : local; };
  return {
    {"{src}", where(project.dir).string()},
    {"{out}", where(plan.paths.out).string()},
    {"{build}", where(plan.paths.build).string()},
    {"{jobs}", std::to_string(plan.jobs)},
    {"{platform}", plan.platform.str()},
    {"{os}", plan.platform.os},
    {"{arch}", plan.platform.arch},
    {"{variant}", plan.platform.variant},
    {"{triple}", std::string(t.gnu_triple)},
    {"{rust_target}", std::string(t.rust_target)},
    {"{cmake_toolchain}", plan.paths.cmake_toolchain.string()},
    {"{meson_cross}", plan.paths.meson_cross.string()},
  };
}

std::string expand(std::string s, const std::map<std::string, std::string>& values) {
  if (s.find('{') == std::string::npos) return s;
  for (const auto& [k, v] : values) s = replace_all(std::move(s), k, v);
  return s;
}

/// The toolchains serving `p` in the order they are tried: the project's preferred one first,
/// then by priority (native-only ones first on the host).
std::vector<const Toolchain*> candidates(const Project& project, const std::vector<Toolchain>& toolchains,
                                         const Platform& p, bool native) {
  std::vector<const Toolchain*> serving;
  for (const auto& tc : toolchains) {
    if (!tc.serves(p, project.language)) continue;
    if (tc.native_only && !native) continue;
    serving.push_back(&tc);
  }
  auto rank = [&](const Toolchain* t) {
    return (t->name == project.toolchain ? 1000 : 0) + t->priority + (native && t->native_only ? 100 : 0);
  };
  std::stable_sort(serving.begin(), serving.end(), [&](const Toolchain* a, const Toolchain* b) { return rank(a) > rank(b); });
  return serving;
}

/// The program the project's build runs first (for "cargo is needed when the build runs it").
std::string build_program(const Project& project) {
  if (!project.build.argv.empty()) return first_program(project.build.argv);
  return first_program({"sh", "-ec", project.build.script});
}

/// The best usable toolchain serving `p`, or nullptr. Probes run in priority order and stop at
/// the first that works: each probe may be a process, and planning should cost milliseconds.
/// `notes` gets the usable one's warnings and, when the preferred toolchain was passed over,
/// why ("rust-rustup: ...; using rust-debian"); `preferred_problem` what kept the preferred
/// one out when nothing else serves either.
const Toolchain* best_toolchain(const Project& project, const std::vector<Toolchain>& toolchains, const Platform& p,
                                bool native, std::vector<std::string>& notes, std::string& preferred_problem) {
  std::string first = build_program(project);
  bool preferred_serves = false;
  for (const Toolchain* tc : candidates(project, toolchains, p, native)) {
    ToolchainStatus st = probe_toolchain(*tc, p, project.language, first);
    if (tc->name == project.toolchain) preferred_serves = true;
    if (!st.usable()) {
      if (tc->name == project.toolchain) preferred_problem = st.problem;
      continue;
    }
    if (!project.toolchain.empty() && tc->name != project.toolchain) {
      notes.push_back(preferred_serves ? fmt::format("{}: {}; using {}", project.toolchain, preferred_problem, tc->name)
                                       : fmt::format("{} does not serve {} ({}); using {}", project.toolchain, p.str(),
                                                     project.language, tc->name));
    }
    for (const auto& w : st.warnings) notes.push_back(fmt::format("{}: {}", tc->name, w));
    return tc;
  }
  if (!project.toolchain.empty() && !preferred_serves && preferred_problem.empty())
    preferred_problem = fmt::format("does not serve {} ({})", p.str(), project.language);
  return nullptr;
}

bool binfmt_registered(const Platform& p) {
  const char* dir = std::getenv("XBUILD_BINFMT_DIR");
  fs::path base = dir ? dir : "/proc/sys/fs/binfmt_misc";
  return fs::exists(base / fmt::format("qemu-{}", p.traits().qemu));
}

}  // namespace

fs::path runner_path(const RunnerSection& runner, const fs::path& local) {
  return fs::path(runner.workdir) / local.relative_path();
}

std::vector<PlatformPlan> make_plan(const Project& project, const std::vector<Toolchain>& toolchains,
                                    const PlanOptions& options) {
  Platform host = host_platform();
  std::vector<Platform> platforms = options.platforms;
  if (platforms.empty()) platforms = project.platforms;
  if (platforms.empty()) platforms = {host};

  fs::path root = options.state_root.empty() ? state_dir(project) : options.state_root;
  int cores = cpu_count();
  int slots = options.slots > 0 ? options.slots : cores;
  int concurrent = std::max(1, std::min<int>(slots, static_cast<int>(platforms.size())));
  int jobs = std::max(1, cores / concurrent);

  // Warm the probe cache in parallel with each platform's likeliest toolchain: probes are
  // processes, and run one after another they would be most of plan's time.
  {
    std::vector<std::future<ToolchainStatus>> warm;
    std::string first = build_program(project);
    for (const Platform& p : platforms) {
      auto order = candidates(project, toolchains, p, p == host);
      if (order.empty()) continue;
      const Toolchain* top = order.front();
      warm.push_back(std::async(std::launch::async, [&project, &first, top, p] { return probe_toolchain(*top, p, project.language, first); }));
    }
  }

  std::vector<PlatformPlan> plans;
  for (const Platform& p : platforms) {
    PlatformPlan plan;
    plan.platform = p;
    plan.paths = platform_paths(root, p);
    plan.jobs = jobs;
    bool is_host = p == host;

    std::optional<Strategy> forced;
    if (auto it = options.forced.find(p.str()); it != options.forced.end()) forced = it->second;
    else if (auto all = options.forced.find("all"); all != options.forced.end()) forced = all->second;
    else if (auto cfg = project.strategy.find(p.str()); cfg != project.strategy.end()) forced = parse_strategy(cfg->second);
    else if (auto cfg_all = project.strategy.find("all"); cfg_all != project.strategy.end()) forced = parse_strategy(cfg_all->second);

    std::string preferred_problem;
    auto runner = std::find_if(project.runners.begin(), project.runners.end(),
                               [&](const RunnerSection& r) { return r.platform == p.str(); });
    auto try_toolchain = [&](Strategy s) {
      const Toolchain* tc = best_toolchain(project, toolchains, p, s == Strategy::native, plan.notes, preferred_problem);
      if (!tc) return false;
      plan.strategy = s;
      plan.toolchain = *tc;
      return true;
    };

    if (forced) {
      switch (*forced) {
        case Strategy::native:
          if (!is_host) plan.problem = fmt::format("strategy native was asked for {}, but this machine is {}", p.str(), host.str());
          else try_toolchain(Strategy::native);
          break;
        case Strategy::cross:
          try_toolchain(Strategy::cross);
          break;
        case Strategy::runner:
          if (runner == project.runners.end())
            plan.problem = fmt::format("strategy runner was asked for {}, but xbuild.toml has no [[runner]] with platform = \"{}\"", p.str(), p.str());
          else {
            plan.strategy = Strategy::runner;
            plan.runner = &*runner;
          }
          break;
        case Strategy::emulate:
          plan.strategy = Strategy::emulate;
          break;
        case Strategy::none:
          break;
      }
    } else {
      // auto: native > cross > runner > emulate
      if (!(is_host && try_toolchain(Strategy::native)) && !try_toolchain(Strategy::cross)) {
        if (runner != project.runners.end()) {
          plan.strategy = Strategy::runner;
          plan.runner = &*runner;
        } else if (binfmt_registered(p)) {
          plan.strategy = Strategy::emulate;
        }
      }
    }
    if (!preferred_problem.empty() && !plan.toolchain && plan.strategy != Strategy::none)
      plan.notes.push_back(fmt::format("{}: {}; no other toolchain serves {}: using {}", project.toolchain, preferred_problem,
                                       p.str(), to_string(plan.strategy)));
    std::sort(plan.notes.begin(), plan.notes.end());
    plan.notes.erase(std::unique(plan.notes.begin(), plan.notes.end()), plan.notes.end());

    if (plan.strategy == Strategy::none && plan.problem.empty()) {
      std::string lang = project.language == "custom" ? "c" : project.language;
      std::vector<std::string> hints;
      for (const auto& tc : toolchains) {
        if (tc.serves(p, project.language) && !tc.install_hint.empty()) hints.push_back(tc.expand(tc.install_hint, p));
      }
      std::sort(hints.begin(), hints.end());
      hints.erase(std::unique(hints.begin(), hints.end()), hints.end());
      plan.problem = fmt::format("no toolchain for {} ({}): {}, or configure emulation (apt-get install qemu-user-static binfmt-support; then xbuild doctor) or a [[runner]]",
                                 p.str(), lang,
                                 hints.empty() ? std::string("no shipped descriptor serves it; add one to toolchains/ or XBUILD_TOOLCHAIN_PATH")
                                               : "run `" + join(hints, "` or `") + "`");
      if (forced == Strategy::cross || forced == Strategy::native) plan.problem = fmt::format("strategy {} asked for {}: {}", to_string(*forced), p.str(), plan.problem);
    }

    // Environment: Docker's build arguments, then the toolchain, then the project.
    plan.env["TARGETPLATFORM"] = p.str();
    plan.env["TARGETOS"] = p.os;
    plan.env["TARGETARCH"] = p.arch;
    plan.env["TARGETVARIANT"] = p.variant;
    plan.env["BUILDPLATFORM"] = host.str();
    plan.env["BUILDOS"] = host.os;
    plan.env["BUILDARCH"] = host.arch;
    plan.env["BUILDVARIANT"] = host.variant;
    plan.env["XBUILD_JOBS"] = std::to_string(jobs);
    plan.env["CMAKE_BUILD_PARALLEL_LEVEL"] = std::to_string(jobs);
    auto values = placeholders(project, plan);
    plan.env["XBUILD_OUT"] = values.at("{out}");
    plan.env["XBUILD_BUILD"] = values.at("{build}");
    plan.env["XBUILD_SRC"] = values.at("{src}");
    plan.env["XBUILD_TRIPLE"] = std::string(p.traits().gnu_triple);
    plan.env["XBUILD_CMAKE_TOOLCHAIN"] = plan.paths.cmake_toolchain.string();
    plan.env["XBUILD_MESON_CROSS"] = plan.paths.meson_cross.string();
    plan.env["XBUILD_STRATEGY"] = std::string(to_string(plan.strategy));
    if (plan.toolchain) {
      for (const auto& [k, v] : plan.toolchain->env_for(p)) plan.env[k] = v;
      std::string sysroot = plan.toolchain->expand(plan.toolchain->sysroot, p);
      if (!sysroot.empty() && plan.strategy == Strategy::cross) plan.env["QEMU_LD_PREFIX"] = sysroot;
      if (!plan.toolchain->c_flags.empty()) {
        plan.env["CFLAGS"] = join(plan.toolchain->c_flags, " ");
        plan.env["CXXFLAGS"] = join(plan.toolchain->c_flags, " ");
      }
      if (!plan.toolchain->ld_flags.empty()) plan.env["LDFLAGS"] = join(plan.toolchain->ld_flags, " ");
    } else if (plan.strategy == Strategy::emulate || plan.strategy == Strategy::runner) {
      // The build runs natively for the target: plain tool names.
      plan.env["CC"] = "gcc";
      plan.env["CXX"] = "g++";
    }
    for (const auto& [k, v] : project.env) plan.env[k] = expand(v, values);

    if (!project.build.argv.empty()) {
      for (const auto& a : project.build.argv) plan.command.argv.push_back(expand(a, values));
    } else {
      plan.command.argv = {"sh", "-ec", expand(project.build.script, values)};
    }
    plan.command.env = plan.env;
    plan.command.cwd = plan.runner ? runner_path(*plan.runner, project.dir) : project.dir;
    plans.push_back(std::move(plan));
  }
  return plans;
}

namespace {

/// First word of a tool setting and the rest, e.g. "clang --target=x" -> {"clang", "--target=x"}.
std::pair<std::string, std::string> split_tool(const std::string& s) {
  auto words = split(s, ' ');
  if (words.empty()) return {"", ""};
  std::string rest;
  for (std::size_t i = 1; i < words.size(); ++i) rest += (i > 1 ? " " : "") + words[i];
  return {words[0], rest};
}

std::string meson_list(const std::string& s) {
  std::vector<std::string> q;
  for (const auto& w : split(s, ' ')) q.push_back("'" + w + "'");
  return "[" + join(q, ", ") + "]";
}

}  // namespace

void write_toolchain_files(const PlatformPlan& plan) {
  const auto& t = plan.platform.traits();
  auto get = [&](const char* k) { auto it = plan.env.find(k); return it == plan.env.end() ? std::string() : it->second; };
  std::string sysroot = plan.toolchain ? plan.toolchain->expand(plan.toolchain->sysroot, plan.platform) : "";
  bool cross = plan.strategy == Strategy::cross;
  std::string qemu = fmt::format("qemu-{}-static", t.qemu);

  std::string cm = "# Generated by xbuild for " + plan.platform.str() + "; do not edit.\n";
  cm += "set(CMAKE_SYSTEM_NAME Linux)\n";
  cm += fmt::format("set(CMAKE_SYSTEM_PROCESSOR {})\n", t.cpu_family);
  for (auto [var, lang] : {std::pair{"CC", "C"}, std::pair{"CXX", "CXX"}}) {
    auto [tool, flags] = split_tool(get(var));
    if (tool.empty()) continue;
    cm += fmt::format("set(CMAKE_{}_COMPILER {})\n", lang, tool);
    if (!flags.empty()) cm += fmt::format("set(CMAKE_{}_FLAGS_INIT \"{}\")\n", lang, flags);
  }
  if (!get("AR").empty()) cm += fmt::format("set(CMAKE_AR {} CACHE FILEPATH \"\")\n", split_tool(get("AR")).first);
  if (!get("RANLIB").empty()) cm += fmt::format("set(CMAKE_RANLIB {} CACHE FILEPATH \"\")\n", split_tool(get("RANLIB")).first);
  if (!get("STRIP").empty()) cm += fmt::format("set(CMAKE_STRIP {} CACHE FILEPATH \"\")\n", split_tool(get("STRIP")).first);
  if (!get("LDFLAGS").empty()) cm += fmt::format("set(CMAKE_EXE_LINKER_FLAGS_INIT \"{}\")\n", get("LDFLAGS"));
  if (cross && !sysroot.empty()) {
    cm += fmt::format("set(CMAKE_FIND_ROOT_PATH {})\n", sysroot);
    cm += "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n";
    cm += "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)\n";
    cm += "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)\n";
    cm += "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)\n";
    cm += fmt::format("set(CMAKE_CROSSCOMPILING_EMULATOR {};-L;{})\n", qemu, sysroot);
  }

  std::string ms = "# Generated by xbuild for " + plan.platform.str() + "; do not edit.\n[binaries]\n";
  for (auto [var, name] : {std::pair{"CC", "c"}, std::pair{"CXX", "cpp"}, std::pair{"AR", "ar"},
                           std::pair{"STRIP", "strip"}, std::pair{"PKG_CONFIG", "pkg-config"}}) {
    if (!get(var).empty()) ms += fmt::format("{} = {}\n", name, meson_list(get(var)));
  }
  if (cross && !sysroot.empty()) ms += fmt::format("exe_wrapper = ['{}', '-L', '{}']\n", qemu, sysroot);
  ms += "\n[host_machine]\nsystem = 'linux'\n";
  ms += fmt::format("cpu_family = '{}'\ncpu = '{}'\nendian = '{}'\n", t.cpu_family,
                    plan.platform.arch == "arm" ? "armv" + plan.platform.variant.substr(1) : std::string(t.cpu_family),
                    t.little_endian ? "little" : "big");
  if (cross && !sysroot.empty()) ms += fmt::format("\n[properties]\nsys_root = '{}'\n", sysroot);

  fs::create_directories(plan.paths.cmake_toolchain.parent_path());
  write_file_atomic(plan.paths.cmake_toolchain, cm);
  write_file_atomic(plan.paths.meson_cross, ms);
}

}  // namespace xb
