// Tests run on threads, one per platform within the slots, each owning a Subprocess in its
// own process group: simple, and a hung foreign test is killed as a group like a build.

#include "emulate/project_test.hpp"

#include "exec/subprocess.hpp"
#include "util/error.hpp"

#include <fmt/format.h>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace fs = std::filesystem;

namespace xb::emulate {

std::map<std::string, std::string> placeholders_for(const Project& project, const Platform& p,
                                                    const PlatformPaths& paths, int jobs) {
  const auto& t = p.traits();
  return {
      {"{src}", project.dir.string()},
      {"{out}", paths.out.string()},
      {"{build}", paths.build.string()},
      {"{jobs}", std::to_string(jobs)},
      {"{platform}", p.str()},
      {"{os}", p.os},
      {"{arch}", p.arch},
      {"{variant}", p.variant},
      {"{triple}", std::string(t.gnu_triple)},
      {"{rust_target}", std::string(t.rust_target)},
      {"{cmake_toolchain}", paths.cmake_toolchain.string()},
      {"{meson_cross}", paths.meson_cross.string()},
  };
}

std::string expand_placeholders(std::string s, const std::map<std::string, std::string>& values) {
  for (const auto& [k, v] : values)
    for (std::size_t pos = 0; (pos = s.find(k, pos)) != std::string::npos; pos += v.size()) s.replace(pos, k.size(), v);
  return s;
}

Command test_command(const Project& project, const Platform& p, const PlatformPaths& paths,
                     const fs::path& sysroot, RunMode* mode) {
  if (project.test.empty())
    fail(Exit::usage, "{} has no test command: add `test = [\"{{out}}/prog\", \"--self-test\"]` (or a script string)",
         project.file.string());
  auto values = placeholders_for(project, p, paths, 1);
  Command cmd;
  if (!project.test.argv.empty()) {
    for (const auto& a : project.test.argv) cmd.argv.push_back(expand_placeholders(a, values));
  } else {
    cmd.argv = {"sh", "-ec", expand_placeholders(project.test.script, values)};
  }
  Platform host = host_platform();
  cmd.env = {{"TARGETPLATFORM", p.str()}, {"TARGETOS", p.os},          {"TARGETARCH", p.arch},
             {"TARGETVARIANT", p.variant}, {"BUILDPLATFORM", host.str()}, {"XBUILD_OUT", paths.out.string()},
             {"XBUILD_BUILD", paths.build.string()}, {"XBUILD_SRC", project.dir.string()},
             {"XBUILD_TRIPLE", std::string(p.traits().gnu_triple)}};
  cmd.cwd = project.dir;
  return foreign_command(p, std::move(cmd), sysroot, mode);
}

namespace {

TestOutcome run_one(const Project& project, const TestRun& run, std::optional<std::chrono::seconds> timeout) {
  TestOutcome o;
  o.platform = run.platform;
  auto start = std::chrono::steady_clock::now();
  try {
    fs::path sysroot = run.sysroot.empty() ? default_sysroot(run.platform) : run.sysroot;
    RunMode mode = RunMode::native;
    Command cmd = test_command(project, run.platform, run.paths, sysroot, &mode);
    o.how = mode == RunMode::native ? "native"
            : mode == RunMode::binfmt ? fmt::format("binfmt, QEMU_LD_PREFIX={}", sysroot.empty() ? "-" : sysroot.string())
                                      : fmt::format("{} -L {}", cmd.argv[0], sysroot.string());
    Subprocess proc = Subprocess::start(cmd, Subprocess::Output::pipe);
    bool timed_out = false;
    char buf[4096];
    for (;;) {
      int wait_ms = -1;
      if (timeout) {
        auto left = *timeout - (std::chrono::steady_clock::now() - start);
        wait_ms = static_cast<int>(std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(left).count()));
      }
      pollfd pfd{proc.fd(), POLLIN, 0};
      int r = ::poll(&pfd, 1, wait_ms);
      if (r == 0) {
        timed_out = true;
        proc.signal_group(SIGKILL);
        break;
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      ssize_t n = ::read(proc.fd(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      o.output.append(buf, static_cast<std::size_t>(n));
    }
    proc.close_fd();
    ExitInfo info = proc.wait();
    o.ok = info.ok() && !timed_out;
    if (timed_out) o.error = fmt::format("timed out after {}s (process group killed)", timeout->count());
    else if (!o.ok) o.error = fmt::format("test command {} ({})", info.describe(), cmd.display());
  } catch (const Error& e) {
    o.ok = false;
    o.error = e.what();
  }
  o.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return o;
}

}  // namespace

std::vector<TestOutcome> run_tests(const Project& project, const std::vector<TestRun>& runs, int slots,
                                   std::optional<std::chrono::seconds> timeout) {
  std::vector<TestOutcome> out(runs.size());
  std::atomic<std::size_t> next{0};
  int n = std::max(1, std::min<int>(slots, static_cast<int>(runs.size())));
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i; (i = next++) < runs.size();) out[i] = run_one(project, runs[i], timeout);
    });
  }
  for (auto& th : threads) th.join();
  return out;
}

}  // namespace xb::emulate
