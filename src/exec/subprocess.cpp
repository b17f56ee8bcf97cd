// Boost.Process v2 (1.81) starts the child: its posix default_launcher forks (telling the
// asio context), runs our initializer in the child, and waits on its close-on-exec error
// pipe until the child has exec'd; process_stdio does the dup2s. Four pieces stay POSIX,
// each for a reason measured against 1.81 (docs/ARCHITECTURE.md, src/exec/):
//  - the exec itself happens in our on_exec_setup: when execve fails, the launcher's child
//    calls exit(), not _exit(), so the parent's unflushed stdio buffers are written a second
//    time (a line printed once showed up twice), and the parent gets an exception while the
//    child stays an unreaped zombie; a shell's exit 127/126 and the #!-less script fallback
//    need the exec loop in the child anyway;
//  - the PATH search: environment::find_executable returns only the first executable file,
//    so "not executable" (126) cannot be told from "not found" (127);
//  - waiting: its handle waits with waitpid, which drops the CPU time wait4 reports;
//  - the pidfd: its Linux handle opens one but has no accessor (basic_process::native_handle()
//    does not compile), so we open our own for the scheduler's poll().
// Everything the child needs is prepared before fork: after fork in a threaded process the
// child may only make system calls until it execs (no allocation, no locks, no stdio).

// Boost.Process would otherwise use Boost.Filesystem; its std::filesystem mode in 1.81 needs
// three headers it forgets to include.
#define BOOST_PROCESS_USE_STD_FS 1
#include <boost/optional.hpp>
#include <boost/type_traits/decay.hpp>
#include <boost/type_traits/remove_pointer.hpp>

#include "exec/subprocess.hpp"

#include "exec/cgroup.hpp"
#include "util/interrupt.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

extern char** environ;

namespace xb {

namespace bp = boost::process::v2;
namespace fs = std::filesystem;

std::string ExitInfo::describe() const {
  if (signal != 0) return fmt::format("killed by {}", sigabbrev_np(signal) ? fmt::format("SIG{}", sigabbrev_np(signal)) : std::to_string(signal));
  return fmt::format("exit {}", exit_code);
}

namespace {

ExitInfo decode(int status, const struct rusage& ru) {
  ExitInfo info;
  if (WIFEXITED(status)) info.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) info.signal = WTERMSIG(status);
  info.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return info;
}

void close_if_open(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

/// The descriptors made for one start(), closed on every way out.
struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int& fd : fds) close_if_open(fd);
  }
  int add(int fd) {
    fds.push_back(fd);
    return fd;
  }
  /// Hands `fd` to the caller: no longer closed here.
  int keep(int fd) {
    for (int& f : fds)
      if (f == fd) f = -1;
    return fd;
  }
};

/// pipe2(O_CLOEXEC) or Error.
std::pair<int, int> make_pipe(Fds& fds, const std::string& what) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail(Exit::environment, "cannot create a pipe for {}: {}", what, std::strerror(errno));
  fds.add(p[0]);
  fds.add(p[1]);
  return {p[0], p[1]};
}

/// Everything the exec needs, made before fork so the child only makes system calls.
struct ExecPlan {
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  std::vector<char*> argv;
  std::vector<std::string> candidates;
  std::vector<char*> sh_argv;  ///< /bin/sh <candidate> args...: [1] is filled in the child
  std::string cwd;
  std::string not_found, denied, noexec, no_cwd, no_cgroup;
};

std::string path_for(const Command& cmd, EnvFrom env) {
  if (auto it = cmd.env.find("PATH"); it != cmd.env.end()) return it->second;
  if (env == EnvFrom::command) return "/usr/bin:/bin";
  const char* p = std::getenv("PATH");
  return p ? p : "/usr/bin:/bin";
}

/// The files `prog` may be, in PATH order (the shell's and execvp's search).
std::vector<std::string> candidates_for(const std::string& prog, const std::string& path) {
  std::vector<std::string> out;
  if (prog.find('/') != std::string::npos) {
    out.push_back(prog);
    return out;
  }
  for (std::string_view dirs(path);;) {
    auto colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    out.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + prog);
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return out;
}

