// `xbuild plan`: what `xbuild build` would do, per platform, without running anything.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "emulate/accelerate.hpp"
#include "emulate/ccache.hpp"
#include "emulate/rootfs.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::cli {

namespace {

/// What accelerated emulation will do for an emulated plan, as far as it can be known without
/// creating the rootfs: `decided` false when the rootfs is not there yet.
struct AccelView {
  bool decided = false;
  emulate::Acceleration acc;
  std::string text;  ///< the plan line
};

AccelView accel_view(const Project& project, const PlatformPlan& p) {
  AccelView v;
  if (p.accelerate == Accelerate::off) {
    v.decided = true;
    v.text = v.acc.describe(Accelerate::off);
    return v;
  }
  if (auto rootfs = emulate::existing_rootfs(project, p.platform)) {
    v.decided = true;
    v.acc = emulate::plan_acceleration(p.platform, *rootfs, p.accelerate);
    v.text = v.acc.describe(p.accelerate);
    return v;
  }
  auto have = emulate::host_cross_compilers(p.platform);
  v.text = have.empty() ? fmt::format("no: the host has no cross compiler for {}; building fully emulated",
                                      p.platform.traits().gnu_triple)
                        : fmt::format("decided once the rootfs exists: the host's {} serve the rootfs's gcc of the same major",
                                      join(have, ", "));
  return v;
}

/// The compiler cache as the build will use it: an emulated build's is sealed with its rootfs
/// when that exists (else it says when it will be), with its variables in `env`.
CachePlan cache_view(const Project& project, const PlatformPlan& p, std::map<std::string, std::string>& env) {
  if (!p.cache.unsealed()) return p.cache;
  CachePlan c = p.cache;
  if (auto rootfs = emulate::existing_rootfs(project, p.platform)) {
    c = emulate::rootfs_cache(project, p, *rootfs, accel_view(project, p).acc);
    for (auto& [k, v] : cache_env(project, c, env)) env[k] = v;
  } else {
    c.notes.push_back("ccache in the rootfs: its dir is decided once the rootfs exists (the key includes the rootfs and the acceleration)");
  }
  return c;
}

boost::json::object plan_json(const Project& project, const PlatformPlan& p) {
  std::map<std::string, std::string> penv = p.env;
  CachePlan cache = cache_view(project, p, penv);
  boost::json::object env;
  for (const auto& [k, v] : penv) env[k] = v;
  boost::json::array argv;
  for (const auto& a : p.command.argv) argv.push_back(boost::json::value(a));
  boost::json::object o{
    {"platform", p.platform.str()},
    {"strategy", std::string(to_string(p.strategy))},
    {"toolchain", p.toolchain ? boost::json::value(p.toolchain->name) : boost::json::value(nullptr)},
    {"jobs", p.jobs},
    {"env", env},
    {"command", argv},
    {"cwd", p.command.cwd.string()},
    {"out", p.paths.out.string()},
    {"log", p.paths.log.string()},
    {"cmake_toolchain", p.paths.cmake_toolchain.string()},
    {"meson_cross", p.paths.meson_cross.string()},
  };
  if (!p.test.argv.empty()) {
    boost::json::array targv;
    for (const auto& a : p.test.argv) targv.push_back(boost::json::value(a));
    boost::json::object tenv;
    for (const auto& [k, v] : p.test.env) tenv[k] = v;
    o["test"] = boost::json::object{{"command", targv}, {"env", tenv}, {"cwd", p.test.cwd.string()}};
  }
  o["src"] = p.paths.src.string();
  boost::json::array cache_notes;
  for (const auto& n : cache.notes) cache_notes.push_back(boost::json::value(n));
  o["cache"] = boost::json::object{{"kind", cache.kind()},
                                   {"dir", cache.dir.empty() ? boost::json::value(nullptr) : boost::json::value(cache.dir.string())},
                                   {"key", cache.key},
                                   {"notes", cache_notes}};
  if (p.runner) o["runner"] = p.runner->host;
  if (p.strategy == Strategy::emulate) {
    AccelView v = accel_view(project, p);
    boost::json::array tools;
    for (const auto& t : v.acc.tools) tools.push_back(boost::json::value(t));
    o["accelerate"] = boost::json::object{{"mode", p.accelerate == Accelerate::off ? "off" : "auto"},
                                          {"decided", v.decided},
                                          {"tools", tools},
                                          {"compiler", v.acc.compiler.empty() ? boost::json::value(nullptr) : boost::json::value(v.acc.compiler)},
                                          {"summary", v.text}};
  }
  if (!p.problem.empty()) o["problem"] = p.problem;
  boost::json::array notes;
  for (const auto& n : p.notes) notes.push_back(boost::json::value(n));
  o["notes"] = notes;
  return o;
}

}  // namespace

