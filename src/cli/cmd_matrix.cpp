// `xbuild matrix`: the project's platforms as a CI matrix, so a workflow can fan out one job
// per platform (each runs `xbuild build --platform P`) and fan in with `xbuild merge`.
//
// Each job plans again on the runner it lands on, so the matrix carries only what does not
// depend on the machine that printed it: the platform, its slug and, with --runner-labels,
// the runner to use (`runs-on`). The plan made here still decides the exit code, as `plan`'s
// does: a platform this machine cannot build (strategy none) is exit 3 with what to install,
// unless a runner label sends its job to another machine.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <map>

namespace xb::cli {

namespace {

/// --runner-labels linux/arm64=ubuntu-24.04-arm,...: the runner label per platform.
std::map<std::string, std::string> parse_runner_labels(const std::vector<std::string>& items, const std::vector<PlatformPlan>& plans) {
  std::map<std::string, std::string> labels;
  for (const auto& item : items) {
    for (const auto& pair : split(item, ',')) {
      auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0 || trim(std::string_view(pair).substr(eq + 1)).empty())
        fail(Exit::usage, "--runner-labels {}: expected PLATFORM=LABEL, e.g. linux/arm64=ubuntu-24.04-arm", pair);
      std::string platform;
      try {
        platform = Platform::parse(trim(std::string_view(pair).substr(0, eq))).str();
      } catch (const Error& e) {
        fail(Exit::usage, "--runner-labels {}: {}", pair, e.what());
      }
      if (std::none_of(plans.begin(), plans.end(), [&](const PlatformPlan& p) { return p.platform.str() == platform; }))
        fail(Exit::usage, "--runner-labels {}: {} is not one of the matrix's platforms", pair, platform);
      labels[platform] = std::string(trim(std::string_view(pair).substr(eq + 1)));
    }
  }
  return labels;
}

}  // namespace

void register_matrix(CLI::App& app) {
  struct Opts {
    PlanFlags flags;
    std::string format = "github";
    std::vector<std::string> runner_labels;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("matrix", "Print the platforms as a CI matrix (GitHub Actions or GitLab parallel:matrix)");
  add_plan_flags(*cmd, o->flags);
  cmd->add_option("--format", o->format, "github | gitlab")->capture_default_str()->check(CLI::IsMember({"github", "gitlab"}));
  cmd->add_option("--runner-labels", o->runner_labels,
                  "PLATFORM=LABEL,... : the runner each platform's job runs on (runs-on; RUNS_ON for GitLab tags)");
  cmd->callback([o] {
    auto [project, toolchains] = load_project_and_toolchains();
    auto plans = make_plan(project, toolchains, to_plan_options(o->flags));
    auto labels = parse_runner_labels(o->runner_labels, plans);

    std::vector<std::string> problems;
    for (const auto& p : plans)
      if (p.strategy == Strategy::none && labels.count(p.platform.str()) == 0) problems.push_back(p.problem);
    if (!problems.empty())
      throw Error(fmt::format("{}\n  (a platform built elsewhere needs --runner-labels PLATFORM=LABEL)", join(problems, "\n  ")),
                  Exit::environment);

    boost::json::array include;
    for (const auto& p : plans) {
      boost::json::object e{{"platform", p.platform.str()}, {"slug", p.platform.dir_name()}};
      if (auto it = labels.find(p.platform.str()); it != labels.end()) e["runs-on"] = it->second;
      include.push_back(e);
    }
    if (o->format == "github") {
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"include", include}}));
    } else if (labels.empty()) {
      boost::json::array platforms;
      for (const auto& p : plans) platforms.push_back(boost::json::value(p.platform.str()));
      fmt::print("{}\n", boost::json::serialize(boost::json::object{
                             {"parallel", boost::json::object{{"matrix", boost::json::array{boost::json::object{{"PLATFORM", platforms}}}}}}}));
    } else {
      // One entry per platform, so each can carry its runner (a job uses `tags: [$RUNS_ON]`).
      boost::json::array entries;
      for (const auto& p : plans) {
        boost::json::object e{{"PLATFORM", boost::json::array{boost::json::value(p.platform.str())}}};
        if (auto it = labels.find(p.platform.str()); it != labels.end()) e["RUNS_ON"] = it->second;
        entries.push_back(e);
      }
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"parallel", boost::json::object{{"matrix", entries}}}}));
    }
  });
}

}  // namespace xb::cli
