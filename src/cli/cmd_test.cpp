// `xbuild test`: the project's test command for every platform in parallel, foreign ones
// under qemu-user, on the outputs of the last build (or of a fresh one with --build).
// Prints each platform's output with its prefix, then PASS/FAIL per platform; exit 1 when
// any failed. This is the "run the tests on both architectures in CI" step.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "emulate/project_test.hpp"
#include "pipeline/build.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

struct TestCmd {
  PlanFlags flags;
  bool build = false;
  bool json = false;
  int timeout = 0;
};

}  // namespace

void register_test(CLI::App& app) {
  auto o = std::make_shared<TestCmd>();
  auto* cmd = app.add_subcommand("test", "Run the project's test command for each platform (foreign ones under QEMU)");
  add_plan_flags(*cmd, o->flags);
  cmd->add_flag("--build", o->build, "Build the platforms first");
  cmd->add_option("--timeout", o->timeout, "Per-platform test timeout in seconds")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "Print a JSON summary on stdout");
  cmd->callback([o] {
    auto [project, toolchains] = load_project_and_toolchains();
    PlanOptions popts = to_plan_options(o->flags);
    std::vector<Platform> platforms = popts.platforms;
    if (platforms.empty()) platforms = project.platforms;
    if (platforms.empty()) platforms = {host_platform()};
    if (project.test.empty())
      fail(Exit::usage, "{} has no test command: add e.g. test = [\"{{out}}/{}\"]", project.file.string(),
           project.outputs.empty() ? "prog" : project.outputs.front());

    std::vector<std::string> build_errors(platforms.size());
    if (o->build) {
      popts.platforms = platforms;
      auto plans = make_plan(project, toolchains, popts);
      BuildOptions bopts;
      bopts.slots = popts.slots;
      bopts.keep_going = true;
      auto results = run_builds(project, plans, bopts, *make_status(o->json ? ProgressView::quiet : ProgressView::plain));
      for (std::size_t i = 0; i < results.size(); ++i)
        if (!results[i].ok) build_errors[i] = "build failed: " + results[i].error;
    }

    std::vector<emulate::TestRun> runs;
    fs::path root = state_dir(project);
    for (const auto& p : platforms) runs.push_back({p, platform_paths(root, p), {}});
    std::optional<std::chrono::seconds> timeout;
    if (o->timeout > 0) timeout = std::chrono::seconds(o->timeout);
    int slots = popts.slots > 0 ? popts.slots : std::max<int>(2, static_cast<int>(platforms.size()));

    // Platforms that were never built fail with that reason instead of a confusing exec error.
    std::vector<emulate::TestOutcome> outcomes(runs.size());
    std::vector<emulate::TestRun> todo;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      std::error_code ec;
      if (!build_errors[i].empty()) {
        outcomes[i] = {runs[i].platform, false, "", "", build_errors[i], 0};
      } else if (!fs::is_directory(runs[i].paths.out, ec) || fs::is_empty(runs[i].paths.out, ec)) {
        outcomes[i] = {runs[i].platform, false, "", "",
                       fmt::format("not built ({} is empty): run `xbuild build --platform {}` or pass --build",
                                   runs[i].paths.out.string(), runs[i].platform.str()),
                       0};
      } else {
        todo.push_back(runs[i]);
        index.push_back(i);
      }
    }
    auto done = emulate::run_tests(project, todo, slots, timeout);
    for (std::size_t k = 0; k < done.size(); ++k) outcomes[index[k]] = std::move(done[k]);

    bool all_ok = true;
    boost::json::array arr;
    for (const auto& r : outcomes) {
      all_ok = all_ok && r.ok;
      if (o->json) {
        arr.push_back(boost::json::object{{"platform", r.platform.str()}, {"ok", r.ok}, {"how", r.how},
                                          {"seconds", r.wall_seconds}, {"error", r.error}, {"output", r.output}});
        continue;
      }
      for (const auto& line : split(r.output, '\n')) fmt::print("[{}] {}\n", r.platform.str(), line);
    }
    if (o->json) {
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"ok", all_ok}, {"platforms", std::move(arr)}}));
    } else {
      for (const auto& r : outcomes) {
        if (r.ok) fmt::print("PASS  {:<16} {:6.2f}s  ({})\n", r.platform.str(), r.wall_seconds, r.how);
        else fmt::print("FAIL  {:<16} {}\n", r.platform.str(), r.error);
      }
    }
    std::fflush(stdout);
    if (!all_ok) throw Error("tests failed on some platforms (see above)", Exit::build_failed);
  });
}

}  // namespace xb::cli
