// `xbuild build`: plan, build every platform in parallel, verify, then hand the outputs to
// the chosen exporter (a local directory per platform, an OCI layout or archive, a push).

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "pipeline/build.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

struct BuildCmd {
  PlanFlags flags;
  std::vector<std::string> tags;
  std::string output;
  bool push = false;
  bool keep_going = false;
  bool clean = false;
  bool json = false;
  std::string progress = "auto";
  int timeout = 0;
};

Progress parse_progress(const std::string& s) {
  if (s == "auto" || s == "plain" || s == "tty") return Progress::plain;
  if (s == "json") return Progress::json;
  if (s == "quiet") return Progress::quiet;
  fail(Exit::usage, "--progress {}: expected auto, plain, tty, json or quiet", s);
}

/// Copies each platform's outputs to DEST/<os>_<arch>[_<variant>]/ as buildx's local exporter does.
void export_local(const Project& project, const std::vector<PlatformResult>& results, const fs::path& dest) {
  for (const auto& r : results) {
    fs::path dir = dest / r.platform.dir_name();
    fs::path tmp = dest / ("." + r.platform.dir_name() + ".tmp");
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    for (const auto& o : project.outputs) {
      fs::create_directories((tmp / o).parent_path());
      fs::copy(r.out / o, tmp / o, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    }
    fs::remove_all(dir);
    fs::rename(tmp, dir);
  }
}

}  // namespace

void register_build(CLI::App& app) {
  auto o = std::make_shared<BuildCmd>();
  auto* cmd = app.add_subcommand("build", "Build the project for every platform in parallel and export the result");
  add_plan_flags(*cmd, o->flags);
  cmd->add_option("-t,--tag", o->tags, "Image name and tag (repeatable), e.g. registry.example.com/team/app:1.0");
  cmd->add_option("-o,--output", o->output,
                  "type=local,dest=DIR | type=oci,dest=DIR | type=oci-archive,dest=FILE.tar (default: type=oci,dest=<project>/.xbuild/oci)");
  cmd->add_flag("--push", o->push, "Push the image to the registry named by -t");
  cmd->add_flag("--keep-going", o->keep_going, "Finish the other platforms when one fails");
  cmd->add_flag("--clean", o->clean, "Remove each platform's build directory first");
  cmd->add_option("--progress", o->progress, "auto|plain|tty|json|quiet")->capture_default_str();
  cmd->add_option("--timeout", o->timeout, "Per-platform build timeout in seconds")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "Print a JSON summary on stdout");
  cmd->callback([o] {
    auto [project, toolchains] = load_project_and_toolchains();
    PlanOptions popts = to_plan_options(o->flags);
    BuildOptions bopts;
    bopts.slots = popts.slots;
    bopts.keep_going = o->keep_going;
    bopts.clean = o->clean;
    bopts.progress = parse_progress(o->progress);
    if (o->json && bopts.progress == Progress::plain) bopts.progress = Progress::quiet;
    if (o->timeout > 0) bopts.timeout = std::chrono::seconds(o->timeout);

    // Parse the output spec before building: bad flags should fail in a second, not after.
    std::string type = "local";
    fs::path dest;
    if (!o->output.empty()) {
      for (const auto& part : split(o->output, ',')) {
        auto eq = part.find('=');
        std::string k = part.substr(0, eq), v = eq == std::string::npos ? "" : part.substr(eq + 1);
        if (k == "type") type = v;
        else if (k == "dest") dest = v;
        else fail(Exit::usage, "--output {}: unknown key '{}'; expected type=...,dest=...", o->output, k);
      }
      if (type != "local") fail(Exit::usage, "--output {}: unknown type '{}'; expected local", o->output, type);
      if (dest.empty()) fail(Exit::usage, "--output {}: missing dest=DIR", o->output);
    }

    auto plans = make_plan(project, toolchains, popts);
    auto started = std::chrono::steady_clock::now();
    auto results = run_builds(project, plans, bopts);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    std::vector<std::string> failures;
    bool only_environment = true;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      if (r.ok || r.cancelled) continue;
      failures.push_back(fmt::format("{}: {}", r.platform.str(), r.error));
      if (plans[i].strategy != Strategy::none) only_environment = false;
    }
    if (failures.empty() && !dest.empty()) export_local(project, results, dest);

    if (o->json) {
      boost::json::array arr;
      for (const auto& r : results) {
        boost::json::object ro{{"platform", r.platform.str()}, {"strategy", std::string(to_string(r.strategy))},
                               {"ok", r.ok}, {"cancelled", r.cancelled}, {"wall_seconds", r.wall_seconds},
                               {"cpu_seconds", r.cpu_seconds}, {"out", r.out.string()}, {"log", r.log.string()}};
        if (!r.error.empty()) ro["error"] = r.error;
        arr.push_back(ro);
      }
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"ok", failures.empty()}, {"wall_seconds", wall}, {"platforms", arr}}));
    } else {
      for (const auto& r : results) {
        if (r.ok) fmt::print(stderr, "xbuild: {} ok ({}, {:.1f}s) -> {}\n", r.platform.str(), to_string(r.strategy), r.wall_seconds,
                             dest.empty() ? r.out.string() : (dest / r.platform.dir_name()).string());
        else if (r.cancelled) fmt::print(stderr, "xbuild: {} {}\n", r.platform.str(), r.error);
      }
    }
    if (!failures.empty()) {
      throw Error(fmt::format("{} of {} platforms failed:\n  {}", failures.size(), results.size(), join(failures, "\n  ")),
                  only_environment ? Exit::environment : Exit::build_failed);
    }
  });
}

}  // namespace xb::cli
