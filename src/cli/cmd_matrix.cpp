// `xbuild matrix`: the project's platforms as a CI matrix, so a workflow can fan out one job
// per platform (each runs `xbuild build --platform P`) and fan in with `xbuild merge`. For
// GitHub Actions it is the `strategy.matrix` value; for GitLab (--format gitlab) a whole child
// pipeline, a job per platform and the merge job, for the parent to trigger (docs/ci.md).
//
// Each job plans again on the runner it lands on, so the matrix carries only what does not
// depend on the machine that printed it: the platform, its slug and, with --runner-labels,
// the runner to use (`runs-on`). The plan made here still decides the exit code, as `plan`'s
// does: a platform this machine cannot build (strategy none) is exit 3 with what to install,
// unless a runner label sends its job to another machine.

#include "cli/build_flags.hpp"
#include "cli/cache_transfer.hpp"
#include "cli/commands.hpp"
#include "cli/image_spec.hpp"
#include "oci/export.hpp"
#include "registry/reference.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <map>

namespace xb::cli {

namespace {

struct MatrixOpts {
  PlanFlags flags;
  CacheFlags cache;                        ///< --cache-to / --cache-from, forwarded to each build job
  std::string format = "github";
  std::vector<std::string> runner_labels;
  std::vector<std::string> tags;           ///< gitlab: the merged image's references
  std::string gitlab_image;                ///< gitlab: default image of the child's jobs
  std::vector<std::string> before_script;  ///< gitlab: default before_script of the child's jobs
};

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

/// The whole child pipeline (JSON, which is YAML 1.2 and what GitLab reads): a build job per
/// platform, in the plan's order, pushing <repo>:build-<slug>, and a merge job that needs them
/// all and stitches them, in that order, into every -t (so the index is the single build's).
boost::json::object gitlab_child_pipeline(const MatrixOpts& o, const Project& project, const std::vector<PlatformPlan>& plans,
                                          const std::map<std::string, std::string>& labels) {
  std::vector<std::string> targets = resolve_tags(o.tags, project, Pushing::yes);
  if (targets.empty()) targets = project.image.tags;
  if (targets.empty())
    fail(Exit::usage, "--format gitlab needs the merged image's name: -t REGISTRY/REPOSITORY:TAG (or [image] tags in {}, "
                      "or XBUILD_REPO set)", project.file.string());
  std::vector<registry::Reference> refs;
  for (const auto& t : targets) refs.push_back(registry::Reference::parse(t));
  const std::string repo = refs.front().name();

  boost::json::object pipeline;
  pipeline["stages"] = boost::json::array{"build", "merge"};
  // The same timestamp in every job, as the single build would use: pinned when the
  // pipeline is generated, so each job's image carries the same created date.
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch && *epoch)
    pipeline["variables"] = boost::json::object{{"SOURCE_DATE_EPOCH", std::to_string(oci::source_date_epoch(std::nullopt))}};
  boost::json::object defaults;
  if (!o.gitlab_image.empty()) defaults["image"] = o.gitlab_image;
  if (!o.before_script.empty()) {
    boost::json::array lines;
    for (const auto& line : o.before_script) lines.push_back(boost::json::value(line));
    defaults["before_script"] = lines;
  }
  if (!defaults.empty()) pipeline["default"] = defaults;

  // Each job builds as `matrix` was asked to plan: the same project, file, strategies,
  // acceleration and build args (a --build-arg left out would build another image); -j is the runner's own.
  std::vector<std::string> xbuild{"xbuild"};
  if (globals().dir != ".") xbuild.insert(xbuild.end(), {"-C", globals().dir.string()});
  if (!globals().file.empty()) xbuild.insert(xbuild.end(), {"-f", globals().file.string()});
  std::vector<std::string> build_flags;
  for (const auto& s : o.flags.strategies) build_flags.insert(build_flags.end(), {"--strategy", s});
  for (const auto& a : o.flags.build_args) build_flags.insert(build_flags.end(), {"--build-arg", a});
  if (o.flags.no_cache) build_flags.push_back("--no-cache");
  for (const auto& t : o.cache.to) build_flags.insert(build_flags.end(), {"--cache-to", t});
  for (const auto& t : o.cache.from) build_flags.insert(build_flags.end(), {"--cache-from", t});
  if (o.flags.accelerate) build_flags.push_back(*o.flags.accelerate ? "--accelerate" : "--no-accelerate");

