#pragma once
// The ssh client as xbuild drives it: one function builds the options every call shares
// (batch mode, port, identity, a known_hosts file of xbuild's own, timeouts), and one turns
// ssh's stderr into an error that names the runner, what failed and what to check. Children
// are xb::Subprocess started in the caller's process group (ProcessGroup::inherit), so that
// killing the `__runner-exec` job's group also kills every ssh, rsync and tar it started.

#include "exec/subprocess.hpp"

#include "util/temp.hpp"

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xb::runner {

/// How to reach one runner.
struct SshTarget {
  std::string host;                              ///< "user@host" or "host"
  int port = 22;
  std::string identity;                          ///< absolute private key path ("" = ssh default)
  std::string known_hosts;                       ///< xbuild's own known_hosts file
  int connect_timeout = 10;                      ///< seconds
  std::string control_path;                      ///< a master connection to reuse ("" = none)
  std::string origin;                            ///< "runner for linux/arm64 in /p/xbuild.toml", for errors
  /// "user@host:port".
  std::string address() const;
};

/// `ssh` and the options every call shares, without the host: callers append "--", the host
/// and the remote command line. Each option is its own argv element (no local shell).
std::vector<std::string> ssh_argv(const SshTarget& t);
/// The same options as one string for rsync's -e, each word through rsync_quote.
std::string rsync_rsh(const SshTarget& t);
/// Explains a failed ssh call (ssh exit 255) from its stderr: which runner, what failed, what
/// to check. `step` says what xbuild was doing ("connect", "ship the source", ...).
std::string explain_ssh_failure(const SshTarget& t, std::string_view step, std::string_view ssh_stderr);
/// Throws Error(usage) when `host` could be taken for an ssh option or holds whitespace.
void check_host(std::string_view host, std::string_view origin);

/// A child started in the caller's process group.
using Child = Subprocess;
/// Throws Error(environment) saying what to install when `tool` is not on PATH.
void require_program(const std::string& tool);
/// Starts argv (PATH lookup) in the caller's process group with the given stdin/stdout/stderr
/// fds (-1 = inherit); it inherits no other descriptor. Throws Error(environment) when the
/// program is not installed or cannot start.
Child spawn(const std::vector<std::string>& argv, int in_fd = -1, int out_fd = -1, int err_fd = -1);
/// Waits for the child; returns its exit code, or 128+signal.
int wait_child(Child& c);
/// One authenticated connection that later ssh calls (and rsync's) share through a control
/// socket, so a runner build pays for one handshake instead of one per step. The master is a
/// child in our process group like the others.
class MasterConnection {
public:
  MasterConnection() = default;
  MasterConnection(const MasterConnection&) = delete;
  MasterConnection& operator=(const MasterConnection&) = delete;
  /// Stops the master, if started.
  ~MasterConnection();
  /// Connects; on success sets t.control_path and returns true. The socket is in a fresh
  /// directory that is checked to be ours and 0700, and the master counts as ready only when
  /// the socket there is ours and our master process answers `ssh -O check` through it. On failure
  /// returns false and leaves `t` as it was (the next plain ssh call then reports what is wrong).
  bool start(SshTarget& t);

private:
  /// True when `ssh -O check` on m_path is answered by our master (its pid, m_child's).
  bool master_alive(const SshTarget& t) const;
  Child m_child;
  TempDirectory m_dir;       ///< private (0700) directory holding the control socket
  std::string m_path;  ///< the control socket, inside m_dir
};

/// For the `__runner-exec` process: when xbuild dies (parent-death signal) or a SIGINT,
/// SIGTERM, SIGHUP or SIGPIPE arrives, kill every child spawn() started, then exit 128+sig.
/// A dead ssh closes its connection, and the runner then ends the remote build.
void kill_children_on_exit_signals();

}  // namespace xb::runner
