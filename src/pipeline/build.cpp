// Runs the per-platform builds through the scheduler and checks what they produced. The
// output check is the point of the whole tool: a binary for the wrong machine is caught here,
// with its name and both identities, instead of as "exec format error" on a node. Nothing
// here writes to the terminal: every event goes to the caller's Status (cli/ draws it).

#include "pipeline/build.hpp"

#include "emulate/emulate.hpp"
#include "emulate/tool_packages.hpp"
#include "exec/scheduler.hpp"
#include "exec/subprocess.hpp"
#include "pipeline/source.hpp"
#include "pipeline/verify.hpp"
#include "runner/runner.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>

namespace xb {

namespace fs = std::filesystem;

namespace {

/// The program a shell or xbuild's exec reported as not found in `log` ("sh: 1: X: not found",
/// "X: command not found", "xbuild: cannot run X: not found"), or "" (issue 15: exit 127 is 3).
std::string missing_program_in(const fs::path& log) {
  std::ifstream in(log);
  std::string line, found;
  while (std::getline(in, line)) {
    auto at = line.rfind(": not found");
    if (at == std::string::npos) at = line.rfind(": command not found");
    if (at == std::string::npos) continue;
    auto start = line.rfind(' ', at);
    found = line.substr(start == std::string::npos ? 0 : start + 1, at - (start == std::string::npos ? 0 : start + 1));
  }
  return found;
}

/// Wraps the real (or a fake) runner: tells the Status when a platform's build starts, and
/// verifies a finished build's outputs before run_jobs sees the result, so a missing output
/// or a wrong-arch binary is a failed build that stops the others unless keep-going.
class ReportingRunner : public CommandRunner {
public:
  using Started = std::function<void(std::size_t job)>;
  using Finished = std::function<void(std::size_t job, JobResult& result)>;
  ReportingRunner(CommandRunner& inner, Started started, Finished finished)
      : m_inner(inner), m_started(std::move(started)), m_finished(std::move(finished)) {}
  bool can_run_more() const override { return m_inner.can_run_more(); }
  void start(std::size_t id, const Job& job) override {
    m_started(id);  // first, so the Status hears of the start before any of its output
    m_inner.start(id, job);
  }
  std::pair<std::size_t, JobResult> wait_for_one() override {
    auto done = m_inner.wait_for_one();
    m_finished(done.first, done.second);
    return done;
  }
  void abort_all() override { m_inner.abort_all(); }
  std::size_t running() const override { return m_inner.running(); }

private:
  CommandRunner& m_inner;
  Started m_started;
  Finished m_finished;
};

}  // namespace

RunnerFactory subprocess_runner_factory() {
  return [](int slots, LineSink sink) { return std::make_unique<SubprocessRunner>(slots, std::move(sink)); };
}

std::vector<PlatformResult> run_builds(const Project& project, std::vector<PlatformPlan>& plans, const BuildOptions& options,
                                       Status& status, const RunnerFactory& make_runner) {
  std::vector<PlatformResult> results(plans.size());
  std::vector<bool> reported(plans.size(), false);
  auto finish = [&](std::size_t i) {
    reported[i] = true;
    status.platform_finished(i, results[i]);
  };
  std::vector<Platform> platforms;
  for (const auto& plan : plans) platforms.push_back(plan.platform);
  status.build_started(platforms);

  std::vector<Job> jobs;
  std::vector<std::size_t> plan_of_job;
  std::map<std::string, std::size_t> plan_of_name;  // a job's name is its platform, unique per build
  std::vector<CacheBaseline> cache_baselines(plans.size());
  for (std::size_t i = 0; i < plans.size(); ++i) {
    PlatformPlan& plan = plans[i];
    PlatformResult& r = results[i];
    r.platform = plan.platform;
    r.strategy = plan.strategy;
    r.out = plan.paths.out;
    r.log = plan.paths.log;
    if (plan.strategy == Strategy::none) {
      r.error = plan.problem;
      r.exit = Exit::environment;
      finish(i);
      continue;
    }
    if (options.clean) fs::remove_all(plan.paths.build);
    fs::create_directories(plan.paths.build);
    write_toolchain_files(plan);
    try {
      if (project.source == SourceMode::copy && plan.strategy != Strategy::runner)
        refresh_snapshot(project.dir, plan.paths.src, state_dir(project));
      const bool unsealed = plan.cache.unsealed();
      if (plan.strategy == Strategy::emulate) {
        emulate::prepare_build(project, plan);  // seals the cache with the rootfs's identity
        r.accelerated = !plan.accelerated.empty();
        if (!plan.not_accelerated.empty()) status.warning(fmt::format("{}: {}", plan.platform.str(), plan.not_accelerated));
      }
      if (unsealed && !plan.cache.unsealed() && !plan.cache.kinds.empty() && options.cache_sealed) options.cache_sealed(i, plan);
      cache_baselines[i] = prepare_cache(project, plan);
      for (const auto& w : cache_baselines[i].warnings) status.warning(w);
      if (plan.strategy == Strategy::runner)
        runner::prepare_build(project, plan, options.clean ? runner::CleanBuild::yes : runner::CleanBuild::no);
    } catch (const Error& e) {
      r.error = e.what();
      r.exit = e.code();
      finish(i);
      continue;
    }
    Job job;
    job.name = plan.platform.str();
    job.command = plan.command;
    job.log = plan.paths.log;
    job.timeout = options.timeout;
    if (!job.timeout && plan.strategy == Strategy::emulate) job.timeout = project.emulate.timeout;
    plan_of_job.push_back(i);
    plan_of_name[job.name] = i;
    jobs.push_back(std::move(job));
  }

  bool keep_going = options.keep_going;
  if (std::any_of(results.begin(), results.end(), [](const PlatformResult& r) { return !r.error.empty(); }) && !keep_going) {
    // A platform that cannot even start fails the build: run nothing.
    jobs.clear();
    plan_of_job.clear();
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (reported[i]) continue;
      results[i].cancelled = true;
      results[i].error = "not run: another platform cannot be built (use --keep-going to build the others)";
      finish(i);
    }
  }
  // Only now, once every pre-flight check passed, do the old outputs go: a platform that
  // cannot start (binfmt missing, no rootfs) keeps the last good .xbuild/out/<platform>.
  for (std::size_t i : plan_of_job) {
    fs::remove_all(plans[i].paths.out);  // stale outputs must never pass for new ones
    fs::create_directories(plans[i].paths.out);
  }