ExecPlan make_exec_plan(const Command& cmd, EnvFrom env) {
  if (cmd.argv.empty()) throw Error("internal: empty command");
  ExecPlan p;
  if (env == EnvFrom::inherited) {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      if (!cmd.env.count(std::string(kv.substr(0, kv.find('='))))) p.env_storage.emplace_back(kv);
    }
  }
  for (const auto& [k, v] : cmd.env) p.env_storage.push_back(k + "=" + v);
  for (auto& e : p.env_storage) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  for (const auto& a : cmd.argv) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  const std::string& prog = cmd.argv[0];
  p.candidates = candidates_for(prog, path_for(cmd, env));
  // A file without #! is run by /bin/sh, as execvp and shells do (ENOEXEC).
  p.sh_argv = {const_cast<char*>("/bin/sh"), nullptr};
  for (std::size_t i = 1; i < cmd.argv.size(); ++i) p.sh_argv.push_back(const_cast<char*>(cmd.argv[i].c_str()));
  p.sh_argv.push_back(nullptr);
  p.cwd = cmd.cwd.string();
  p.not_found = fmt::format("xbuild: cannot run {}: not found\n", prog);
  p.denied = fmt::format("xbuild: cannot run {}: permission denied\n", prog);
  p.noexec = fmt::format("xbuild: cannot run {}: exec format error (a foreign binary without a binfmt_misc handler?)\n", prog);
  p.no_cwd = fmt::format("xbuild: cannot run {}: cannot enter {}\n", prog, p.cwd);
  p.no_cgroup = fmt::format("xbuild: cannot run {}: its job's cgroup refused it (cgroup.procs)\n", prog);
  return p;
}

bool is_elf(const char* file) {
  int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[4] = {};
  ssize_t n = ::read(fd, magic, sizeof magic);
  ::close(fd);
  return n == 4 && std::memcmp(magic, "\x7f" "ELF", 4) == 0;
}

/// Tries every candidate; returns only when none could be exec'd, with ENOENT, EACCES or
/// ENOEXEC (an ELF file the kernel cannot run). Async-signal-safe.
int exec_candidates(ExecPlan& p) {
  int err = ENOENT;
  for (const auto& c : p.candidates) {
    ::execve(c.c_str(), p.argv.data(), p.envp.data());
    if (errno == ENOEXEC) {
      if (is_elf(c.c_str())) {
        err = ENOEXEC;
        continue;
      }
      p.sh_argv[1] = const_cast<char*>(c.c_str());
      ::execve("/bin/sh", p.sh_argv.data(), p.envp.data());
    }
    if (errno == EACCES && err == ENOENT) err = EACCES;
  }
  return err;
}

void say(const std::string& msg) { [[maybe_unused]] auto n = ::write(2, msg.data(), msg.size()); }

/// Signals xbuild catches or ignores, back to their defaults (a caught one would be reset by
/// exec anyway; an ignored one would stay ignored, SIGPIPE above all).
void reset_signals() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

/// Our Boost.Process initializer: the child's whole set-up, then the exec (see the top).
struct ChildSetup {
  ExecPlan& plan;
  pid_t parent;
  ProcessGroup group;
  int death_signal;
  int cgroup_procs;

  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher&, const fs::path&, const char* const*) {
    if (group == ProcessGroup::own) ::setpgid(0, 0);
    // Dies with xbuild; if xbuild is already gone, the signal would never come.
    ::prctl(PR_SET_PDEATHSIG, death_signal);
    if (::getppid() != parent) {
      ::kill(::getpid(), death_signal);
      ::_exit(128 + death_signal);
    }
    if (cgroup_procs >= 0 && ::write(cgroup_procs, "0", 1) != 1) {
      say(plan.no_cgroup);
      ::_exit(125);
    }
    reset_signals();
    if (!plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) {
      say(plan.no_cwd);
      ::_exit(127);
    }
    // Only 0, 1 and 2 cross the exec, even a descriptor a library opened without O_CLOEXEC.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    int err = exec_candidates(plan);
    say(err == ENOENT ? plan.not_found : err == EACCES ? plan.denied : plan.noexec);
    ::_exit(err == ENOENT ? 127 : 126);
  }
};

}  // namespace

Subprocess::Subprocess() = default;

Subprocess Subprocess::start(const Command& cmd, OutputTo output) {
  SpawnOptions o;
  o.out = output;
  return start(cmd, o);
}

