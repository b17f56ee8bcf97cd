// `xbuild bench`: the same project built once per available strategy and platform (native
// where the host matches, cross, emulate fully under qemu, and accelerated emulation: emulate
// with the host's cross compiler), each build clean, one at a time so they do not
// compete for the cores, each with the same job count. Each strategy gets its own state
// root, so the binaries stay side by side and each is checked with the project's test.
// Results: a console table, and on request JSON, Markdown and an SVG chart.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "emulate/bench_report.hpp"
#include "pipeline/test.hpp"
#include "pipeline/build.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

struct BenchCmd {
  std::vector<std::string> platforms;
  ClusterFlags cluster;  ///< for --platform cluster
  std::string strategies = "native,cross,emulate,accelerated";
  std::string json;
  std::string report_dir;
  std::string from_json;
  int timeout = 0;
  std::vector<std::string> build_args;
};

/// Prints the table and ratios, and writes --json and the --report-dir files.
void write_reports(const emulate::BenchReport& report, const std::string& json, const std::string& report_dir) {
  // stdout carries exactly one format: with --json - the human table goes to stderr.
  std::FILE* human = json == "-" ? stderr : stdout;
  fmt::print(human, "{}", emulate::bench_table(report));
  for (const auto& p : report.platforms()) {
    if (auto q = report.ratio(p))
      fmt::print(human, "{}: emulation is {:.1f}x slower than cross-compiling (wall; {:.1f}x in CPU time)\n", p, *q,
                 report.cpu_ratio(p).value_or(0));
    if (auto q = report.vs_cross(p, "accelerated"))
      fmt::print(human, "{}: accelerated emulation is {:.1f}x the cross build (wall; {:.1f}x in CPU time)\n", p, *q,
                 report.vs_cross(p, "accelerated", true).value_or(0));
  }
  std::fflush(stdout);
  if (!json.empty()) {
    if (json == "-") fmt::print("{}", emulate::bench_json(report));
    else write_file_atomic(json, emulate::bench_json(report));
  }
  if (!report_dir.empty()) {
    fs::path dir = report_dir;
    fs::create_directories(dir);
    write_file_atomic(dir / "bench.md", emulate::bench_markdown(report));
    write_file_atomic(dir / "bench.svg", emulate::bench_svg(report));
    write_file_atomic(dir / "bench.json", emulate::bench_json(report));
    fmt::print(stderr, "xbuild bench: wrote {}/bench.md, bench.svg, bench.json\n", dir.string());
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchCmd>();
  auto* cmd = app.add_subcommand("bench", "Time clean builds per strategy (native, cross, emulate, accelerated emulate) and compare them");
  cmd->add_option("--platform,--platforms", o->platforms, "Platforms to bench, e.g. linux/arm64,linux/riscv64, or `cluster` for the Kubernetes cluster's (default: xbuild.toml's)")
      ->check(platform_list_check());
  add_cluster_flags(*cmd, o->cluster);
  cmd->add_option("--strategies", o->strategies, "Strategies to compare, among native,cross,emulate,accelerated (emulate with the host's cross compiler)")->capture_default_str();
  cmd->add_option("--json", o->json, "Write the results as JSON to FILE ('-' = stdout)");
  cmd->add_option("--report-dir", o->report_dir, "Write bench.md, bench.svg and bench.json into DIR");
  cmd->add_option("--timeout", o->timeout, "Per-build timeout in seconds")->check(CLI::PositiveNumber);
  add_build_arg_flag(*cmd, o->build_args);
  cmd->add_option("--from-json", o->from_json, "Build nothing: re-render the reports of an earlier --json FILE");
  cmd->callback([o] {
    if (!o->from_json.empty()) {
      emulate::BenchReport report = emulate::bench_from_json(read_file(o->from_json), o->from_json);
      write_reports(report, o->json, o->report_dir);
      return;
    }
    auto [project, toolchains] = load_project_and_toolchains();
    std::vector<Platform> platforms = platforms_from_flags(o->platforms, o->cluster);
    if (platforms.empty()) platforms = project.platforms;
    if (platforms.empty()) platforms = {host_platform()};
    // Each entry: the strategy, and for emulate whether the host's cross compiler may serve.
    std::vector<std::pair<Strategy, bool>> strategies;
    for (const auto& s : split(o->strategies, ',')) {
      if (s == "accelerated") {
        strategies.emplace_back(Strategy::emulate, true);
        continue;
      }
      std::optional<Strategy> st;
      try {
        st = parse_strategy(s);
      } catch (const Error& e) {
        throw Error(fmt::format("--strategies {}: {}", o->strategies, e.what()), Exit::usage);
      }
      if (!st || (*st != Strategy::native && *st != Strategy::cross && *st != Strategy::emulate))
        fail(Exit::usage, "--strategies {}: expected a list of native, cross, emulate, accelerated", o->strategies);
      strategies.emplace_back(*st, false);
    }

    Platform host = host_platform();
    emulate::BenchReport report;
    report.project = project.name.empty() ? project.dir.filename().string() : project.name;
    report.machine = emulate::machine_description();
    fs::path bench_root = state_dir(project) / "bench";
    bool bad = false;  // a build that ran and failed, or a failed test (skipped strategies are fine)

    for (const Platform& p : platforms) {
      for (auto [s, accelerated] : strategies) {
        if (s == Strategy::native && p != host) continue;
        if (s == Strategy::emulate && p == host) continue;
        emulate::BenchRow row;
        row.platform = p.str();
        row.strategy = accelerated ? "accelerated" : std::string(to_string(s));
        PlanOptions popts;
        // Plain emulate is the rootfs's own compiler under qemu; accelerated, the host's.
        if (s == Strategy::emulate) popts.accelerate = accelerated ? Accelerate::automatic : Accelerate::off;
        popts.platforms = {p};
        popts.forced[p.str()] = s;
        popts.state_root = bench_root / row.strategy;
        popts.slots = 1;
        popts.build_args = parse_build_args(o->build_args);
        popts.no_cache = true;  // bench times cold builds: a warm compiler cache would time the cache, not the strategy
        auto plans = make_plan(project, toolchains, popts);
        PlatformPlan& plan = plans.front();
        report.jobs = std::max(report.jobs, plan.jobs);
        if (plan.strategy == Strategy::none) {
          row.note = plan.problem;
          fmt::print(stderr, "xbuild bench: {} {}: skipped: {}\n", row.platform, row.strategy, row.note);
          report.rows.push_back(row);
          continue;
        }
        fmt::print(stderr, "xbuild bench: building {} with {} (clean, {} jobs)...\n", row.platform, row.strategy, plan.jobs);
        BuildOptions bopts;
        bopts.slots = 1;
        bopts.clean = true;
        if (o->timeout > 0) bopts.timeout = std::chrono::seconds(o->timeout);
        auto test_plans = plans;  // run_builds rewrites the build command; the test runs as planned
        auto results = run_builds(project, plans, bopts, *make_status(globals().verbose ? ProgressView::plain : ProgressView::quiet));
        const PlatformResult& r = results.front();
        row.built = r.ok;
        row.wall_seconds = r.wall_seconds;
        row.cpu_seconds = r.cpu_seconds;
        if (!r.ok) row.note = r.error;
        else if (accelerated && !r.accelerated)
          row.note = "not accelerated: " + (plans.front().not_accelerated.empty() ? std::string("see xbuild plan") : plans.front().not_accelerated);
        bad = bad || !r.ok;
        if (r.ok && !project.test.empty()) {
          TestOptions topts;
          topts.slots = 1;
          auto outcome = run_tests(project, test_plans, topts).front();
          row.test_ok = outcome.ok;
          if (!outcome.ok) row.note = "test: " + outcome.error;
          bad = bad || !outcome.ok;
        }
        fmt::print(stderr, "xbuild bench: {} {}: {}\n", row.platform, row.strategy,
                   row.built ? fmt::format("{:.2f}s wall, {:.2f}s CPU", row.wall_seconds, row.cpu_seconds) : "failed: " + row.note);
        report.rows.push_back(row);
      }
    }

    write_reports(report, o->json, o->report_dir);
    if (bad) throw Error("a benchmarked build or its test failed (see the table)", Exit::build_failed);
  });
}

}  // namespace xb::cli
