// `xbuild matrix`: the project's platforms as a CI matrix, so a workflow can fan out one job
// per platform (each runs `xbuild build --platform P`) and fan in with `xbuild merge`.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::cli {

void register_matrix(CLI::App& app) {
  struct Opts {
    PlanFlags flags;
    std::string format = "github";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("matrix", "Print the platforms as a CI matrix (GitHub Actions or GitLab parallel:matrix)");
  add_plan_flags(*cmd, o->flags);
  cmd->add_option("--format", o->format, "github | gitlab")->capture_default_str()->check(CLI::IsMember({"github", "gitlab"}));
  cmd->callback([o] {
    auto [project, toolchains] = load_project_and_toolchains();
    auto plans = make_plan(project, toolchains, to_plan_options(o->flags));
    boost::json::array include;
    for (const auto& p : plans) {
      boost::json::object e{{"platform", p.platform.str()}, {"slug", p.platform.dir_name()},
                            {"strategy", std::string(to_string(p.strategy))}};
      if (p.toolchain) e["toolchain"] = p.toolchain->name;
      include.push_back(e);
    }
    if (o->format == "github") {
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"include", include}}));
    } else {
      boost::json::array platforms;
      for (const auto& p : plans) platforms.push_back(boost::json::value(p.platform.str()));
      fmt::print("{}\n", boost::json::serialize(boost::json::object{
                             {"parallel", boost::json::object{{"matrix", boost::json::array{boost::json::object{{"PLATFORM", platforms}}}}}}}));
    }
  });
}

}  // namespace xb::cli
