// Evidence that a test ran the target, without tracing: qemu-user honours QEMU_LOG and
// QEMU_LOG_FILENAME (with %d for the pid) whether binfmt_misc or xbuild started it, so with
// the quiet `guest_errors` item every emulated process leaves one empty marker file. Go and
// Cargo run their test binaries through a wrapper (go test -exec, the Cargo target runner)
// that records each binary's ELF identity before it runs it, which also catches a test binary
// built for the wrong target.

#include "pipeline/test.hpp"

#include "emulate/emulate.hpp"
#include "emulate/qemu.hpp"
#include "emulate/rootfs.hpp"
#include "exec/scheduler.hpp"
#include "exec/subprocess.hpp"
#include "pipeline/source.hpp"
#include "platform/elf.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fs = std::filesystem;

namespace xb {

namespace {

constexpr const char* k_exec_log = "exec.log";

bool empty_dir(const fs::path& d) {
  std::error_code ec;
  return !fs::is_directory(d, ec) || fs::is_empty(d, ec);
}

/// The sysroot a foreign test's dynamic binaries load from: the plan's QEMU_LD_PREFIX, else
/// Debian's cross libc or a cached rootfs.
fs::path sysroot_of(const PlatformPlan& plan) {
  if (auto it = plan.test.env.find("QEMU_LD_PREFIX"); it != plan.test.env.end()) return it->second;
  return emulate::default_sysroot(plan.platform);
}

/// Writes the wrapper go test -exec and the Cargo runner call.
void write_wrapper(const PlatformPlan& plan) {
  fs::path self = fs::read_symlink("/proc/self/exe");
  std::string script = fmt::format("#!/bin/sh\n# Written by xbuild test for {}: records and runs a test binary.\nexec {} __test-exec {} {} \"$@\"\n",
                                   plan.platform.str(), shell_quote(self.string()), shell_quote(plan.platform.str()),
                                   shell_quote(plan.paths.test_record.string()));
  fs::path wrapper = test_exec_wrapper(plan);
  write_file_atomic(wrapper, script);
  fs::permissions(wrapper, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
}

/// The command that runs plan.test here, and how it will run.
Command runnable(const Project& project, const PlatformPlan& plan, std::string& how) {
  Command cmd = plan.test;
  if (plan.strategy == Strategy::emulate) {
    auto files = emulate::interpreter_files(plan.platform, "test in the rootfs of");
    fs::path rootfs = emulate::resolve_rootfs(project, plan.platform);
    how = fmt::format("in the {} rootfs {}", plan.platform.str(), rootfs.string());
    return emulate::in_rootfs(project, plan, rootfs, cmd, files);
  }
  emulate::RunMode mode = emulate::RunMode::native;
  fs::path sysroot = sysroot_of(plan);
  cmd = emulate::foreign_command(plan.platform, std::move(cmd), sysroot, &mode);
  how = mode == emulate::RunMode::native ? "native"
        : mode == emulate::RunMode::binfmt ? fmt::format("binfmt, QEMU_LD_PREFIX={}", sysroot.empty() ? "-" : sysroot.string())
                                           : fmt::format("{} -L {}", cmd.argv[0], sysroot.string());
  return cmd;
}

/// Checks a foreign test's evidence; "" when it ran the target, else why not.
std::string judge(const PlatformPlan& plan, const TargetEvidence& ev, std::string& how) {
  if (!ev.wrong.empty())
    return fmt::format("the test ran a binary that is not for {}: {}", plan.platform.str(), join(ev.wrong, "; "));
  if (ev.emulated_processes == 0 && ev.checked.empty())
    return fmt::format(
        "the test command exited 0 but ran no {} program: every process it started was a {} program, so it tested "
        "the host, not the target. Make the test build for the target (GOARCH and CC come from the environment "
        "`xbuild plan` shows; for cargo pass --target $CARGO_BUILD_TARGET) or run the built program ({{out}}/...)",
        plan.platform.str(), host_platform().str());
  how += fmt::format("; {} process{} under qemu-{}", ev.emulated_processes, ev.emulated_processes == 1 ? "" : "es",
                     plan.platform.traits().qemu);
  if (!ev.checked.empty()) how += fmt::format("; test binaries: {}", join(ev.checked, ", "));
  return {};
}

}  // namespace

TargetEvidence read_evidence(const fs::path& record_dir) {
  TargetEvidence ev;
  std::error_code ec;
  for (fs::directory_iterator it(record_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind("qemu-", 0) == 0 && name.size() > 4 && name.substr(name.size() - 4) == ".log") ++ev.emulated_processes;
  }
  if (fs::exists(record_dir / k_exec_log, ec)) {
    for (const auto& line : split(read_file(record_dir / k_exec_log), '\n')) {
      auto parts = split(line, '\t');
      if (parts.size() < 3) continue;
      std::string what = fmt::format("{} ({})", fs::path(parts[2]).filename().string(), parts[1]);
      (parts[0] == "ok" ? ev.checked : ev.wrong).push_back(what);
    }
  }
  std::sort(ev.checked.begin(), ev.checked.end());
  ev.checked.erase(std::unique(ev.checked.begin(), ev.checked.end()), ev.checked.end());
  return ev;
}

std::vector<TestOutcome> run_tests(const Project& project, const std::vector<PlatformPlan>& plans, const TestOptions& options) {
  std::vector<TestOutcome> outcomes(plans.size());
  std::vector<Job> jobs;
  std::vector<std::size_t> plan_of_job;
  std::vector<std::string> hows;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const PlatformPlan& plan = plans[i];
    TestOutcome& o = outcomes[i];
    o.platform = plan.platform;
    if (plan.test.argv.empty()) {
      o.error = fmt::format("{} has no test command: add e.g. test = [\"{{out}}/prog\"]", project.file.string());
      continue;
    }
    if (plan.strategy == Strategy::none) {
      o.error = plan.problem;
      continue;
    }
    if (empty_dir(plan.paths.out)) {
      o.error = fmt::format("not built ({} is empty): run `xbuild build --platform {}` or pass --build",
                            plan.paths.out.string(), plan.platform.str());
      continue;
    }
    std::string how;
    Command cmd;
    try {
      if (project.source == SourceMode::copy) refresh_snapshot(project.dir, plan.paths.src, state_dir(project));
      std::error_code ec;
      fs::remove_all(plan.paths.test_record, ec);
      fs::create_directories(plan.paths.test_record);
      if (test_is_watched(plan)) write_wrapper(plan);
      cmd = runnable(project, plan, how);
    } catch (const Error& e) {
      o.error = e.what();
      continue;
    }
    fs::create_directories(plan.paths.test_log.parent_path());
    Job job;
    job.name = plan.platform.str();
    job.command = std::move(cmd);
    job.log = plan.paths.test_log;
    job.timeout = options.timeout;
    jobs.push_back(std::move(job));
    plan_of_job.push_back(i);
    hows.push_back(how);
  }

