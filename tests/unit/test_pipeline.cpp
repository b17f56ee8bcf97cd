// The pipeline (run_builds) with a fake runner and a temp tree, as ninja's BuildTest runs its
// Builder against a FakeCommandRunner: no processes, but the real out directories, the real
// verify_outputs and the real scheduler, and a Status that records every event it is told.

#include "pipeline/build.hpp"

#include "platform/elf.hpp"
#include "plan/plan.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <fstream>
#include <map>

using namespace xb;
namespace fs = std::filesystem;

namespace {

/// Writes a minimal ELF header with `info`'s identity (all that verify_outputs reads).
void write_elf(const fs::path& path, const ElfInfo& info) {
  fs::create_directories(path.parent_path());
  unsigned char h[64] = {0x7f, 'E', 'L', 'F'};
  h[4] = info.elf_class == 64 ? 2 : 1;
  h[5] = info.little_endian ? 1 : 2;
  h[6] = 1;
  h[18] = static_cast<unsigned char>(info.little_endian ? info.machine & 0xff : info.machine >> 8);
  h[19] = static_cast<unsigned char>(info.little_endian ? info.machine >> 8 : info.machine & 0xff);
  if (info.arm_float_abi == 2) h[37] = 0x04;  // EF_ARM_ABI_FLOAT_HARD (0x400), little-endian
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(h), sizeof h);
}

/// What the fake build of one platform does.
struct FakeBuild {
  JobStatus status = JobStatus::ok;
  std::vector<std::string> lines;                 ///< output, sent to the sink
  std::function<void(const fs::path& out)> write;  ///< writes the outputs ("" = none)
};

/// Runs nothing: each "build" writes what its FakeBuild says into the platform's out dir
/// when it is reaped (FIFO), and reports its status.
class FakeRunner : public CommandRunner {
public:
  FakeRunner(int slots, LineSink sink, std::map<std::string, FakeBuild>& builds, std::vector<std::string>& started)
      : m_slots(slots), m_sink(std::move(sink)), m_builds(builds), m_started(started) {}
  bool can_run_more() const override { return static_cast<int>(m_running.size()) < m_slots; }
  void start(std::size_t id, const Job& job) override {
    m_started.push_back(job.name);
    m_running.push_back({id, &job});
  }
  std::pair<std::size_t, JobResult> wait_for_one() override {
    auto [id, job] = m_running.front();
    m_running.pop_front();
    JobResult r;
    if (m_aborted) {
      r.status = JobStatus::cancelled;
      r.message = "cancelled: another platform failed";
      return {id, r};
    }
    FakeBuild& b = m_builds[job->name];
    for (const auto& l : b.lines) m_sink(*job, l);
    if (b.write) b.write(job->command.cwd);
    r.status = b.status;
    r.wall_seconds = 1.5;
    if (r.status == JobStatus::failed) r.message = "exit 2";
    return {id, r};
  }
  void abort_all() override { m_aborted = true; }
  std::size_t running() const override { return m_running.size(); }

private:
  int m_slots;
  LineSink m_sink;
  std::map<std::string, FakeBuild>& m_builds;
  std::vector<std::string>& m_started;
  std::deque<std::pair<std::size_t, const Job*>> m_running;
  bool m_aborted = false;
};

/// Records every Status call as a line of text.
class RecordingStatus : public Status {
public:
  std::vector<std::string> events;
  void build_started(const std::vector<Platform>& platforms) override {
    std::string event = "build_started";
    for (const auto& p : platforms) fmt::format_to(std::back_inserter(event), " {}", p.str());
    events.push_back(event);
  }
  void platform_started(std::size_t i) override { events.push_back(fmt::format("started {}", i)); }
  void output_line(std::size_t i, std::string_view line) override { events.push_back(fmt::format("line {} {}", i, line)); }
  void platform_finished(std::size_t i, const PlatformResult& r) override {
    events.push_back(fmt::format("finished {} {}", i, r.ok ? "ok" : r.cancelled ? "cancelled" : "failed"));
  }
  void warning(std::string_view message) override { events.push_back(fmt::format("warning {}", message)); }
  void build_finished(const std::vector<PlatformResult>& results) override {
    events.push_back(fmt::format("build_finished {}", results.size()));
  }
};

