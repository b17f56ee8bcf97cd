#pragma once
// A parent-death signal reaches only xbuild's direct children: when xbuild is killed with
// SIGKILL, the make, cc1 and qemu a job started would run on (and keep writing into
// .xbuild/out), since nothing is left to kill their group or cgroup. The watchdog is a
// small process forked from xbuild that holds one end of a socket to it: when xbuild dies,
// however it dies, the socket closes, and the watchdog kills every process group it was
// told about and the run's cgroup tree, removes the cgroups and exits. While xbuild lives,
// it only waits. It is forked without exec and uses nothing but system calls after fork
// (no allocation), so it is safe to start from a threaded process; it leaves xbuild's
// session and ignores terminal signals so that a Ctrl-C at the terminal cannot end it early.

#include <sys/types.h>

namespace xb {

class Cgroup;

/// Ends what xbuild started when xbuild dies without doing it itself.
class Watchdog {
public:
  /// Forks the watchdog. `run_cgroup` (may be null) is killed, with every cgroup below it,
  /// and removed when xbuild dies. Throws Error(environment) when it cannot fork.
  explicit Watchdog(const Cgroup* run_cgroup);
  /// Closes the socket (the watchdog then finds nothing left to end and exits) and reaps it.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// Process group `pgid` is to be SIGKILLed if xbuild dies.
  void track(pid_t pgid);
  /// Process group `pgid` was ended by xbuild: forget it.
  void untrack(pid_t pgid);
  /// The watchdog's pid (for tests).
  pid_t pid() const { return m_pid; }

private:
  void send(int op, pid_t pgid);
  pid_t m_pid = -1;
  int m_fd = -1;
};

}  // namespace xb
