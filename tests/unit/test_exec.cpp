// exec/ with real processes: every Subprocess option, capture() and its cap, the exit codes a
// shell would give, the parent-death signal, the watchdog, and cgroup.kill of a process that
// left its process group with setsid. Nothing here measures time: where a process has to be
// gone, the test waits for it (with a generous bound so a broken build fails instead of
// hanging).

#include "exec/cgroup.hpp"
#include "exec/subprocess.hpp"
#include "exec/watchdog.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace xb;
namespace fs = std::filesystem;

namespace {

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

/// True when `pid` is gone or a zombie nobody reaped yet (it no longer runs).
bool dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), {});
  return s.empty() || s.find(") Z ") != std::string::npos;
}

/// Waits until `pid` no longer runs; false if it still runs after a minute (a real failure,
/// not a slow machine: the kill it waits for is immediate).
bool wait_dead(pid_t pid) {
  for (int i = 0; i < 600; ++i) {
    if (dead(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

/// Whether this machine has a cgroup2 file system mounted anywhere.
bool cgroup2_mounted() {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);)
    if (line.find(" - cgroup2 ") != std::string::npos) return true;
  return false;
}

Command sh(const std::string& script) { return Command{{"sh", "-c", script}, {}, {}}; }

/// Starts a sleep in a session of its own (out of the job's process group) and prints its
/// pid once it is there; the output pipe closes when this shell and that one are done.
const std::string k_escape = "setsid sh -c 'echo $$ >&3; exec sleep 300 3>&-' 3>&1 >/dev/null 2>&1 &";

/// Runs k_escape in `group`; returns the escaped sleep's pid once the starting shell is done.
pid_t escape_from(const Cgroup& group) {
  SpawnOptions o;
  o.cgroup = &group;
  Subprocess p = Subprocess::start(sh(k_escape), o);
  std::string out = read_all(p.stdout_fd());
  CHECK(p.wait().ok());
  return std::stoi(out);
}

}  // namespace

TEST_CASE("Subprocess: stdin from a pipe, a descriptor, or /dev/null") {
  SUBCASE("pipe") {
    SpawnOptions o;
    o.in = InputFrom::pipe;
    Subprocess p = Subprocess::start(Command{{"cat"}, {}, {}}, o);
    REQUIRE(p.stdin_fd() >= 0);
    std::string text = "line one\n\n  indented\n";
    REQUIRE(::write(p.stdin_fd(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    p.close_stdin();
    CHECK(read_all(p.stdout_fd()) == text);
    CHECK(p.wait().ok());
  }
  SUBCASE("descriptor") {
    test::TempDir dir("exec-in");
    std::ofstream(dir.path / "input") << "from a file\n";
    int fd = ::open((dir.path / "input").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    SpawnOptions o;
    o.in = InputFrom::fd;
    o.in_fd = fd;
    Subprocess p = Subprocess::start(Command{{"cat"}, {}, {}}, o);
    ::close(fd);
    CHECK(read_all(p.stdout_fd()) == "from a file\n");
    CHECK(p.wait().ok());
  }
  SUBCASE("/dev/null by default") {
    Subprocess p = Subprocess::start(Command{{"cat"}, {}, {}});
    CHECK(p.stdin_fd() == -1);
    CHECK(read_all(p.stdout_fd()).empty());
    CHECK(p.wait().ok());
  }
}

TEST_CASE("Subprocess: stdout and stderr separate, merged, discarded or into a descriptor") {
  Command both = sh("echo to-out; echo to-err >&2");
  SUBCASE("separate pipes") {
    SpawnOptions o;
    o.err = OutputTo::pipe;
    Subprocess p = Subprocess::start(both, o);
    REQUIRE(p.stderr_fd() >= 0);
    CHECK(read_all(p.stdout_fd()) == "to-out\n");
    CHECK(read_all(p.stderr_fd()) == "to-err\n");
    CHECK(p.wait().ok());
  }
  SUBCASE("merged into one pipe") {
    Subprocess p = Subprocess::start(both);
    CHECK(p.stderr_fd() == -1);
    CHECK(read_all(p.stdout_fd()) == "to-out\nto-err\n");
    CHECK(p.wait().ok());
  }
  SUBCASE("stderr discarded, stdout into a file") {
    test::TempDir dir("exec-out");
    int fd = ::open((dir.path / "out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    SpawnOptions o;
    o.out = OutputTo::fd;
    o.out_fd = fd;
    o.err = OutputTo::discard;
    Subprocess p = Subprocess::start(both, o);
    ::close(fd);
    CHECK(p.stdout_fd() == -1);
    CHECK(p.wait().ok());
    std::ifstream in(dir.path / "out");
    std::string s((std::istreambuf_iterator<char>(in)), {});
    CHECK(s == "to-out\n");
  }
}

TEST_CASE("Subprocess: environment on top of ours or replaced; working directory") {
  ::setenv("XB_EXEC_TEST_INHERITED", "from-parent", 1);
  Command env{{"env"}, {{"XB_EXEC_TEST_ADDED", "added"}}, {}};
  SUBCASE("on top of the inherited one") {
    Captured c = capture(env);
    REQUIRE(c.ok());
    CHECK(c.output.find("XB_EXEC_TEST_INHERITED=from-parent\n") != std::string::npos);
    CHECK(c.output.find("XB_EXEC_TEST_ADDED=added\n") != std::string::npos);
  }
  SUBCASE("replaced") {
    SpawnOptions o;
    o.env = EnvFrom::command;
    Subprocess p = Subprocess::start(env, o);
    CHECK(read_all(p.stdout_fd()) == "XB_EXEC_TEST_ADDED=added\n");
    CHECK(p.wait().ok());
  }
  SUBCASE("the command's PATH is the one searched") {
    test::TempDir dir("exec-path");
    std::ofstream(dir.path / "xb-only-here") << "#!/bin/sh\necho found-on-the-command-path\n";
    fs::permissions(dir.path / "xb-only-here", fs::perms::owner_all);
    Captured c = capture(Command{{"xb-only-here"}, {{"PATH", dir.path.string() + ":/usr/bin:/bin"}}, {}});
    CHECK(c.ok());
    CHECK(c.output == "found-on-the-command-path\n");
  }
  SUBCASE("cwd") {
    test::TempDir dir("exec-cwd");
    Captured c = capture(Command{{"pwd", "-P"}, {}, dir.path});
    REQUIRE(c.ok());
    CHECK(c.output == fs::canonical(dir.path).string() + "\n");
  }
  ::unsetenv("XB_EXEC_TEST_INHERITED");
}

TEST_CASE("Subprocess: 127 not found, 126 not executable, a #!-less script through /bin/sh") {
  test::TempDir dir("exec-codes");
  std::ofstream(dir.path / "plain.sh") << "echo from-plain-script \"$1\"\n";
  std::ofstream(dir.path / "noexec.sh") << "#!/bin/sh\necho never\n";
  fs::permissions(dir.path / "plain.sh", fs::perms::owner_all);
  Captured plain = capture(Command{{(dir.path / "plain.sh").string(), "arg1"}, {}, {}});
  CHECK(plain.ok());
  CHECK(plain.output == "from-plain-script arg1\n");

  Captured missing = capture(Command{{"xbuild-no-such-command-anywhere"}, {}, {}});
  CHECK(missing.exit.exit_code == 127);
  CHECK(missing.output.find("xbuild-no-such-command-anywhere: not found") != std::string::npos);
  Captured denied = capture(Command{{(dir.path / "noexec.sh").string()}, {}, {}});
  CHECK(denied.exit.exit_code == 126);
  CHECK(denied.output.find("permission denied") != std::string::npos);
  CHECK(run_status(Command{{"true"}, {}, dir.path / "missing-dir"}) == 127);
  CHECK(run_status(sh("kill -TERM $$")) == 128 + SIGTERM);
  CHECK(find_program("sh").has_value());
  CHECK_FALSE(find_program("xbuild-no-such-command-anywhere").has_value());
  CHECK_FALSE(find_program((dir.path / "noexec.sh").string()).has_value());
}

TEST_CASE("Subprocess: no descriptor but 0, 1 and 2 reaches the child") {
  int plain = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(plain >= 0);
  int leaked = ::fcntl(plain, F_DUPFD, 50);  // F_DUPFD: deliberately without FD_CLOEXEC
  ::close(plain);
  REQUIRE(leaked >= 50);
  Captured c = capture(sh("ls /proc/self/fd"));
  ::close(leaked);
  REQUIRE(c.ok());
  // ls itself opens one descriptor for the directory it lists.
  CHECK(c.output.find(fmt::format("\n{}\n", leaked)) == std::string::npos);
}

TEST_CASE("Subprocess: its own process group or the caller's") {
  Subprocess own = Subprocess::start(Command{{"sleep", "300"}, {}, {}});
  CHECK(::getpgid(own.pid()) == own.pid());
  SpawnOptions o;
  o.group = ProcessGroup::inherit;
  Subprocess shared = Subprocess::start(Command{{"sleep", "300"}, {}, {}}, o);
  CHECK(::getpgid(shared.pid()) == ::getpgrp());
  own.signal_group(SIGKILL);
  shared.signal_group(SIGKILL);
  CHECK(own.wait().signal == SIGKILL);
  CHECK(shared.wait().signal == SIGKILL);
}

TEST_CASE("capture: input, the output cap, and a background child that keeps the pipe open") {
  SUBCASE("input on stdin") {
    CaptureOptions o;
    o.input = std::string("abc\n\n  def\n");
    Captured c = capture(Command{{"cat"}, {}, {}}, o);
    CHECK(c.ok());
    CHECK(c.output == "abc\n\n  def\n");
  }
  SUBCASE("a large input the child never reads does not hang") {
    CaptureOptions o;
    o.input = std::string(1 << 20, 'x');
    Captured c = capture(sh("exit 3"), o);
    CHECK(c.exit.exit_code == 3);
  }
  SUBCASE("the cap keeps the first bytes and says it cut") {
    CaptureOptions o;
    o.limit = 1000;
    Captured c = capture(Command{{"head", "-c", "300000", "/dev/zero"}, {}, {}}, o);
    CHECK(c.ok());
    CHECK(c.output.size() == 1000);
    CHECK(c.truncated);
    Captured small = capture(sh("printf 12345"), o);
    CHECK(small.output == "12345");
    CHECK_FALSE(small.truncated);
  }
  SUBCASE("it ends when the command exits, and the leftover is killed") {
    Captured c = capture(sh("sleep 300 & echo $!; exit 4"));
    CHECK(c.exit.exit_code == 4);
    pid_t leftover = std::stoi(c.output);
    CHECK(wait_dead(leftover));
  }
  SUBCASE("stderr inherited or discarded") {
    CaptureOptions o;
    o.err = OutputTo::discard;
    Captured c = capture(sh("echo out; echo err >&2"), o);
    CHECK(c.output == "out\n");
  }
}

TEST_CASE("exec_replace: the process becomes the command, with its env and cwd") {
  test::TempDir dir("exec-replace");
  std::fflush(nullptr);  // or the child would write our buffered output a second time
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    int err = exec_replace(Command{{"sh", "-c", "echo \"$XB_REPLACED\"; pwd -P"}, {{"XB_REPLACED", "yes"}}, dir.path});
    ::_exit(100 + err);
  }
  ::close(fds[1]);
  std::string out = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(out == "yes\n" + fs::canonical(dir.path).string() + "\n");
  CHECK(exec_replace(Command{{"/nonexistent/xbuild-no-such-program"}, {}, {}}) == ENOENT);
}

TEST_CASE("a child dies with the process that started it (parent-death signal)") {
  // A helper process starts a long child and reports its pid; SIGKILL of the helper (no
  // chance to clean up) must take the child along.
  std::fflush(nullptr);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t helper = ::fork();
  REQUIRE(helper >= 0);
  if (helper == 0) {
    ::close(fds[0]);
    SpawnOptions o;
    o.out = OutputTo::discard;
    Subprocess child = Subprocess::start(Command{{"sleep", "300"}, {}, {}}, o);
    pid_t pid = child.pid();
    [[maybe_unused]] auto n = ::write(fds[1], &pid, sizeof pid);
    for (;;) ::pause();
  }
  ::close(fds[1]);
  pid_t child = 0;
  REQUIRE(::read(fds[0], &child, sizeof child) == sizeof child);
  ::close(fds[0]);
  REQUIRE(child > 0);
  CHECK_FALSE(dead(child));
  ::kill(helper, SIGKILL);
  ::waitpid(helper, nullptr, 0);
  CHECK(wait_dead(child));
}

TEST_CASE("the watchdog kills the groups it tracks when its owner goes") {
  Subprocess p = Subprocess::start(sh("sleep 300 & wait"));
  {
    Watchdog w(nullptr);
    w.track(p.pid());
  }  // closing its socket is what xbuild's death looks like to it
  ExitInfo e = p.wait();
  CHECK(e.signal == SIGKILL);
}

TEST_CASE("cgroups: cgroup.kill ends a process that escaped its group with setsid") {
  const CgroupSupport& cg = cgroup_support();
  if (!cgroup2_mounted()) {
    // The one case where the fallback is right: this machine has no cgroup v2 at all.
    MESSAGE("no cgroup2 mount on this machine: " << describe_job_isolation());
    CHECK_FALSE(cg.usable);
    CHECK(describe_job_isolation().find("process group only") != std::string::npos);
    return;
  }
  if (::geteuid() != 0 && !cg.usable) {
    MESSAGE("cgroup2 is mounted but not writable for this user: " << cg.reason);
    CHECK(describe_job_isolation().find("process group only") != std::string::npos);
    return;
  }
  // cgroup2 is mounted and we are root: the fallback would be a bug, not a machine limit.
  INFO("cgroup_support(): " << cg.reason);
  REQUIRE(cg.usable);
  CHECK(describe_job_isolation().find("cgroup.kill") != std::string::npos);

  SUBCASE("a job cgroup") {
    auto group = Cgroup::create_unique(cg.parent, "xbuild-test");
    fs::path dir = group->path();
    pid_t escaped = escape_from(*group);
    REQUIRE_FALSE(dead(escaped));
    CHECK(::getsid(escaped) != ::getsid(0));
    CHECK(group->populated());
    group->kill();
    CHECK(group->wait_empty(std::chrono::seconds(60)));
    CHECK(wait_dead(escaped));
    group.reset();
    CHECK_FALSE(fs::exists(dir));
  }
  SUBCASE("the watchdog kills and removes the run's cgroup tree") {
    auto run = Cgroup::create_unique(cg.parent, "xbuild-test");
    fs::path dir = run->path();
    auto job = Cgroup::create(dir, "job-0");
    pid_t escaped = escape_from(*job);
    REQUIRE_FALSE(dead(escaped));
    { Watchdog w(run.get()); }
    CHECK(wait_dead(escaped));
    CHECK_FALSE(fs::exists(dir / "job-0"));
    CHECK_FALSE(fs::exists(dir));
  }
}
