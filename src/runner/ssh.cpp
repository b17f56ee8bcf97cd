// ssh's exit code 255 means "ssh itself failed", and the reason is only in its stderr, in
// OpenSSH's words. explain_ssh_failure keeps those words and adds the one thing to check for
// the common cases; anything unknown is still reported with the runner and ssh's message.
// Paths go to ssh as separate argv elements where ssh allows it; UserKnownHostsFile can only
// be given with -o, whose value ssh tokenizes and %-expands, so it gets ssh's own quoting.

#include "runner/ssh.hpp"

#include "runner/quote.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace xb::runner {

namespace {

/// A value for `ssh -o Key=value`: ssh splits it like a config line (quotes, backslashes)
/// and expands %-tokens, so: double quotes, backslash before " and \, and %%.
std::string ssh_option_value(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '%') out += '%';
    out += c;
  }
  return out + "\"";
}

/// `-i` paths are %-expanded by ssh (but not tokenized).
std::string ssh_path_arg(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

// The children alive now, for the signal handler (plain array: async-signal-safe).
constexpr int k_max_children = 8;
volatile pid_t g_children[k_max_children] = {};

void remember(pid_t pid) {
  for (auto& c : g_children) {
    if (c == 0) {
      c = pid;
      return;
    }
  }
}

void forget(pid_t pid) {
  for (auto& c : g_children) {
    if (c == pid) c = 0;
  }
}

extern "C" void kill_children_and_exit(int sig) {
  ::signal(SIGTERM, SIG_IGN);
  if (::getpgrp() == ::getpid()) {
    ::kill(0, SIGTERM);  // the scheduler's job group: our children and theirs (rsync's ssh)
  } else {
    for (auto& c : g_children) {
      if (c > 0) ::kill(c, SIGTERM);
    }
  }
  ::_exit(128 + sig);
}

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

}  // namespace

std::string SshTarget::address() const { return fmt::format("{}:{}", host, port); }

void check_host(std::string_view host, std::string_view origin) {
  bool bad = host.empty() || host.front() == '-' ||
             std::any_of(host.begin(), host.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; });
  if (bad)
    fail(Exit::usage, "{}: host '{}' is not a valid \"user@host\" (no spaces, must not start with '-')", origin, host);
}

std::vector<std::string> ssh_argv(const SshTarget& t) {
  std::vector<std::string> a = {
    "ssh", "-T", "-e", "none",
    "-p", std::to_string(t.port),
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=accept-new",
    "-o", "UserKnownHostsFile=" + ssh_option_value(t.known_hosts),
    "-o", fmt::format("ConnectTimeout={}", t.connect_timeout),
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=4",
    "-o", "LogLevel=ERROR",
  };
  if (!t.identity.empty()) {
    a.insert(a.end(), {"-i", ssh_path_arg(t.identity), "-o", "IdentitiesOnly=yes"});
  }
  if (!t.control_path.empty()) {
    a.insert(a.end(), {"-o", "ControlMaster=no", "-o", "ControlPath=" + ssh_option_value(t.control_path)});
  }
  return a;
}

std::string rsync_rsh(const SshTarget& t) {
  std::vector<std::string> words;
  for (const auto& a : ssh_argv(t)) words.push_back(rsync_quote(a));
  return join(words, " ");
}

std::string explain_ssh_failure(const SshTarget& t, std::string_view step, std::string_view ssh_stderr) {
  std::string said(trim(ssh_stderr));
  std::string check;
  if (contains(said, "Connection refused")) {
    check = fmt::format("nothing accepts connections on port {} of that host: check that sshd runs there and that "
                        "'port' in the [[runner]] entry is right", t.port);
  } else if (contains(said, "Could not resolve hostname") || contains(said, "Name or service not known")) {
    check = "the host name does not resolve: check 'host' in the [[runner]] entry (user@host)";
  } else if (contains(said, "timed out") || contains(said, "No route to host") || contains(said, "Network is unreachable")) {
    check = "the host did not answer: check that it is up and reachable from here (firewall, VPN) and the port";
  } else if (contains(said, "REMOTE HOST IDENTIFICATION HAS CHANGED") || contains(said, "Host key verification failed")) {
    check = fmt::format("the runner's host key is not the one recorded in {}: if the runner was reinstalled, remove its "
                        "line there (ssh-keygen -R '[host]:{}' -f {}); otherwise do not trust it", t.known_hosts, t.port,
                        t.known_hosts);
  } else if (contains(said, "Permission denied") || contains(said, "Too many authentication failures")) {
    check = t.identity.empty()
              ? "authentication failed: set 'identity' in the [[runner]] entry to a private key whose public key is in the "
                "runner user's ~/.ssh/authorized_keys (xbuild uses BatchMode: no passwords, no prompts)"
              : fmt::format("authentication failed with the key {}: put {}.pub into ~/.ssh/authorized_keys of that user on "
                            "the runner, and check the user name in 'host' (xbuild uses BatchMode: no passwords, no "
                            "passphrase prompts; a key with a passphrase needs ssh-agent)", t.identity, t.identity);
  } else if (contains(said, "UNPROTECTED PRIVATE KEY") || contains(said, "bad permissions")) {
    check = fmt::format("ssh refuses a private key others can read: chmod 600 {}", t.identity);
  } else if (contains(said, "Connection closed") || contains(said, "Connection reset") || contains(said, "Broken pipe")) {
    check = "the connection dropped: check the network and the runner's sshd log";
  } else {
    check = "see ssh's message above; `ssh -v` with the same host, port and key shows more";
  }
  return fmt::format("runner {} ({}): cannot {}: ssh says: {}\n  check: {}", t.address(), t.origin, step,
                     said.empty() ? std::string("(nothing)") : said, check);
}