/// A project in a temp dir whose build must produce `hello`, and its plans per platform.
struct Fixture {
  test::TempDir tmp{"pipeline"};
  Project project;
  std::vector<PlatformPlan> plans;
  std::map<std::string, FakeBuild> builds;
  std::vector<std::string> started;
  RecordingStatus status;

  explicit Fixture(const std::vector<std::string>& platforms) {
    project.dir = tmp.path;
    project.file = tmp.path / "xbuild.toml";
    project.name = "hello";
    project.outputs = {"hello"};
    for (const auto& s : platforms) {
      PlatformPlan plan;
      plan.platform = Platform::parse(s);
      plan.strategy = Strategy::cross;
      plan.paths = platform_paths(project, tmp.path / ".xbuild", plan.platform);
      plan.command.argv = {"make"};
      plan.command.cwd = plan.paths.out;  // where the fake writes
      plans.push_back(std::move(plan));
    }
  }
  /// The build of `platform` writes a `hello` for `elf_of`.
  void writes_hello_for(const std::string& platform, const std::string& elf_of) {
    ElfInfo info = expected_elf(Platform::parse(elf_of));
    builds[Platform::parse(platform).str()].write = [info](const fs::path& out) { write_elf(out / "hello", info); };
  }
  std::vector<PlatformResult> run(bool keep_going, int slots = 1) {
    BuildOptions options;
    options.slots = slots;
    options.keep_going = keep_going;
    RunnerFactory factory = [this](int n, LineSink sink) {
      return std::make_unique<FakeRunner>(n, std::move(sink), builds, started);
    };
    return run_builds(project, plans, options, status, factory);
  }
};

}  // namespace

TEST_CASE("run_builds: verified outputs, and the Status hears every event in order") {
  Fixture f({"linux/arm64", "linux/arm/v7"});
  f.writes_hello_for("linux/arm64", "linux/arm64");
  f.writes_hello_for("linux/arm/v7", "linux/arm/v7");
  f.builds["linux/arm64"].lines = {"cc -o hello", "done"};
  auto results = f.run(false, 2);
  REQUIRE(results.size() == 2);
  CHECK(results[0].ok);
  CHECK(results[1].ok);
  CHECK(results[0].error.empty());
  CHECK(results[0].wall_seconds == 1.5);
  CHECK(results[1].out == f.tmp.path / ".xbuild/out/linux_arm_v7");
  CHECK(f.status.events == std::vector<std::string>{"build_started linux/arm64 linux/arm/v7", "started 0", "started 1",
                                                    "line 0 cc -o hello", "line 0 done", "finished 0 ok", "finished 1 ok",
                                                    "build_finished 2"});
  // The plan's generated toolchain files exist for a build to use.
  CHECK(fs::exists(f.plans[0].paths.cmake_toolchain));
}

TEST_CASE("run_builds: a missing output and a wrong-arch ELF are reported together (keep-going)") {
  Fixture f({"linux/arm64", "linux/riscv64", "linux/amd64"});
  f.writes_hello_for("linux/arm64", "linux/amd64");  // the host compiler was used
  // linux/riscv64 writes nothing
  f.writes_hello_for("linux/amd64", "linux/amd64");
  auto results = f.run(true);
  CHECK(f.started.size() == 3);
  CHECK_FALSE(results[0].ok);
  CHECK_FALSE(results[0].cancelled);
  CHECK(results[0].error.find("hello is ELF 64-bit LSB x86_64, but linux/arm64 needs ELF 64-bit LSB aarch64") != std::string::npos);
  CHECK_FALSE(results[1].ok);
  CHECK(results[1].error.find("output 'hello' was not produced") != std::string::npos);
  CHECK(results[1].exit == Exit::build_failed);
  CHECK(results[2].ok);
  CHECK(f.status.events.back() == "build_finished 3");
  CHECK(std::count(f.status.events.begin(), f.status.events.end(), "finished 0 failed") == 1);
  CHECK(std::count(f.status.events.begin(), f.status.events.end(), "finished 1 failed") == 1);
}

