// Resolution of strategy and toolchain per platform, and the exact environment and command.
// Everything here is deterministic given the project, the descriptors and what is installed,
// so `xbuild plan` shows precisely what `xbuild build` will run.

#include "plan/plan.hpp"

#include "exec/subprocess.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <filesystem>
#include <future>

namespace xb {

namespace fs = std::filesystem;

fs::path state_dir(const Project& project) { return project.dir / ".xbuild"; }

std::string strategy_label(Strategy s, bool accelerated) {
  if (s == Strategy::emulate && accelerated) return "emulate (accelerated)";
  return std::string(to_string(s));
}

PlatformPaths platform_paths(const Project& project, const fs::path& root, const Platform& p) {
  PlatformPaths paths;
  paths.src = project.source == SourceMode::copy ? root / "src" / p.dir_name() : project.dir;
  paths.build = root / "build" / p.dir_name();
  paths.out = root / "out" / p.dir_name();
  paths.log = root / "logs" / (p.dir_name() + ".log");
  paths.test_log = root / "logs" / (p.dir_name() + ".test.log");
  paths.test_record = root / "test" / p.dir_name();
  paths.cmake_toolchain = root / "toolchain" / (p.dir_name() + ".cmake");
  paths.meson_cross = root / "toolchain" / (p.dir_name() + ".meson.ini");
  return paths;
}

namespace {

std::string env_or(const std::map<std::string, std::string>& env, const char* key, const char* fallback) {
  auto it = env.find(key);
  return it == env.end() ? fallback : it->second;
}

/// The environment variable suffix Cargo uses for a target: upper case, '_' for '-'.
std::string cargo_target_env(std::string_view rust_target) {
  std::string out = replace_all(to_upper(rust_target), "-", "_");
  return replace_all(std::move(out), ".", "_");
}

}  // namespace

namespace {

/// placeholder_values with {cc}/{cxx} taken from `env` (the environment being computed).
std::map<std::string, std::string> values_with(const Project& project, const PlatformPlan& plan,
                                               const std::map<std::string, std::string>& env) {
  const auto& t = plan.platform.traits();
  auto where = [&](const fs::path& local) { return plan.runner ? runner_path(*plan.runner, local) : local; };
  fs::path src = plan.runner ? project.dir : plan.paths.src;
  std::map<std::string, std::string> values = {
    {"{src}", where(src).string()},
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
    {"{cc}", env_or(env, "CC", "cc")},
    {"{cxx}", env_or(env, "CXX", "c++")},
  };
  for (const auto& [k, v] : plan.args) values["{arg:" + k + "}"] = v;
  return values;
}

/// The KEYs of every {arg:KEY} in `s`.
void args_referenced(std::string_view s, std::vector<std::string>& out) {
  for (auto i = s.find("{arg:"); i != std::string_view::npos; i = s.find("{arg:", i + 1)) {
    auto close = s.find('}', i);
    if (close == std::string_view::npos) return;
    out.emplace_back(s.substr(i + 5, close - i - 5));
  }
}

/// [args] with --build-arg over it; Error(usage) naming any {arg:KEY} of the build, test or
/// [env] that gets no value, and any --build-arg name that is not a variable name.
std::map<std::string, std::string> build_args(const Project& project, const PlanOptions& options) {
  std::map<std::string, std::string> args = project.args;
  for (const auto& [k, v] : options.build_args) {
    if (!valid_arg_name(k)) fail(Exit::usage, "--build-arg {}={}: '{}' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", k, v, k);
    args[k] = v;
  }
  std::vector<std::string> used;
  for (const CommandSpec* c : {&project.build, &project.test}) {
    args_referenced(c->script, used);
    for (const auto& a : c->argv) args_referenced(a, used);
  }
  for (const auto& [k, v] : project.env) args_referenced(v, used);
  for (const auto& k : used)
    if (!args.count(k))
      fail(Exit::usage, "{}: {{arg:{}}} has no value: pass --build-arg {}=VALUE or set it in [args]", project.file.string(), k, k);
  return args;
}

}  // namespace

std::map<std::string, std::string> placeholder_values(const Project& project, const PlatformPlan& plan) {
  return values_with(project, plan, plan.env);
}

std::string expand_placeholders(std::string_view s, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '{') {
      auto close = s.find('}', i);
      if (close != std::string_view::npos) {
        auto it = values.find(std::string(s.substr(i, close - i + 1)));
        if (it != values.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out += s[i++];
  }
  return out;
}

std::vector<std::string> expand_command(const CommandSpec& spec, const std::map<std::string, std::string>& values) {
  if (spec.argv.empty()) return {"sh", "-ec", expand_placeholders(spec.script, values)};
  std::vector<std::string> argv;
  for (const auto& a : spec.argv) {
    if (a == "{cc}" || a == "{cxx}") {
      for (const auto& w : split(values.at(a), ' '))
        if (!w.empty()) argv.push_back(w);
      continue;
    }
    argv.push_back(expand_placeholders(a, values));
  }
  return argv;
}

std::map<std::string, std::string> platform_env(const Project& project, const PlatformPlan& plan) {
  const Platform& p = plan.platform;
  const auto& t = p.traits();
  Platform host = host_platform();
  std::map<std::string, std::string> env;
  // Docker's build arguments.
  env["TARGETPLATFORM"] = p.str();
  env["TARGETOS"] = p.os;
  env["TARGETARCH"] = p.arch;
  env["TARGETVARIANT"] = p.variant;
  env["BUILDPLATFORM"] = host.str();
  env["BUILDOS"] = host.os;
  env["BUILDARCH"] = host.arch;
  env["BUILDVARIANT"] = host.variant;
  env["XBUILD_JOBS"] = std::to_string(plan.jobs);
  env["CMAKE_BUILD_PARALLEL_LEVEL"] = std::to_string(plan.jobs);
  env["XBUILD_TRIPLE"] = std::string(t.gnu_triple);
  env["XBUILD_CMAKE_TOOLCHAIN"] = plan.paths.cmake_toolchain.string();
  env["XBUILD_MESON_CROSS"] = plan.paths.meson_cross.string();
  env["XBUILD_STRATEGY"] = std::string(to_string(plan.strategy));
  // Go and Rust name the target whatever builds it: an emulated `go test` must not fall back to
  // a GOARCH of its own, and a cargo build finds its output under target/<triple>/ everywhere.
  env["GOOS"] = p.os;
  env["GOARCH"] = std::string(t.goarch);
  if (!t.goarm.empty()) env["GOARM"] = std::string(t.goarm);
  env["RUST_TARGET"] = std::string(t.rust_target);
  env["CARGO_BUILD_TARGET"] = std::string(t.rust_target);
  if (plan.toolchain) {
    for (const auto& [k, v] : plan.toolchain->env_for(p)) env[k] = v;
    std::string sysroot = plan.toolchain->expand(plan.toolchain->sysroot, p);
    if (!sysroot.empty() && plan.strategy == Strategy::cross) env["QEMU_LD_PREFIX"] = sysroot;
    if (!plan.toolchain->c_flags.empty()) {
      env["CFLAGS"] = join(plan.toolchain->c_flags, " ");
      env["CXXFLAGS"] = join(plan.toolchain->c_flags, " ");
    }
    if (!plan.toolchain->ld_flags.empty()) env["LDFLAGS"] = join(plan.toolchain->ld_flags, " ");
  } else if (plan.strategy == Strategy::emulate || plan.strategy == Strategy::runner) {
    // The build runs natively for the target (in its rootfs, or on the runner): the plain tool
    // names of that system, the ones a cross toolchain would have prefixed.
    for (auto [k, v] : {std::pair{"CC", "gcc"}, std::pair{"CXX", "g++"}, std::pair{"AR", "ar"}, std::pair{"RANLIB", "ranlib"},
                        std::pair{"STRIP", "strip"}, std::pair{"LD", "ld"}, std::pair{"NM", "nm"},
                        std::pair{"OBJCOPY", "objcopy"}, std::pair{"PKG_CONFIG", "pkg-config"}})
      env[k] = v;
    env[fmt::format("CARGO_TARGET_{}_LINKER", cargo_target_env(t.rust_target))] = "gcc";
  }
  auto values = values_with(project, plan, env);
  env["XBUILD_OUT"] = values.at("{out}");
  env["XBUILD_BUILD"] = values.at("{build}");
  env["XBUILD_SRC"] = values.at("{src}");
  for (const auto& [k, v] : project.env) env[k] = expand_placeholders(v, values);
  for (const auto& [k, v] : plan.args) env[k] = v;
  return env;
}

fs::path test_exec_wrapper(const PlatformPlan& plan) { return plan.paths.test_record / "exec"; }

bool test_is_watched(const PlatformPlan& plan) {
  return plan.platform != host_platform() && plan.strategy != Strategy::emulate;
}

std::map<std::string, std::string> test_env_additions(const PlatformPlan& plan) {
  std::map<std::string, std::string> add;
  if (!test_is_watched(plan)) return add;
  add["QEMU_LOG"] = "guest_errors";  // logs nothing, but makes each qemu process create its file
  add["QEMU_LOG_FILENAME"] = (plan.paths.test_record / "qemu-%d.log").string();
  std::string wrapper = test_exec_wrapper(plan).string();
  std::string goflags = env_or(plan.env, "GOFLAGS", "");
  add["GOFLAGS"] = (goflags.empty() ? "" : goflags + " ") + "-exec=" + wrapper;
  add[fmt::format("CARGO_TARGET_{}_RUNNER", cargo_target_env(plan.platform.traits().rust_target))] = wrapper;
  return add;
}

namespace {

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
  std::map<std::string, std::string> args = build_args(project, options);
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
    plan.paths = platform_paths(project, root, p);
    plan.jobs = jobs;
    plan.args = args;
    plan.accelerate = options.accelerate.value_or(project.emulate.accelerate);
    bool is_host = p == host;

    std::optional<Strategy> forced;
    if (auto it = options.forced.find(p.str()); it != options.forced.end()) forced = it->second;
    else if (auto all = options.forced.find("all"); all != options.forced.end()) forced = all->second;
    else if (auto cfg = project.strategy.find(p.str()); cfg != project.strategy.end()) forced = cfg->second;
    else if (auto cfg_all = project.strategy.find("all"); cfg_all != project.strategy.end()) forced = cfg_all->second;

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

    plan.env = platform_env(project, plan);
    plans.push_back(std::move(plan));
  }

  // The compiler caches: plan_cache asks every compiler for its version (a process each),
  // so every platform's is planned at once rather than one after another.
  std::string cache_off = options.no_cache ? "--no-cache" : project.cache.enabled ? "" : "[cache] enabled = false in " + project.file.string();
  parallel_for(plans.size(), static_cast<int>(plans.size()),
               [&](std::size_t i) { plans[i].cache = plan_cache(project, plans[i], cache_off); });

  for (PlatformPlan& plan : plans) {
    for (auto& [k, v] : cache_env(project, plan.cache, plan.env)) plan.env[k] = v;
    auto values = placeholder_values(project, plan);
    plan.command.argv = expand_command(project.build, values);
    plan.command.env = plan.env;
    plan.command.cwd = plan.runner ? runner_path(*plan.runner, project.dir) : plan.paths.src;
    // A build that runs here with a program that is not installed is an environment problem
    // (exit 3, as a missing toolchain), found before anything runs, not a shell's 127 later.
    if (plan.strategy == Strategy::native || plan.strategy == Strategy::cross) {
      std::string prog = first_program(plan.command.argv);  // as expanded for this platform ({cc} is a compiler)
      auto path = plan.env.find("PATH");
      if (!prog.empty() && !find_program(prog, path == plan.env.end() ? nullptr : path->second.c_str())) {
        plan.problem = fmt::format("the build command's program '{}' is not installed (not found in PATH; 'build' in {})",
                                   prog, project.file.string());
        plan.strategy = Strategy::none;
      }
    }
    if (!project.test.empty()) {
      plan.test.argv = expand_command(project.test, values);
      plan.test.env = plan.env;
      for (const auto& [k, v] : test_env_additions(plan)) plan.test.env[k] = v;
      plan.test.cwd = plan.paths.src;
    }
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
  write_file_if_changed(plan.paths.cmake_toolchain, cm);
  write_file_if_changed(plan.paths.meson_cross, ms);
}

}  // namespace xb
