#pragma once
// Every process xbuild starts goes through this file (ninja's Subprocess::Start): one
// Subprocess with options, built on Boost.Process v2's launcher, plus a capture helper and
// the process-image replacement. What each child gets no matter who starts it: a
// parent-death signal (so it dies with xbuild, even with kill -9), default signal
// dispositions and an empty signal mask, no inherited descriptor but 0, 1 and 2, a PATH
// search prepared before fork (a #!-less script runs through /bin/sh; 127 not found, 126 not
// executable, as shells do) and, when asked, its own process group and a cgroup to join.
// Children are reaped with wait4 so their CPU time (and their reaped descendants') counts.
//
// The parent-death signal fires when the *thread* that started the child ends: start a
// child from a thread that outlives it (every caller here waits on the thread it started on).

#include "exec/command.hpp"
#include "util/error.hpp"

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace xb {

class Cgroup;

/// How a child ended.
struct ExitInfo {
  int exit_code = -1;        ///< exit status, or -1 when killed by a signal
  int signal = 0;            ///< the signal that killed it, 0 if none
  double cpu_seconds = 0;    ///< user+system time of it and its reaped descendants
  bool ok() const { return exit_code == 0; }
  /// "exit 2", "killed by SIGKILL".
  std::string describe() const;
  /// The shell's $? for it: the exit code, or 128 + the signal.
  int status() const { return signal != 0 ? 128 + signal : exit_code; }
};

/// Which process group a child runs in.
enum class ProcessGroup {
  own,      ///< a new group led by the child: signal_group() reaches everything it starts
  inherit,  ///< the caller's group: a Ctrl-C at the terminal reaches it directly
};
/// Where a child's stdin comes from.
enum class InputFrom {
  null,     ///< /dev/null
  inherit,  ///< the caller's own stdin
  fd,       ///< SpawnOptions::in_fd (the caller keeps and closes it)
  pipe,     ///< a pipe the caller writes through Subprocess::stdin_fd()
};
/// Where a child's stdout or stderr goes.
enum class OutputTo {
  pipe,     ///< a pipe the caller reads through stdout_fd() / stderr_fd()
  discard,  ///< /dev/null
  inherit,  ///< the caller's own stdout / stderr
  fd,       ///< SpawnOptions::out_fd / err_fd (the caller keeps and closes it)
  merge,    ///< stderr only: wherever stdout goes (one pipe for both when stdout is a pipe)
};
/// How Command::env makes the child's environment.
enum class EnvFrom {
  inherited,  ///< the caller's environment with Command::env set on top
  command,    ///< Command::env alone
};

/// How to start a child. The defaults suit a build job: own group, nothing on stdin,
/// stdout and stderr merged into one pipe, SIGKILL when xbuild dies.
struct SpawnOptions {
  ProcessGroup group = ProcessGroup::own;  ///< own or the caller's process group
  InputFrom in = InputFrom::null;          ///< stdin
  int in_fd = -1;                          ///< for InputFrom::fd
  OutputTo out = OutputTo::pipe;           ///< stdout (not merge)
  int out_fd = -1;                         ///< for OutputTo::fd
  OutputTo err = OutputTo::merge;          ///< stderr
  int err_fd = -1;                         ///< for OutputTo::fd
  EnvFrom env = EnvFrom::inherited;        ///< environment on top of ours, or replaced
  int death_signal = SIGKILL;              ///< sent to the child when the starting thread dies
  const Cgroup* cgroup = nullptr;          ///< a cgroup the child joins before it execs
};

/// A running child. Moving transfers it; destroying one that was not waited for kills it
/// (its group, when it has its own) and reaps it.
class Subprocess {
public:
  /// The old name of OutputTo, for callers written against start(cmd, Output).
  using Output = OutputTo;

  /// Starts `cmd`; throws Error(environment) naming argv[0] when no process can be made
  /// (no pipe, no fork). A command that is not found or not executable still starts, and
  /// exits 127 or 126 with a message on its stderr, as in a shell.
  static Subprocess start(const Command& cmd, const SpawnOptions& options = {});
  /// start() with stdout as given and stderr merged into it.
  static Subprocess start(const Command& cmd, OutputTo output);

  /// Owns no child.
  Subprocess();
  Subprocess(Subprocess&& o) noexcept;
  Subprocess& operator=(Subprocess&& o) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  /// True while it owns a child that has not been waited for.
  bool running() const { return m_pid > 0 && !m_reaped; }
  /// The child's pid (= its process group id with ProcessGroup::own).
  pid_t pid() const { return m_pid; }
  /// A pidfd of the child: poll() reports it readable once the child has exited (-1 if none).
  int pidfd() const { return m_pidfd; }
  /// The write end of the stdin pipe (-1 unless InputFrom::pipe or once closed).
  int stdin_fd() const { return m_in; }
  /// The read end of the stdout pipe (the merged one with OutputTo::merge; -1 if none).
  int stdout_fd() const { return m_out; }
  /// The read end of a separate stderr pipe (-1 if none).
  int stderr_fd() const { return m_err; }
  /// stdout_fd(), the name the scheduler and older callers use.
  int fd() const { return m_out; }
  /// Closes the stdin pipe: the child then reads EOF.
  void close_stdin();
  /// Closes the stdout pipe (after EOF, or to stop reading).
  void close_stdout();
  /// Closes the stderr pipe.
  void close_stderr();
  /// close_stdout(), the name the scheduler and older callers use.
  void close_fd() { close_stdout(); }
  /// Sends `sig` to the child's whole process group (ProcessGroup::own), or to the child
  /// alone when it shares the caller's group. Nothing once it has been waited for.
  void signal_group(int sig) const;
  /// True once the child has exited, without reaping it: its pid and group id stay
  /// reserved, so what it left in its group can still be killed by that id.
  bool exited() const;
  /// Blocks until the child exits and returns how (EINTR is retried).
  ExitInfo wait();
  /// Non-blocking wait: true and fills `info` when it has exited.
  bool try_wait(ExitInfo& info);

private:
  void reset() noexcept;
  pid_t m_pid = -1;
  ProcessGroup m_group = ProcessGroup::own;
  bool m_reaped = false;
  int m_in = -1;
  int m_out = -1;
  int m_err = -1;
  int m_pidfd = -1;
};

/// What capture() reads from a child.
struct CaptureOptions {
  std::optional<std::string> input;        ///< written to stdin, then closed (none: /dev/null)
  OutputTo err = OutputTo::merge;           ///< stderr: merge into the output, discard, inherit or fd
  int err_fd = -1;                          ///< for OutputTo::fd (the caller keeps and closes it)
  std::size_t limit = std::size_t{1} << 20; ///< output kept; the rest is read and dropped
  ProcessGroup group = ProcessGroup::own;   ///< the child's process group
};
/// A finished child and its output.
struct Captured {
  ExitInfo exit;              ///< how it ended
  std::string output;         ///< stdout (and stderr when merged), at most `limit` bytes
  bool truncated = false;     ///< more than `limit` bytes came
  bool ok() const { return exit.ok(); }
  /// "`cmd` failed (exit 2): <output>", for messages.
  std::string failure(const Command& cmd) const;
};
/// Runs `cmd` to the end and returns its output (ccache's exec_to_string). Throws Error only
/// when no process can be made; a command that is not found comes back as exit 127.
Captured capture(const Command& cmd, const CaptureOptions& options = {});

/// Runs `cmd` with output discarded; returns the exit code (127 when not found, 128+sig).
int run_status(const Command& cmd);

/// Runs `cmd` in a process group of its own and waits. A SIGINT, SIGTERM or SIGHUP that
/// reaches xbuild meanwhile (Ctrl-C at the terminal, or a signal sent to xbuild alone) is
/// passed on to that whole group, so tools that defer signals in their main process while
/// their workers run (mmdebstrap) still stop; once the child has ended, the signal is thrown
/// as Error(Exit::interrupted), so the caller unwinds and cleans up instead of dying halfway.
/// Otherwise returns the child's status(). options.group is ignored. One at a time.
int run_interruptible(const Command& cmd, const SpawnOptions& options = {});

/// Replaces this process with `cmd` (execve: its env on top of ours, its cwd, the same PATH
/// search and #!-less script handling as Subprocess, SIGPIPE back to default, stdio
/// flushed). Returns only when that fails, with the errno (ENOENT when not found).
[[nodiscard]] int exec_replace(const Command& cmd);

/// The file `name` runs as: itself when it holds a '/', else the first executable regular
/// file of that name on `path` (default: $PATH). nullopt when there is none.
std::optional<std::filesystem::path> find_program(const std::string& name, const char* path = nullptr);

/// The number of CPUs this process may use.
int cpu_count();

}  // namespace xb