  boost::json::array needs;
  std::vector<std::string> merge_argv{"xbuild", "merge"};  // registry references only: no project
  for (const auto& r : refs) merge_argv.insert(merge_argv.end(), {"-t", r.str()});
  for (const auto& p : plans) {
    const std::string slug = p.platform.dir_name(), job = "build-" + slug, ref = repo + ":build-" + slug;
    boost::json::object j;
    j["stage"] = "build";
    j["variables"] = boost::json::object{{"PLATFORM", p.platform.str()}, {"SLUG", slug}};
    if (auto it = labels.find(p.platform.str()); it != labels.end()) j["tags"] = boost::json::array{boost::json::value(it->second)};
    std::vector<std::string> rest{"--push", "-t", ref};
    rest.insert(rest.end(), build_flags.begin(), build_flags.end());
    j["script"] = boost::json::array{
        boost::json::value(shell_display(xbuild) + " build --platform \"$PLATFORM\" " + shell_display(rest))};
    pipeline[job] = j;
    needs.push_back(boost::json::value(job));
    merge_argv.push_back(ref);
  }
  pipeline["merge"] = boost::json::object{{"stage", "merge"}, {"needs", needs},
                                          {"script", boost::json::array{boost::json::value(shell_display(merge_argv))}}};
  return pipeline;
}

}  // namespace

void register_matrix(CLI::App& app) {
  auto o = std::make_shared<MatrixOpts>();
  auto* cmd = app.add_subcommand("matrix", "Print the platforms as a CI matrix (GitHub Actions) or a whole GitLab child pipeline");
  add_plan_flags(*cmd, o->flags);
  add_cache_flags(*cmd, o->cache);
  cmd->add_option("--format", o->format, "github | gitlab")->capture_default_str()->check(CLI::IsMember({"github", "gitlab"}));
  cmd->add_option("--runner-labels", o->runner_labels,
                  "PLATFORM=LABEL,... : the runner each platform's job runs on (runs-on; GitLab: the job's tags)");
  cmd->add_option("-t,--tag", o->tags, "gitlab: REGISTRY/REPO:TAG the merge job pushes to (repeatable; -t :TAG with XBUILD_REPO)");
  cmd->add_option("--gitlab-image", o->gitlab_image, "gitlab: the image the child pipeline's jobs run in (default:image)");
  cmd->add_option("--gitlab-before-script", o->before_script,
                  "gitlab: a command each job runs first, e.g. installing xbuild or logging in (repeatable; default:before_script)");
  cmd->callback([o] {
    for (const auto& t : o->cache.to) parse_cache_target(t, "--cache-to");  // bad forms fail here, not in each CI job
    for (const auto& t : o->cache.from) parse_cache_target(t, "--cache-from");
    auto [project, toolchains] = load_project_and_toolchains();
    auto plans = make_plan(project, toolchains, to_plan_options(o->flags));
    auto labels = parse_runner_labels(o->runner_labels, plans);

    std::vector<std::string> problems;
    for (const auto& p : plans)
      if (p.strategy == Strategy::none && labels.count(p.platform.str()) == 0) problems.push_back(p.problem);
    if (!problems.empty())
      throw Error(fmt::format("{}\n  (a platform built elsewhere needs --runner-labels PLATFORM=LABEL)", join(problems, "\n  ")),
                  Exit::environment);

    if (o->format == "github") {
      if (!o->tags.empty() || !o->gitlab_image.empty() || !o->before_script.empty())
        fail(Exit::usage, "-t, --gitlab-image and --gitlab-before-script are for --format gitlab; a GitHub workflow's "
                          "merge job names its own tags (see docs/ci.md)");
      boost::json::array include;
      for (const auto& p : plans) {
        boost::json::object e{{"platform", p.platform.str()}, {"slug", p.platform.dir_name()}};
        if (auto it = labels.find(p.platform.str()); it != labels.end()) e["runs-on"] = it->second;
        include.push_back(e);
      }
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"include", include}}));
      return;
    }
    fmt::print("{}\n", boost::json::serialize(gitlab_child_pipeline(*o, project, plans, labels)));
  });
}

}  // namespace xb::cli