  std::vector<std::string> output(jobs.size());
  auto sink = [&](const Job& job, std::string_view line) {
    std::size_t j = static_cast<std::size_t>(&job - jobs.data());
    output[j].append(line);
    output[j] += '\n';
    if (options.on_line) options.on_line(plans[plan_of_job[j]].platform, line);
  };
  int slots = options.slots > 0 ? options.slots : std::max(2, cpu_count());
  SubprocessRunner runner(slots, sink);
  auto results = run_jobs(jobs, runner, /*keep_going=*/true);

  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const PlatformPlan& plan = plans[plan_of_job[j]];
    TestOutcome& o = outcomes[plan_of_job[j]];
    const JobResult& r = results[j];
    o.output = std::move(output[j]);
    o.wall_seconds = r.wall_seconds;
    o.how = hows[j];
    switch (r.status) {
      case JobStatus::ok: {
        o.ok = true;
        if (test_is_watched(plan)) {
          std::string why = judge(plan, read_evidence(plan.paths.test_record), o.how);
          if (!why.empty()) {
            o.ok = false;
            o.error = why;
          }
        }
        break;
      }
      case JobStatus::interrupted:
        o.interrupted = true;
        o.error = r.message;
        break;
      case JobStatus::timed_out:
        o.error = fmt::format("{} (process group killed; full log: {})", r.message, plan.paths.test_log.string());
        break;
      default:
        o.error = fmt::format("test command {} ({}; full log: {})", r.exit.describe(), plan.test.display(),
                              plan.paths.test_log.string());
        break;
    }
  }
  if (runner.interrupted()) throw Error("interrupted: every test was stopped and its processes killed", Exit::interrupted);
  return outcomes;
}

void test_exec(const std::string& platform_text, const fs::path& record_dir, const std::vector<std::string>& argv) {
  if (argv.empty()) fail(Exit::usage, "__test-exec: no program to run");
  Platform p = Platform::parse(platform_text);
  fs::path prog = argv.front();
  std::string line;
  if (auto elf = read_elf(prog)) line = fmt::format("{}\t{}\t{}\n", elf_matches(*elf, p) ? "ok" : "wrong", describe(*elf), prog.string());
  else line = fmt::format("wrong\tnot an ELF file\t{}\n", prog.string());
  int fd = ::open((record_dir / k_exec_log).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());  // one short O_APPEND write: atomic
    ::close(fd);
  }
  Command cmd;
  cmd.argv = argv;
  const char* ld = std::getenv("QEMU_LD_PREFIX");
  fs::path sysroot = ld ? fs::path(ld) : emulate::default_sysroot(p);
  cmd = emulate::foreign_command(p, std::move(cmd), sysroot);
  int err = exec_replace(cmd);
  fail(Exit::environment, "cannot run {}: {}", cmd.argv[0], std::strerror(err));
}

}  // namespace xb