void require_program(const std::string& tool) {
  if (!find_program(tool))
    fail(Exit::environment, "cannot run {}: not found on PATH (install it: apt-get install {})", tool,
         tool == "ssh" ? "openssh-client" : tool);
}

Child spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd) {
  if (argv.empty()) throw Error("internal: empty command");
  require_program(argv[0]);
  SpawnOptions o;
  o.group = ProcessGroup::inherit;
  o.in = in_fd >= 0 ? InputFrom::fd : InputFrom::inherit;
  o.in_fd = in_fd;
  o.out = out_fd >= 0 ? OutputTo::fd : OutputTo::inherit;
  o.out_fd = out_fd;
  o.err = err_fd >= 0 ? OutputTo::fd : OutputTo::inherit;
  o.err_fd = err_fd;
  Child c = Subprocess::start(Command{argv, {}, {}}, o);
  remember(c.pid());
  return c;
}

int wait_child(Child& c) {
  if (!c.running()) return 255;
  ExitInfo info = c.wait();
  forget(c.pid());
  return info.exit_code < 0 && info.signal == 0 ? 255 : info.status();
}

MasterConnection::~MasterConnection() {
  if (m_child.running()) {
    m_child.signal_group(SIGTERM);  // the caller's group: the master alone
    wait_child(m_child);
  }
  if (!m_path.empty()) ::unlink(m_path.c_str());
}

namespace {

/// Why `path` is not a directory of ours that nobody else can enter, or "".
std::string not_private_dir(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "not a directory";
  if (st.st_uid != ::geteuid()) return fmt::format("owned by uid {}, not by us (uid {})", st.st_uid, ::geteuid());
  if ((st.st_mode & 077) != 0) return fmt::format("mode {:o}, not 700", st.st_mode & 07777);
  return {};
}

/// True when `path` is a socket we own (what our master made, not something else's).
bool our_socket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == ::geteuid();
}

}  // namespace

bool MasterConnection::master_alive(const SshTarget& t) const {
  // Asked over the socket itself (ssh -O check): a file that merely exists proves nothing.
  SshTarget check = t;
  check.control_path = m_path;
  auto argv = ssh_argv(check);
  argv.insert(argv.end(), {"-O", "check", "--", t.host});
  CaptureOptions o;
  o.group = ProcessGroup::inherit;
  Captured c = capture(Command{argv, {}, {}}, o);
  // When the socket does not speak ssh's mux protocol, ssh does not fail: it falls back to
  // connecting on its own and exits 0. Only the master's own answer counts, and it must be
  // our child's pid (not another master some socket leads to).
  return c.ok() && c.output.find(fmt::format("Master running (pid={})", m_child.pid())) != std::string::npos;
}

bool MasterConnection::start(SshTarget& t) {
  // Unix socket paths are short (108 bytes): /tmp, not the project's state dir (nor a long
  // $TMPDIR); a private directory so no other user can pre-create or reach the socket.
  // A helper ended by a signal exits at once (_exit) and cannot remove its directory: the
  // next one clears those whose process is gone.
  remove_stale_temps("/tmp", "xbuild-ssh-");
  m_dir = TempDirectory::in("/tmp", "xbuild-ssh-");
  // mkdtemp made it 0700 and ours; checked anyway, since everything below relies on it.
  if (std::string why = not_private_dir(m_dir.path().string()); !why.empty()) {
    fmt::print(stderr, "xbuild runner: not sharing one ssh connection: {} is {}\n", m_dir.path().string(), why);
    return false;
  }
  m_path = (m_dir.path() / "sock").string();
  SshTarget plain = t;
  plain.control_path.clear();
  auto argv = ssh_argv(plain);
  argv.insert(argv.end(), {"-N", "-o", "ControlMaster=yes", "-o", "ControlPath=" + ssh_option_value(m_path), "--", t.host});
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  m_child = spawn(argv, devnull, devnull, -1);
  ::close(devnull);
  // The socket appears once the master has logged in; then the master itself must answer
  // `ssh -O check` through it. Give up when the master exits, or when what appeared is not
  // our master's socket: the later calls then connect on their own.
  auto give_up = [&] {
    if (m_child.running()) {
      m_child.signal_group(SIGTERM);
      wait_child(m_child);
    }
    return false;
  };
  for (int i = 0; i < (t.connect_timeout + 5) * 50; ++i) {
    if (ExitInfo gone; m_child.try_wait(gone)) {
      forget(m_child.pid());
      return false;
    }
    struct stat st {};
    if (::lstat(m_path.c_str(), &st) == 0) {
      if (!our_socket(m_path) || !not_private_dir(m_dir.path().string()).empty()) return give_up();
      for (int tries = 0; tries < 5; ++tries) {
        if (master_alive(t)) {
          t.control_path = m_path;
          return true;
        }
        if (ExitInfo gone; m_child.try_wait(gone)) {
          forget(m_child.pid());
          return false;
        }
        ::usleep(20000);
      }
      return give_up();
    }
    ::usleep(20000);
  }
  return give_up();
}

void kill_children_on_exit_signals() {
  struct sigaction sa {};
  sa.sa_handler = kill_children_and_exit;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::sigaction(sig, &sa, nullptr);
  pid_t parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) kill_children_and_exit(SIGTERM);  // xbuild died before prctl
}

}  // namespace xb::runner