TEST_CASE("run_builds: stale outputs never pass for new ones") {
  Fixture f({"linux/arm64"});
  write_elf(f.plans[0].paths.out / "hello", expected_elf(f.plans[0].platform));  // from an earlier build
  auto results = f.run(false);
  CHECK_FALSE(results[0].ok);
  CHECK(results[0].error.find("output 'hello' was not produced") != std::string::npos);
}

TEST_CASE("run_builds: a failure stops the others unless keep-going") {
  SUBCASE("a failed build") {
    Fixture f({"linux/riscv64", "linux/arm64", "linux/amd64"});
    f.builds["linux/riscv64"].status = JobStatus::failed;
    f.writes_hello_for("linux/arm64", "linux/arm64");
    f.writes_hello_for("linux/amd64", "linux/amd64");
    SUBCASE("stop") {
      auto results = f.run(false);
      CHECK(f.started == std::vector<std::string>{"linux/riscv64"});
      CHECK(results[0].error == "exit 2 (full log: " + f.plans[0].paths.log.string() + ")");
      CHECK(results[1].cancelled);
      CHECK(results[2].cancelled);
      CHECK(results[1].error.find("--keep-going") != std::string::npos);
      CHECK(f.status.events == std::vector<std::string>{"build_started linux/riscv64 linux/arm64 linux/amd64", "started 0",
                                                        "finished 0 failed", "finished 1 cancelled", "finished 2 cancelled",
                                                        "build_finished 3"});
    }
    SUBCASE("keep going") {
      auto results = f.run(true);
      CHECK(f.started.size() == 3);
      CHECK_FALSE(results[0].ok);
      CHECK(results[1].ok);
      CHECK(results[2].ok);
    }
  }
  SUBCASE("a wrong-arch output is a failure too") {
    Fixture f({"linux/arm64", "linux/amd64"});
    f.writes_hello_for("linux/arm64", "linux/riscv64");
    f.writes_hello_for("linux/amd64", "linux/amd64");
    auto results = f.run(false);
    CHECK(f.started == std::vector<std::string>{"linux/arm64"});
    CHECK(results[0].error.find("ELF 64-bit LSB riscv64") != std::string::npos);
    CHECK(results[1].cancelled);
  }
  SUBCASE("a platform no strategy serves") {
    Fixture f({"linux/arm64", "linux/amd64"});
    f.plans[0].strategy = Strategy::none;
    f.plans[0].problem = "no toolchain for linux/arm64: install gcc-aarch64-linux-gnu";
    f.writes_hello_for("linux/amd64", "linux/amd64");
    SUBCASE("stop: nothing runs") {
      auto results = f.run(false);
      CHECK(f.started.empty());
      CHECK(results[0].error == f.plans[0].problem);
      CHECK(results[0].exit == Exit::environment);
      CHECK(results[1].cancelled);
      CHECK(results[1].error.find("another platform cannot be built") != std::string::npos);
    }
    SUBCASE("keep going: the others build") {
      auto results = f.run(true);
      CHECK(f.started == std::vector<std::string>{"linux/amd64"});
      CHECK(results[1].ok);
      CHECK(f.status.events.front() == "build_started linux/arm64 linux/amd64");
      CHECK(f.status.events[1] == "finished 0 failed");
    }
  }
}

TEST_CASE("run_builds: an interrupted build throws after the Status heard the end") {
  Fixture f({"linux/arm64"});
  f.builds["linux/arm64"].status = JobStatus::interrupted;
  CHECK_THROWS_WITH_AS(f.run(false), doctest::Contains("interrupted"), Error);
  CHECK(f.status.events.back() == "build_finished 1");
}
