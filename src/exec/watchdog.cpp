// The watchdog's protocol is fixed-size records over a SOCK_SEQPACKET socket: {op, pgid}.
// send() uses MSG_NOSIGNAL, so a watchdog that was killed costs xbuild nothing but the
// guarantee. Its cleanup mirrors what the runner does for a job: SIGKILL the groups,
// cgroup.kill the run's cgroup (which reaches every job cgroup below it), wait until it is
// empty, remove the job cgroups, then the run's.

#include "exec/watchdog.hpp"

#include "exec/cgroup.hpp"
#include "util/error.hpp"

#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>

namespace xb {

namespace {

constexpr std::int32_t k_track = 1;
constexpr std::int32_t k_untrack = 2;
constexpr int k_max_groups = 4096;

struct Record {
  std::int32_t op;
  std::int32_t pgid;
};

/// The paths the child needs, made before fork.
struct Paths {
  std::string run, kill, events;
};

void nap_ms(long ms) {
  struct timespec t {ms / 1000, (ms % 1000) * 1000000L};
  ::nanosleep(&t, nullptr);
}

bool cgroup_populated(const char* events) {
  int fd = ::open(events, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  return std::strstr(buf, "populated 1") != nullptr;
}

/// rmdir of every directory in `dir` (the job cgroups), then of `dir`. System calls only.
void remove_cgroups(const char* dir) {
  int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  alignas(8) char buf[4096];
  for (long n; (n = ::syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0;) {
    for (long off = 0; off < n;) {
      // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[]
      auto reclen = *reinterpret_cast<unsigned short*>(buf + off + 16);
      unsigned char type = static_cast<unsigned char>(buf[off + 18]);
      const char* name = buf + off + 19;
      bool dot = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
      if (type == DT_DIR && !dot) ::unlinkat(fd, name, AT_REMOVEDIR);
      off += reclen;
    }
  }
  ::close(fd);
  ::rmdir(dir);
}

[[noreturn]] void watchdog_main(int sock, const Paths& paths, bool with_cgroup) {
  ::setsid();
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU}) ::sigaction(sig, &ign, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::prctl(PR_SET_NAME, "xbuild-watchdog");
  // Hold nothing of xbuild's: not its output pipes (a reader would wait for our exit), not
  // its job pipes, not its terminal.
  if (sock != 3) {
    ::dup2(sock, 3);
    sock = 3;
  }
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  }
  ::syscall(SYS_close_range, 4U, ~0U, 0U);

  static pid_t groups[k_max_groups];
  int count = 0;
  while (true) {
    Record r{};
    ssize_t n = ::recv(sock, &r, sizeof r, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof r)) break;  // EOF: xbuild is gone
    if (r.op == k_track && count < k_max_groups) {
      groups[count++] = r.pgid;
    } else if (r.op == k_untrack) {
      for (int i = 0; i < count; ++i) {
        if (groups[i] == r.pgid) {
          groups[i] = groups[--count];
          break;
        }
      }
    }
  }
  for (int i = 0; i < count; ++i) ::kill(-groups[i], SIGKILL);
  if (with_cgroup) {
    int fd = ::open(paths.kill.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      [[maybe_unused]] auto w = ::write(fd, "1", 1);
      ::close(fd);
    }
    for (int i = 0; i < 1000 && cgroup_populated(paths.events.c_str()); ++i) nap_ms(10);
    remove_cgroups(paths.run.c_str());
  }
  ::_exit(0);
}

}  // namespace

Watchdog::Watchdog(const Cgroup* run_cgroup) {
  Paths paths;
  if (run_cgroup) {
    paths.run = run_cgroup->path().string();
    paths.kill = (run_cgroup->path() / "cgroup.kill").string();
    paths.events = (run_cgroup->path() / "cgroup.events").string();
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    fail(Exit::environment, "cannot create the watchdog's socket: {}", std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    fail(Exit::environment, "cannot start the watchdog process: {}", std::strerror(e));
  }
  if (pid == 0) {
    ::close(sv[0]);
    watchdog_main(sv[1], paths, run_cgroup != nullptr);
  }
  ::close(sv[1]);
  m_pid = pid;
  m_fd = sv[0];
}

Watchdog::~Watchdog() {
  if (m_fd >= 0) ::close(m_fd);
  if (m_pid > 0) {
    while (::waitpid(m_pid, nullptr, 0) < 0 && errno == EINTR) {}
  }
}

void Watchdog::send(int op, pid_t pgid) {
  Record r{op, static_cast<std::int32_t>(pgid)};
  while (::send(m_fd, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

void Watchdog::track(pid_t pgid) { send(k_track, pgid); }
void Watchdog::untrack(pid_t pgid) { send(k_untrack, pgid); }

}  // namespace xb