Subprocess Subprocess::start(const Command& cmd, const SpawnOptions& o) {
  ExecPlan plan = make_exec_plan(cmd, o.env);
  if (o.out == OutputTo::merge) throw Error("internal: stdout cannot be merged into itself");
  const std::string& what = cmd.argv[0];
  Fds fds;
  int devnull = -1;
  auto null_fd = [&] {
    if (devnull < 0) devnull = fds.add(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (devnull < 0) fail(Exit::environment, "cannot open /dev/null: {}", std::strerror(errno));
    return devnull;
  };
  Subprocess p;
  p.m_group = o.group;
  int child_in = 0, child_out = 1, child_err = 2;
  switch (o.in) {
    case InputFrom::null: child_in = null_fd(); break;
    case InputFrom::inherit: child_in = 0; break;
    case InputFrom::fd: child_in = o.in_fd; break;
    case InputFrom::pipe: {
      auto [r, w] = make_pipe(fds, what);
      child_in = r;
      p.m_in = fds.keep(w);
      break;
    }
  }
  auto sink = [&](OutputTo to, int given, int inherited, int& mine) {
    switch (to) {
      case OutputTo::pipe: {
        auto [r, w] = make_pipe(fds, what);
        mine = fds.keep(r);
        return w;
      }
      case OutputTo::discard: return null_fd();
      case OutputTo::inherit: return inherited;
      case OutputTo::fd: return given;
      case OutputTo::merge: break;
    }
    return -1;
  };
  child_out = sink(o.out, o.out_fd, 1, p.m_out);
  child_err = o.err == OutputTo::merge ? child_out : sink(o.err, o.err_fd, 2, p.m_err);
  if (child_in < 0 || child_out < 0 || child_err < 0) throw Error("internal: SpawnOptions::fd without a descriptor");

  ChildSetup setup{plan, ::getpid(), o.group, o.death_signal, o.cgroup ? o.cgroup->procs_fd() : -1};
  boost::asio::io_context ctx;
  bp::posix::default_launcher launcher;
  launcher.env = plan.envp.data();
  bp::error_code ec;
  auto proc = launcher(ctx.get_executor(), ec, fs::path(plan.candidates.front()), const_cast<const char**>(plan.argv.data()),
                       bp::process_stdio{child_in, child_out, child_err}, setup);
  if (ec) fail(Exit::environment, "cannot start {}: {}", what, ec.message());
  p.m_pid = proc.id();
  proc.detach();  // its handle would reap with waitpid; wait4 below keeps the CPU time
  p.m_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, p.m_pid, 0));  // not reaped yet: cannot miss
  return p;
}

Subprocess::Subprocess(Subprocess&& o) noexcept { *this = std::move(o); }

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    reset();
    m_pid = std::exchange(o.m_pid, -1);
    m_group = o.m_group;
    m_reaped = std::exchange(o.m_reaped, false);
    m_in = std::exchange(o.m_in, -1);
    m_out = std::exchange(o.m_out, -1);
    m_err = std::exchange(o.m_err, -1);
    m_pidfd = std::exchange(o.m_pidfd, -1);
  }
  return *this;
}

Subprocess::~Subprocess() { reset(); }

void Subprocess::reset() noexcept {
  close_stdin();
  close_stdout();
  close_stderr();
  if (running()) {
    signal_group(SIGKILL);
    wait();
  }
  close_if_open(m_pidfd);
  m_pid = -1;
  m_reaped = false;
}

void Subprocess::close_stdin() { close_if_open(m_in); }
void Subprocess::close_stdout() { close_if_open(m_out); }
void Subprocess::close_stderr() { close_if_open(m_err); }

void Subprocess::signal_group(int sig) const {
  if (!running()) return;
  ::kill(m_group == ProcessGroup::own ? -m_pid : m_pid, sig);
}

bool Subprocess::exited() const {
  if (!running()) return m_pid > 0;
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0;
}

ExitInfo Subprocess::wait() {
  int status = 0;
  struct rusage ru {};
  while (::wait4(m_pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) return ExitInfo{};
  }
  m_reaped = true;
  return decode(status, ru);
}

bool Subprocess::try_wait(ExitInfo& info) {
  int status = 0;
  struct rusage ru {};
  pid_t r = ::wait4(m_pid, &status, WNOHANG, &ru);
  if (r != m_pid) return false;
  m_reaped = true;
  info = decode(status, ru);
  return true;
}

std::string Captured::failure(const Command& cmd) const {
  return fmt::format("`{}` failed ({}){}{}", cmd.display(), exit.describe(), output.empty() ? "" : ": ", output);
}