  // Fills a platform's result from its job's; a build that exited 0 is verified here, and a
  // verification failure turns the job into a failed one for the scheduler.
  auto settle = [&](std::size_t i, JobResult& jr) {
    PlatformResult& r = results[i];
    r.wall_seconds = jr.wall_seconds;
    r.cpu_seconds = jr.exit.cpu_seconds;
    if (jr.status == JobStatus::ok || jr.status == JobStatus::failed) {
      r.exit_status = jr.exit.status();
      r.cache = read_cache_stats(plans[i], cache_baselines[i]);
    }
    switch (jr.status) {
      case JobStatus::ok: {
        auto problems = verify_outputs(project, plans[i].platform, plans[i].paths.out);
        if (problems.empty()) {
          r.ok = true;
        } else {
          r.error = join(problems, "\n  ");
          jr.status = JobStatus::failed;
          jr.message = r.error;
        }
        break;
      }
      case JobStatus::cancelled:
        r.cancelled = true;
        r.error = jr.message;
        break;
      default:
        r.error = fmt::format("{} (full log: {})", jr.message, plans[i].paths.log.string());
        if (jr.status == JobStatus::failed && jr.exit.exit_code == 127) {  // not found: the environment lacks a program
          r.exit = Exit::environment;
          std::string prog = missing_program_in(plans[i].paths.log);
          if (!prog.empty()) r.error = fmt::format("'{}' is not installed (the build exited 127: {})", prog, r.error);
        }
        if (plans[i].strategy == Strategy::emulate) r.error += emulate::failed_build_hint(project, jr.exit.exit_code);
        break;
    }
    finish(i);
  };

  int slots = options.slots > 0 ? options.slots : cpu_count();
  auto sink = [&](const Job& job, std::string_view line) {
    if (auto it = plan_of_name.find(job.name); it != plan_of_name.end()) status.output_line(it->second, line);
  };
  std::unique_ptr<CommandRunner> inner = make_runner(slots, sink);
  ReportingRunner runner(
      *inner, [&](std::size_t j) { status.platform_started(plan_of_job[j]); },
      [&](std::size_t j, JobResult& jr) { settle(plan_of_job[j], jr); });
  bool watch_source = project.source == SourceMode::shared && !jobs.empty();
  TreeState before = watch_source ? scan_tree(project.dir, state_dir(project)) : TreeState{};
  std::vector<JobResult> job_results = run_jobs(jobs, runner, keep_going);
  inner.reset();  // restores the signal handlers before anything else is printed

  bool interrupted = false;
  for (std::size_t j = 0; j < job_results.size(); ++j) {
    interrupted = interrupted || job_results[j].status == JobStatus::interrupted;
    if (!reported[plan_of_job[j]]) settle(plan_of_job[j], job_results[j]);  // never started
  }
  if (watch_source && !interrupted) {
    auto changed = changed_files(before, scan_tree(project.dir, state_dir(project)));
    if (!changed.empty()) status.warning(shared_source_warning(project, changed));
  }
  status.build_finished(results);
  if (interrupted) throw Error("interrupted: every build was stopped and its processes killed", Exit::interrupted);
  return results;
}

}  // namespace xb