void register_plan(CLI::App& app) {
  struct Opts {
    PlanFlags flags;
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("plan", "Show the strategy, toolchain, environment and command per platform; runs nothing");
  add_plan_flags(*cmd, opts->flags);
  cmd->add_flag("--json", opts->json, "Machine-readable output");
  cmd->callback([opts] {
    auto [project, toolchains] = load_project_and_toolchains();
    auto plans = make_plan(project, toolchains, to_plan_options(opts->flags));
    if (opts->json) {
      boost::json::array arr;
      for (const auto& p : plans) arr.push_back(plan_json(project, p));
      boost::json::object root{{"project", project.name}, {"language", project.language},
                               {"host", host_platform().str()}, {"platforms", arr}};
      fmt::print("{}\n", boost::json::serialize(root));
    } else {
      fmt::print("project {} ({}) on {}\n", project.name, project.language, host_platform().str());
      for (const auto& p : plans) {
        fmt::print("\n{}\n  strategy:  {}\n", p.platform.str(), to_string(p.strategy));
        for (const auto& n : p.notes) fmt::print("  note:      {}\n", n);
        if (!p.problem.empty()) {
          fmt::print("  problem:   {}\n", p.problem);
          continue;
        }
        if (p.toolchain) fmt::print("  toolchain: {} ({})\n", p.toolchain->name, p.toolchain->file.string());
        if (p.runner) fmt::print("  runner:    {}:{}\n", p.runner->host, p.runner->port);
        if (p.strategy == Strategy::emulate) fmt::print("  accelerate: {}\n", accel_view(project, p).text);
        fmt::print("  jobs:      {}\n  command:   {}\n  cwd:       {}\n  source:    {} ({})\n  outputs:   {}\n", p.jobs,
                   p.command.display(), p.command.cwd.string(), p.paths.src.string(), to_string(project.source),
                   p.paths.out.string());
        std::map<std::string, std::string> env = p.env;
        CachePlan cache = cache_view(project, p, env);
        if (cache.kinds.empty()) fmt::print("  cache:     none\n");
        else if (cache.dir.empty()) fmt::print("  cache:     {} (in the rootfs)\n", cache.kind());
        else fmt::print("  cache:     {} in {}{}\n", cache.kind(), cache.dir.string(), cache.in_rootfs ? " (the host's ccache, in the rootfs)" : "");
        for (const auto& n : cache.notes) fmt::print("  cache note: {}\n", n);
        fmt::print("  env:\n");
        for (const auto& [k, v] : env) fmt::print("    {}={}\n", k, v);
        if (!p.test.argv.empty()) {
          fmt::print("  test:      {}\n", p.test.display());
          bool more = false;
          for (const auto& [k, v] : p.test.env) {
            auto it = p.env.find(k);
            if (it != p.env.end() && it->second == v) continue;
            if (!more) fmt::print("  test env (the build's, plus):\n");
            more = true;
            fmt::print("    {}={}\n", k, v);
          }
        }
      }
    }
    std::vector<std::string> problems;
    for (const auto& p : plans) {
      if (p.strategy == Strategy::none) problems.push_back(p.problem);
    }
    if (!problems.empty()) throw Error(join(problems, "\n  "), Exit::environment);
  });
}

}  // namespace xb::cli
