// `xbuild test`: the project's test command for every platform in parallel, as scheduler jobs
// (pipeline/test), on the outputs of the last build (or of a fresh one with --build). Output
// lines stream with their platform prefix; then PASS/FAIL per platform, saying how it ran and
// what proves it ran the target. Exit 1 when any failed. This is the CI "test on every
// architecture" step.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "pipeline/build.hpp"
#include "pipeline/test.hpp"
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
    if (project.test.empty())
      fail(Exit::usage, "{} has no test command: add e.g. test = [\"{{out}}/{}\"]", project.file.string(),
           project.outputs.empty() ? "prog" : project.outputs.front());
    PlanOptions popts = to_plan_options(o->flags);
    auto plans = make_plan(project, toolchains, popts);

    std::vector<std::string> build_errors(plans.size());
    if (o->build) {
      BuildOptions bopts;
      bopts.slots = popts.slots;
      bopts.keep_going = true;
      auto build_plans = plans;  // run_builds rewrites commands (emulate, runner); the test plans stay as planned
      auto results = run_builds(project, build_plans, bopts, *make_status(o->json ? ProgressView::quiet : ProgressView::plain));
      for (std::size_t i = 0; i < results.size(); ++i)
        if (!results[i].ok) build_errors[i] = "build failed: " + results[i].error;
    }

    // Platforms whose build failed are not tested again: they fail with that reason.
    std::vector<PlatformPlan> todo;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < plans.size(); ++i) {
      if (!build_errors[i].empty()) continue;
      todo.push_back(plans[i]);
      index.push_back(i);
    }
    TestOptions topts;
    topts.slots = popts.slots > 0 ? popts.slots : std::max<int>(2, static_cast<int>(plans.size()));
    if (o->timeout > 0) topts.timeout = std::chrono::seconds(o->timeout);
    if (!o->json) topts.on_line = [](const Platform& p, std::string_view line) {
      fmt::print("[{}] {}\n", p.str(), line);
      std::fflush(stdout);
    };
    auto done = run_tests(project, todo, topts);
    std::vector<TestOutcome> outcomes(plans.size());
    for (std::size_t i = 0; i < plans.size(); ++i) {
      outcomes[i].platform = plans[i].platform;
      outcomes[i].error = build_errors[i];
    }
    for (std::size_t k = 0; k < done.size(); ++k) outcomes[index[k]] = std::move(done[k]);

    bool all_ok = true;
    boost::json::array arr;
    for (const auto& r : outcomes) {
      all_ok = all_ok && r.ok;
      arr.push_back(boost::json::object{{"platform", r.platform.str()}, {"ok", r.ok}, {"how", r.how},
                                        {"seconds", r.wall_seconds}, {"error", r.error}, {"output", r.output}});
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

void register_test_exec(CLI::App& app) {
  auto* cmd = app.add_subcommand("__test-exec", "");
  cmd->group("");  // hidden: go test -exec and the Cargo runner of `xbuild test` call it
  cmd->prefix_command();
  cmd->fallthrough(false);  // everything after it is the test binary's own argv
  cmd->allow_extras();
  cmd->callback([cmd] {
    auto args = cmd->remaining();
    if (args.size() < 3) fail(Exit::usage, "usage: xbuild __test-exec PLATFORM RECORD_DIR PROGRAM [ARGS...]");
    test_exec(args[0], args[1], std::vector<std::string>(args.begin() + 2, args.end()));
  });
}

}  // namespace xb::cli