namespace {

/// write() that turns a reader's death into EPIPE even where SIGPIPE is not ignored (unit
/// tests, library callers): SIGPIPE is blocked around it and a pending one consumed.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t n = ::write(fd, data, size);
  int err = errno;
  if (n < 0 && err == EPIPE) {
    struct timespec zero {};
    ::sigtimedwait(&pipe_only, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

}  // namespace

Captured capture(const Command& cmd, const CaptureOptions& o) {
  if (o.err == OutputTo::pipe) throw Error("internal: capture() merges, discards, inherits or redirects stderr to an fd");
  SpawnOptions so;
  so.group = o.group;
  so.in = o.input ? InputFrom::pipe : InputFrom::null;
  so.out = OutputTo::pipe;
  so.err = o.err;
  so.err_fd = o.err_fd;
  Subprocess p = Subprocess::start(cmd, so);
  Captured c;
  std::size_t written = 0;
  if (p.stdin_fd() >= 0) ::fcntl(p.stdin_fd(), F_SETFL, O_NONBLOCK);
  ::fcntl(p.stdout_fd(), F_SETFL, O_NONBLOCK);
  auto take = [&](const char* data, std::size_t n) {
    std::size_t room = o.limit > c.output.size() ? o.limit - c.output.size() : 0;
    c.output.append(data, std::min(n, room));
    if (n > room) c.truncated = true;
  };
  // Reads what is there now; false at EOF.
  auto drain = [&] {
    char buf[16384];
    while (true) {
      ssize_t n = ::read(p.stdout_fd(), buf, sizeof buf);
      if (n > 0) {
        take(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && errno == EAGAIN;  // more may come; EOF or an error ends it
    }
  };
  // Like a job, it is over when the process exits: a background child that keeps the pipe
  // open does not hold it up (with its own group, the leftover is killed).
  while (true) {
    pollfd fds[3] = {{p.stdout_fd(), POLLIN, 0}, {p.pidfd(), POLLIN, 0}, {p.stdin_fd(), POLLOUT, 0}};
    nfds_t n = p.stdin_fd() >= 0 ? 3 : 2;
    // Without a pidfd (Linux < 5.3) exit is noticed by looking every 100 ms.
    if (::poll(fds, n, p.pidfd() >= 0 ? -1 : 100) < 0 && errno != EINTR) break;
    if (p.stdin_fd() >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const std::string& in = *o.input;
      ssize_t w = in.size() > written ? write_no_sigpipe(p.stdin_fd(), in.data() + written, in.size() - written) : 0;
      if (w > 0) written += static_cast<std::size_t>(w);
      if (written >= in.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) p.close_stdin();
    }
    if (!drain()) break;
    if (p.exited()) {
      if (o.group == ProcessGroup::own) p.signal_group(SIGKILL);
      drain();
      break;
    }
  }
  p.close_stdin();
  p.close_stdout();
  c.exit = p.wait();
  return c;
}

int run_status(const Command& cmd) {
  SpawnOptions o;
  o.out = OutputTo::discard;
  o.err = OutputTo::discard;
  return Subprocess::start(cmd, o).wait().status();
}

namespace {

std::atomic<pid_t> g_foreground{0};
std::atomic<int> g_foreground_signal{0};

extern "C" void forward_signal(int sig) {
  g_foreground_signal = sig;
  if (pid_t child = g_foreground; child > 0) ::kill(-child, sig);
}

}  // namespace

int run_interruptible(const Command& cmd, const SpawnOptions& options) {
  SpawnOptions o = options;
  o.group = ProcessGroup::own;
  g_foreground_signal = 0;
  // Caught before the child exists, so no signal falls between start and wait; one that
  // came before the pid is known is passed on right after.
  SignalHandlers handlers;
  handlers.install(forward_signal);
  auto restore = [&] {
    g_foreground = 0;
    handlers.restore();
  };
  ExitInfo info;
  try {
    Subprocess p = Subprocess::start(cmd, o);
    g_foreground = p.pid();
    if (int sig = g_foreground_signal; sig != 0) p.signal_group(sig);
    info = p.wait();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  if (int sig = g_foreground_signal; sig != 0)
    fail(Exit::interrupted, "interrupted by SIG{} while `{}` ran ({})", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", cmd.display(),
         info.describe());
  return info.status();
}

int exec_replace(const Command& cmd) {
  ExecPlan plan = make_exec_plan(cmd, EnvFrom::inherited);
  std::fflush(nullptr);
  if (!plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) return errno;
  reset_signals();
  return exec_candidates(plan);
}

std::optional<fs::path> find_program(const std::string& name, const char* path) {
  if (name.empty()) return std::nullopt;
  const char* env_path = std::getenv("PATH");
  std::string search = path ? path : env_path ? env_path : "/usr/bin:/bin";
  for (const auto& c : candidates_for(name, search)) {
    struct stat st {};
    if (::stat(c.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(c.c_str(), X_OK) == 0) return fs::path(c);
  }
  return std::nullopt;
}

int cpu_count() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace xb
