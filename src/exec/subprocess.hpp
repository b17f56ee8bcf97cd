#pragma once
// Child processes, POSIX underneath. Every child gets its own process group so that a
// cancel, a timeout or Ctrl-C kills the whole tree it started (make, cc1, qemu ...), and is
// reaped with wait4 so its CPU time (including reaped descendants) can be reported.

#include "exec/command.hpp"
#include "util/error.hpp"

#include <sys/types.h>

#include <string>

namespace xb {

/// How a child ended.
struct ExitInfo {
  int exit_code = -1;        ///< exit status, or -1 when killed by a signal
  int signal = 0;            ///< the signal that killed it, 0 if none
  double cpu_seconds = 0;    ///< user+system time of it and its reaped descendants
  bool ok() const { return exit_code == 0; }
  /// "exit 2", "killed by SIGKILL".
  std::string describe() const;
};

/// A running child in its own process group, stdout and stderr merged into one pipe
/// (or into /dev/null), stdin from /dev/null.
class Subprocess {
public:
  enum class Output { pipe, discard, inherit };
  /// Starts `cmd`; throws Error naming argv[0] when it cannot be started. A command that is
  /// not found on PATH starts and exits 127, as with a shell.
  static Subprocess start(const Command& cmd, Output output = Output::pipe);

  Subprocess(Subprocess&& o) noexcept;
  Subprocess& operator=(Subprocess&& o) noexcept;
  Subprocess(const Subprocess&) = delete;
  ~Subprocess();

  /// The read end of the output pipe (-1 when not piped).
  int fd() const { return m_fd; }
  /// Closes the output pipe (after EOF).
  void close_fd();
  /// The child's pid (= its process group id).
  pid_t pid() const { return m_pid; }
  /// Sends `sig` to the child's whole process group.
  void signal_group(int sig) const;
  /// Blocks until the child exits and returns how.
  ExitInfo wait();
  /// Non-blocking wait: true and fills `info` when it has exited.
  bool try_wait(ExitInfo& info);

private:
  Subprocess() = default;
  pid_t m_pid = -1;
  int m_fd = -1;
  bool m_reaped = false;
};

/// Runs `cmd` with output discarded; returns the exit code (127 when not found, 128+sig).
int run_status(const Command& cmd);
/// Runs `cmd` and returns its merged output, or an error with the output when it fails.
Result<std::string> run_capture(const Command& cmd);
/// The number of CPUs this process may use.
int cpu_count();

}  // namespace xb
