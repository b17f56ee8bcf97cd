#include "exec/subprocess.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace xb {

std::string ExitInfo::describe() const {
  if (signal != 0) return fmt::format("killed by {}", sigabbrev_np(signal) ? fmt::format("SIG{}", sigabbrev_np(signal)) : std::to_string(signal));
  return fmt::format("exit {}", exit_code);
}

namespace {

/// Builds the envp for a child: the inherited environment with `extra` on top.
std::vector<std::string> make_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    std::string key(kv.substr(0, eq));
    if (!extra.count(key)) out.emplace_back(kv);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

ExitInfo decode(int status, const struct rusage& ru) {
  ExitInfo info;
  if (WIFEXITED(status)) info.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) info.signal = WTERMSIG(status);
  info.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return info;
}

}  // namespace

Subprocess Subprocess::start(const Command& cmd, Output output) {
  if (cmd.argv.empty()) throw Error("internal: empty command");
  std::vector<std::string> env = make_env(cmd.env);
  std::vector<char*> argv, envp;
  for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  // Everything the child needs is prepared before fork: after fork in a threaded process the
  // child may only make system calls (no allocation, no stdio) until it execs.
  // PATH lookup uses the child's PATH when the command overrides it, as a shell would.
  std::string path = cmd.env.count("PATH") ? cmd.env.at("PATH") : (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  const std::string& prog = cmd.argv[0];
  std::vector<std::string> candidates;
  if (prog.find('/') != std::string::npos) {
    candidates.push_back(prog);
  } else {
    for (std::string_view dirs(path);;) {
      auto colon = dirs.find(':');
      std::string_view dir = dirs.substr(0, colon);
      candidates.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + prog);
      if (colon == std::string_view::npos) break;
      dirs.remove_prefix(colon + 1);
    }
  }
  // A file without #! is run by /bin/sh, as execvp and shells do (ENOEXEC).
  std::vector<char*> sh_argv = {const_cast<char*>("/bin/sh"), nullptr};
  for (std::size_t i = 1; i < cmd.argv.size(); ++i) sh_argv.push_back(const_cast<char*>(cmd.argv[i].c_str()));
  sh_argv.push_back(nullptr);
  std::string not_found = fmt::format("xbuild: cannot run {}: not found\n", prog);
  std::string denied = fmt::format("xbuild: cannot run {}: permission denied\n", prog);
  std::string no_cwd = fmt::format("xbuild: cannot enter {}\n", cmd.cwd.string());

  int fds[2] = {-1, -1};
  if (output == Output::pipe && ::pipe2(fds, O_CLOEXEC) != 0)
    fail(Exit::environment, "cannot create a pipe: {}", std::strerror(errno));
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);

  pid_t pid = ::fork();
  if (pid < 0) fail(Exit::environment, "cannot start {}: {}", cmd.argv[0], std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    // Restore default signal dispositions the parent may have changed.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(devnull, 0);
    if (output == Output::pipe) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
    } else if (output == Output::discard) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    if (!cmd.cwd.empty() && ::chdir(cmd.cwd.c_str()) != 0) {
      [[maybe_unused]] auto n = ::write(2, no_cwd.data(), no_cwd.size());
      ::_exit(127);
    }
    bool saw_denied = false;
    for (const auto& c : candidates) {
      ::execve(c.c_str(), argv.data(), envp.data());
      if (errno == ENOEXEC) {
        sh_argv[1] = const_cast<char*>(c.c_str());
        ::execve("/bin/sh", sh_argv.data(), envp.data());
      }
      if (errno == EACCES) saw_denied = true;
    }
    const std::string& msg = saw_denied ? denied : not_found;
    [[maybe_unused]] auto n = ::write(2, msg.data(), msg.size());
    ::_exit(saw_denied ? 126 : 127);
  }
  ::setpgid(pid, pid);  // also from the parent, so signal_group works without a race
  if (devnull >= 0) ::close(devnull);
  Subprocess p;
  p.m_pid = pid;
  if (output == Output::pipe) {
    ::close(fds[1]);
    p.m_fd = fds[0];
  }
  return p;
}

Subprocess::Subprocess(Subprocess&& o) noexcept
  : m_pid(std::exchange(o.m_pid, -1)), m_fd(std::exchange(o.m_fd, -1)), m_reaped(o.m_reaped) {}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  std::swap(m_pid, o.m_pid);
  std::swap(m_fd, o.m_fd);
  std::swap(m_reaped, o.m_reaped);
  return *this;
}

Subprocess::~Subprocess() {
  close_fd();
  if (m_pid > 0 && !m_reaped) {
    signal_group(SIGKILL);
    wait();
  }
}

void Subprocess::close_fd() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
}

void Subprocess::signal_group(int sig) const {
  if (m_pid > 0 && !m_reaped) ::kill(-m_pid, sig);
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

int run_status(const Command& cmd) {
  Subprocess p = Subprocess::start(cmd, Subprocess::Output::discard);
  ExitInfo info = p.wait();
  return info.signal ? 128 + info.signal : info.exit_code;
}

Result<std::string> run_capture(const Command& cmd) {
  Subprocess p = Subprocess::start(cmd, Subprocess::Output::pipe);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(p.fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ExitInfo info = p.wait();
  if (!info.ok()) return Result<std::string>::failure(fmt::format("`{}` failed ({}): {}", cmd.display(), info.describe(), out));
  return out;
}

int cpu_count() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency()) ;
}

}  // namespace xb
