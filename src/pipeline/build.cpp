// Runs the per-platform builds through the scheduler and checks what they produced. The
// output check is the point of the whole tool: a binary for the wrong machine is caught here,
// with its name and both identities, instead of as "exec format error" on a node.

#include "pipeline/build.hpp"

#include "emulate/emulate.hpp"
#include "emulate/tool_packages.hpp"
#include "exec/scheduler.hpp"
#include "exec/subprocess.hpp"
#include "pipeline/source.hpp"
#include "platform/elf.hpp"
#include "runner/runner.hpp"
#include "util/strings.hpp"

#include <fmt/color.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cstdio>

namespace xb {

namespace fs = std::filesystem;

namespace {

void check_file(const fs::path& file, const fs::path& out, const Platform& platform, std::vector<std::string>& problems) {
  auto info = read_elf(file);
  if (!info || elf_matches(*info, platform)) return;
  problems.push_back(fmt::format("{} is {}, but {} needs {}: the build used the wrong compiler (check CC/GOARCH/--target in `xbuild plan`)",
                                 fs::relative(file, out).string(), describe(*info), platform.str(),
                                 describe(expected_elf(platform))));
}

}  // namespace

std::vector<std::string> verify_outputs(const Project& project, const Platform& platform, const fs::path& out) {
  std::vector<std::string> problems;
  for (const auto& o : project.outputs) {
    fs::path path = out / o;
    std::error_code ec;
    auto st = fs::symlink_status(path, ec);
    if (ec || !fs::exists(st)) {
      problems.push_back(fmt::format("output '{}' was not produced: the build must write it to {} (outputs in {})",
                                     o, path.string(), project.file.string()));
      continue;
    }
    if (fs::is_directory(st)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::recursive_directory_iterator(path)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) check_file(f, out, platform, problems);
    } else if (fs::is_regular_file(st)) {
      check_file(path, out, platform, problems);
    }
  }
  return problems;
}

std::vector<PlatformResult> run_builds(const Project& project, std::vector<PlatformPlan>& plans, const BuildOptions& options) {
  std::vector<PlatformResult> results(plans.size());
  std::vector<Job> jobs;
  std::vector<std::size_t> job_of_plan(plans.size(), SIZE_MAX);

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
      continue;
    }
    if (options.clean) fs::remove_all(plan.paths.build);
    fs::remove_all(plan.paths.out);  // stale outputs must never pass for new ones
    fs::create_directories(plan.paths.build);
    fs::create_directories(plan.paths.out);
    write_toolchain_files(plan);
    try {
      if (project.source == SourceMode::copy && plan.strategy != Strategy::runner)
        refresh_snapshot(project.dir, plan.paths.src, state_dir(project));
      if (plan.strategy == Strategy::emulate) emulate::prepare_build(project, plan);
      if (plan.strategy == Strategy::runner)
        runner::prepare_build(project, plan, options.clean ? runner::CleanBuild::yes : runner::CleanBuild::no);
    } catch (const Error& e) {
      r.error = e.what();
      r.exit = e.code();
      continue;
    }
    Job job;
    job.name = plan.platform.str();
    job.command = plan.command;
    job.log = plan.paths.log;
    job.timeout = options.timeout;
    if (!job.timeout && plan.strategy == Strategy::emulate) job.timeout = project.emulate.timeout;
    job_of_plan[i] = jobs.size();
    jobs.push_back(std::move(job));
  }

  bool color = options.progress != Progress::json && ::isatty(1) && std::getenv("NO_COLOR") == nullptr;
  static const fmt::terminal_color k_colors[] = {fmt::terminal_color::cyan, fmt::terminal_color::magenta,
                                                 fmt::terminal_color::yellow, fmt::terminal_color::blue,
                                                 fmt::terminal_color::green, fmt::terminal_color::bright_cyan};
  // The TTY view: one status line per platform, redrawn in place; the full output is in the logs.
  std::vector<std::string> status(jobs.size(), "waiting");
  bool drawn = false;
  auto redraw = [&] {
    if (drawn) fmt::print("\x1b[{}A", jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      std::string line = status[i].substr(0, 100);
      fmt::print("\x1b[2K{} {}\n", color ? fmt::format(fmt::fg(k_colors[i % std::size(k_colors)]), "[{}]", jobs[i].name)
                                            : fmt::format("[{}]", jobs[i].name), line);
    }
    drawn = true;
    std::fflush(stdout);
  };
  auto sink = [&](const Job& job, std::string_view line) {
    if (options.progress == Progress::quiet) return;
    if (options.progress == Progress::tty) {
      status[static_cast<std::size_t>(&job - jobs.data())] = std::string(line);
      redraw();
      return;
    }
    if (options.progress == Progress::json) {
      boost::json::object o{{"platform", job.name}, {"line", line}};
      fmt::print("{}\n", boost::json::serialize(o));
    } else if (color) {
      std::size_t idx = static_cast<std::size_t>(&job - jobs.data()) % std::size(k_colors);
      fmt::print("{} {}\n", fmt::format(fmt::fg(k_colors[idx]), "[{}]", job.name), line);
    } else {
      fmt::print("[{}] {}\n", job.name, line);
    }
    std::fflush(stdout);
  };

  int slots = options.slots > 0 ? options.slots : cpu_count();
  SubprocessRunner runner(slots, sink);
  bool keep_going = options.keep_going;
  if (std::any_of(results.begin(), results.end(), [](const PlatformResult& r) { return !r.error.empty(); }) && !keep_going) {
    // A platform that cannot even start fails the build: run nothing.
    jobs.clear();
    std::fill(job_of_plan.begin(), job_of_plan.end(), SIZE_MAX);
    for (auto& r : results) {
      if (r.error.empty()) {
        r.cancelled = true;
        r.error = "not run: another platform cannot be built (use --keep-going to build the others)";
      }
    }
  }
  bool watch_source = project.source == SourceMode::shared && !jobs.empty();
  TreeState before = watch_source ? scan_tree(project.dir, state_dir(project)) : TreeState{};
  std::vector<JobResult> job_results = run_jobs(jobs, runner, keep_going);
  if (watch_source && !runner.interrupted()) {
    auto changed = changed_files(before, scan_tree(project.dir, state_dir(project)));
    if (!changed.empty() && options.warn) options.warn(shared_source_warning(project, changed));
  }

  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (job_of_plan[i] == SIZE_MAX) continue;
    const JobResult& jr = job_results[job_of_plan[i]];
    PlatformResult& r = results[i];
    r.wall_seconds = jr.wall_seconds;
    r.cpu_seconds = jr.exit.cpu_seconds;
    switch (jr.status) {
      case JobStatus::ok: {
        auto problems = verify_outputs(project, plans[i].platform, plans[i].paths.out);
        if (problems.empty()) r.ok = true;
        else r.error = join(problems, "\n  ");
        break;
      }
      case JobStatus::cancelled:
        r.cancelled = true;
        r.error = jr.message;
        break;
      default:
        r.error = fmt::format("{} (full log: {})", jr.message, plans[i].paths.log.string());
        if (plans[i].strategy == Strategy::emulate) r.error += emulate::failed_build_hint(project, jr.exit.exit_code);
        break;
    }
  }
  if (runner.interrupted()) throw Error("interrupted: every build was stopped and its processes killed", Exit::interrupted);
  return results;
}

}  // namespace xb
