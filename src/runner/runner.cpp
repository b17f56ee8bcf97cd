// A runner build is three ssh steps (ship, build, fetch) behind one local process, so it is
// one scheduler job like any other. The checks that can fail for reasons outside the build
// (connection, key, host key, architecture) run once in prepare_build, before any job
// starts, and end as an environment error that says which runner and what to check; what
// run_exec reports afterwards is the build's own result.
//
// The remote side gets exactly one shell command line per step. Every word in it goes
// through shell_quote (util/strings.hpp), and the line itself is run as `sh -c LINE`, so the runner user's login
// shell only ever has to parse one single-quoted word.
//
// On the runner the build runs in its own session, and a watcher reads the ssh channel:
// when xbuild goes away (Ctrl-C, timeout, a failed sibling), the channel closes and the
// watcher kills the whole session there, since sshd itself does not signal a command that
// has no terminal.

#include "runner/runner.hpp"

#include "runner/quote.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <chrono>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace fs = std::filesystem;

namespace xb::runner {

namespace {

constexpr int k_ssh_failed = 255;
constexpr const char* k_probe_ok = "xbuild-runner-probe-ok";

std::string_view to_string(Sync s) { return s == Sync::rsync ? "rsync" : "tar"; }

bool valid_env_name(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k.front()))) return false;
  return std::all_of(k.begin(), k.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  for (const auto& dir : split(path ? path : "/usr/bin:/bin", ':')) {
    if (::access((fs::path(dir) / tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

/// Whether a runner whose kernel reports `machine` can build natively for `target`.
bool machine_serves(const Platform& machine, const Platform& target) {
  if (machine.arch == target.arch) return true;
  return (machine.arch == "arm64" && target.arch == "arm") || (machine.arch == "amd64" && target.arch == "386");
}

/// The remote command line for a script: `sh -c 'SCRIPT'`.
std::string remote_sh(const std::string& script) { return "sh -c " + shell_quote(script); }

/// ssh ... -- host 'sh -c ...'
std::vector<std::string> ssh_command(const SshTarget& t, const std::string& script) {
  auto a = ssh_argv(t);
  a.insert(a.end(), {"--", t.host, remote_sh(script)});
  return a;
}

/// "remote dir" for rsync: host:path/ (with -s the path is not parsed by a remote shell).
std::string rsync_remote(const SshTarget& t, const fs::path& dir) { return t.host + ":" + dir.string() + "/"; }

/// argv for messages.
std::string display(const std::vector<std::string>& argv) { return shell_display(argv); }

void say(const std::string& line) {
  fmt::print("xbuild runner: {}\n", line);
  std::fflush(stdout);
}

/// A pipe whose two ends close themselves.
struct Pipe {
  Fd r, w;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail(Exit::environment, "cannot create a pipe: {}", std::strerror(errno));
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

/// Runs producer | consumer; returns both exit codes.
std::pair<int, int> run_pipeline(const std::vector<std::string>& producer, const std::vector<std::string>& consumer) {
  Pipe p;
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Child a = spawn(producer, devnull.get(), p.w.get(), -1);
  Child b;
  try {
    b = spawn(consumer, p.r.get(), -1, -1);
  } catch (...) {
    devnull.reset();
    p.w.reset();
    p.r.reset();
    wait_child(a);
    throw;
  }
  devnull.reset();
  p.r.reset();
  p.w.reset();
  int ra = wait_child(a);
  int rb = wait_child(b);
  return {ra, rb};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// ssh failed after prepare_build's check had passed: its own words are already in the log.
std::string lost(const ExecSpec& s, std::string_view step) {
  return fmt::format("runner {} ({}): ssh failed while trying to {} (ssh's message is above)\n  check: that the runner "
                     "is still up and reachable from here, and its sshd log", s.ssh.address(), s.ssh.origin, step);
}

/// Several platforms may share a runner and so the remote tree: their ships take turns.
fs::path ship_lock(const ExecSpec& s) {
  return s.remote_src.parent_path() / fmt::format(".{}.xbuild-ship.lock", s.remote_src.filename().string());
}

/// Ships the source tree. Returns 0 or the failing exit code (after saying why).
int ship(const ExecSpec& s) {
  if (s.sync == Sync::rsync) {
    std::vector<std::string> a = {"rsync", "-rlpt", "--delete", "--protect-args", "-e", rsync_rsh(s.ssh),
                                  "--rsync-path=" + shell_command({"mkdir", "-p", "--", s.remote_src.string()}) + " && " +
                                    shell_command({"flock", ship_lock(s).string(), "rsync"})};
    for (const auto& e : s.excludes) a.push_back("--exclude=/" + e);
    a.push_back(s.local_src.string() + "/");
    a.push_back(rsync_remote(s.ssh, s.remote_src));
    Child c = spawn(a);
    int rc = wait_child(c);
    if (rc == 0) return 0;
    say(rc == k_ssh_failed ? lost(s, "ship the source tree")
                           : fmt::format("rsync of the source tree to {} failed (exit {}; see above)", s.ssh.address(), rc));
    return rc;
  }
  std::vector<std::string> tar = {"tar", "-C", s.local_src.string(), "--anchored"};
  for (const auto& e : s.excludes) tar.push_back("--exclude=./" + e);
  tar.insert(tar.end(), {"-cf", "-", "."});
  // Extract over the tree, then delete what the archive did not hold (but not the excluded
  // names: the runner's own .xbuild holds {build}). Nothing is removed that a concurrent
  // build of another platform could be reading.
  std::vector<std::string> find = {"find", ".", "-mindepth", "1", "("};
  for (std::size_t i = 0; i < s.excludes.size(); ++i) {
    if (i > 0) find.push_back("-o");
    find.insert(find.end(), {"-path", "./" + s.excludes[i]});
  }
  find.insert(find.end(), {")", "-prune", "-o", "-print"});
  if (s.excludes.empty()) find = {"find", ".", "-mindepth", "1", "-print"};
  std::string mirror = fmt::format(
    "export LC_ALL=C; list=$(mktemp) || exit 1\n"
    "tar --no-same-owner --quoting-style=literal -xvf - > \"$list\" || {{ rc=$?; rm -f \"$list\"; exit $rc; }}\n"
    "sed 's#/$##' \"$list\" | sort -u > \"$list.want\"\n"
    "{} | sort > \"$list.have\"\n"
    "comm -23 \"$list.have\" \"$list.want\" | while IFS= read -r f; do rm -rf -- \"$f\"; done\n"
    "rm -f \"$list\" \"$list.want\" \"$list.have\"\n",
    shell_command(find));
  std::string script = fmt::format("mkdir -p -- {0} && cd -- {0} && exec flock {1} sh -c {2}", shell_quote(s.remote_src.string()),
                                   shell_quote(ship_lock(s).string()), shell_quote(mirror));
  auto [rt, rs] = run_pipeline(tar, ssh_command(s.ssh, script));
  if (rt == 0 && rs == 0) return 0;
  if (rs == k_ssh_failed) say(lost(s, "ship the source tree"));
  else say(fmt::format("shipping the source tree to {} failed (local tar: exit {}, remote tar: exit {}; see above)",
                       s.ssh.address(), rt, rs));
  return rs != 0 ? rs : rt;
}

/// Brings {out} back into the local out dir, replacing what was there.
int fetch(const ExecSpec& s) {
  std::error_code ec;
  fs::remove_all(s.local_out, ec);
  fs::create_directories(s.local_out, ec);
  if (ec) {
    say(fmt::format("cannot create {}: {}", s.local_out.string(), ec.message()));
    return 1;
  }
  if (s.sync == Sync::rsync) {
    std::vector<std::string> a = {"rsync", "-rlpt", "--delete", "--protect-args", "-e", rsync_rsh(s.ssh),
                                  rsync_remote(s.ssh, s.remote_out), s.local_out.string() + "/"};
    Child c = spawn(a);
    int rc = wait_child(c);
    if (rc == 0) return 0;
    say(rc == k_ssh_failed ? lost(s, "fetch the outputs")
                           : fmt::format("rsync of {} from {} failed (exit {}; see above)", s.remote_out.string(), s.ssh.address(), rc));
    return rc;
  }
  std::string script = fmt::format("cd -- {} && tar -cf - .", shell_quote(s.remote_out.string()));
  auto [rs, rt] = run_pipeline(ssh_command(s.ssh, script), {"tar", "-C", s.local_out.string(), "--no-same-owner", "-xf", "-"});
  if (rt == 0 && rs == 0) return 0;
  if (rs == k_ssh_failed) say(lost(s, "fetch the outputs"));
  else say(fmt::format("fetching {} from {} failed (remote tar: exit {}, local tar: exit {}; see above)",
                       s.remote_out.string(), s.ssh.address(), rs, rt));
  return rs != 0 ? rs : rt;
}

/// Runs the build, its output going straight to ours. Returns its exit code.
int build(const ExecSpec& s) {
  // The runner's watcher ends the build when this pipe closes: keep the write end until
  // the build is over (O_CLOEXEC keeps it out of ssh itself).
  Pipe keepalive;
  Child c = spawn(ssh_command(s.ssh, remote_build_script(s)), keepalive.r.get(), -1, -1);
  keepalive.r.reset();
  int rc = wait_child(c);
  if (rc == k_ssh_failed) say(lost(s, "run the build"));
  else if (rc != 0) say(fmt::format("the build on {} failed with exit {}: `{}`", s.ssh.address(), rc, display(s.argv)));
  return rc;
}

fs::path expand_identity(const Project& project, const std::string& id) {
  if (id.empty()) return {};
  if (id == "~" || id.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return fs::path(home ? home : "/") / id.substr(id.size() > 1 ? 2 : 1);
  }
  fs::path p(id);
  return p.is_absolute() ? p : project.dir / p;
}

}  // namespace

// The remote check of a workdir, one line of output per finding (the path last, so it may
/// hold spaces): "workdir-uid UID", then "workdir-ok" or "workdir-bad REASON VALUE PATH".
/// A missing workdir is made 0700 (its missing parents with the user's umask). Rules, as
/// OpenSSH's StrictModes: each directory on the physical path up to it is owned by the
/// runner user or root and not writable by group or others unless sticky (/tmp); the workdir
/// itself is owned by the runner user and writable by nobody else; a symlink on the way is
/// owned by the runner user or root.
std::string workdir_check_script(const std::string& workdir) {
  return fmt::format(R"sh(wd={}
me=$(id -u); echo "workdir-uid $me"
if [ ! -e "$wd" ] && [ ! -L "$wd" ]; then
  mkdir -p -- "$(dirname -- "$wd")" 2>/dev/null; mkdir -m 700 -- "$wd" 2>/dev/null
fi
walk() {{ rest=${{1#/}}; p=; for_each "/"; while [ -n "$rest" ]; do
  c=${{rest%%/*}}; case $rest in */*) rest=${{rest#*/}};; *) rest=;; esac
  [ -n "$c" ] || continue; p="$p/$c"; for_each "$p" || return 1; done; }}
link_ok() {{ [ -L "$1" ] || return 0; o=$(stat -c %u -- "$1") || return 1
  [ "$o" = "$me" ] || [ "$o" = 0 ] || {{ echo "workdir-bad link $o $1"; return 1; }}; }}
dir_ok() {{ set -- "$1" $(stat -Lc '%u %a' -- "$1") || return 1
  if [ "$1" = "$real" ]; then
    [ "$2" = "$me" ] || {{ echo "workdir-bad owner $2 $1"; return 1; }}
    [ $((0$3 & 022)) = 0 ] || {{ echo "workdir-bad mode $3 $1"; return 1; }}
  else
    [ "$2" = "$me" ] || [ "$2" = 0 ] || {{ echo "workdir-bad parent-owner $2 $1"; return 1; }}
    [ $((0$3 & 022)) = 0 ] || [ $((0$3 & 01000)) != 0 ] || {{ echo "workdir-bad parent-mode $3 $1"; return 1; }}
  fi; }}
if ! real=$(cd -P -- "$wd" 2>/dev/null && pwd -P); then echo "workdir-bad missing - $wd"
else for_each() {{ link_ok "$1"; }}; if walk "$wd"; then for_each() {{ dir_ok "$1"; }}; walk "$real" && echo workdir-ok; fi; fi
)sh", shell_quote(workdir));
}

// Turns the check's findings into nothing (usable) or an error message.
std::string workdir_problem(const SshTarget& t, const std::string& workdir, const std::vector<std::string>& lines) {
  std::string uid = "?";
  for (const auto& l : lines) {
    if (l.rfind("workdir-uid ", 0) == 0) uid = l.substr(12);
    if (l == "workdir-ok") return {};
  }
  std::string why = "the check did not finish (the runner's shell printed nothing xbuild understands)";
  for (const auto& l : lines) {
    if (l.rfind("workdir-bad ", 0) != 0) continue;
    auto f = split(l.substr(12), ' ');
    if (f.size() < 3) continue;
    std::string path = l.substr(12 + f[0].size() + 1 + f[1].size() + 1);
    if (f[0] == "missing") why = "it does not exist and cannot be created";
    else if (f[0] == "owner") why = fmt::format("it is owned by uid {}, not by the runner user (uid {})", f[1], uid);
    else if (f[0] == "mode") why = fmt::format("it is writable by other users (mode {})", f[1]);
    else if (f[0] == "parent-owner") why = fmt::format("{} above it is owned by uid {}, neither the runner user (uid {}) nor root", path, f[1], uid);
    else if (f[0] == "parent-mode") why = fmt::format("{} above it is writable by other users and not sticky (mode {})", path, f[1]);
    else if (f[0] == "link") why = fmt::format("{} on its path is a symlink owned by uid {}", path, f[1]);
  }
  return fmt::format("runner {} ({}): workdir {} is not safe to build in: {}\n  check: another user could change what "
                     "is built there; set 'workdir' in that [[runner]] entry to a directory of the runner user's own "
                     "(for example under its home), or make it so: owned by that user, chmod 700",
                     t.address(), t.origin, workdir, why);
}

std::string remote_build_script(const ExecSpec& s) {
  auto q = [](const fs::path& p) { return shell_quote(p.string()); };
  auto or_die = [](const std::string& what) { return fmt::format(" || {{ echo {} >&2; exit 125; }}", shell_quote("xbuild runner: " + what)); };
  std::string sc;
  sc += "exec 3<&0\n";  // the ssh channel: EOF means xbuild went away
  if (s.clean_build) sc += fmt::format("rm -rf -- {}", q(s.remote_build)) + or_die("cannot remove " + s.remote_build.string()) + "\n";
  sc += fmt::format("mkdir -p -- {}", q(s.remote_build)) + or_die("cannot create " + s.remote_build.string()) + "\n";
  sc += fmt::format("rm -rf -- {0} && mkdir -p -- {0}", q(s.remote_out)) + or_die("cannot empty " + s.remote_out.string()) + "\n";
  for (const auto& [path, content] : s.files) {
    fs::path p(path);
    sc += fmt::format("mkdir -p -- {} && printf '%s' {} > {}", q(p.parent_path()), shell_quote(content), q(p)) +
          or_die("cannot write " + path) + "\n";
  }
  sc += fmt::format("cd -- {}", q(s.remote_cwd)) + or_die("cannot enter " + s.remote_cwd.string()) + "\n";
  for (const auto& [k, v] : s.env) sc += fmt::format("export {}\n", shell_quote(k + "=" + v));
  // A background job of a non-interactive shell is not a group leader, so setsid does not
  // fork: $! is the new session's id.
  sc += fmt::format("setsid {} </dev/null 3<&- &\n", shell_command(s.argv));
  sc += "pid=$!\n";
  sc += "( cat <&3 >/dev/null 2>&1; kill -TERM -$pid 2>/dev/null; sleep 5; kill -KILL -$pid 2>/dev/null ) >/dev/null 2>&1 &\n";
  sc += "watch=$!\n";
  sc += "exec 3<&-\n";
  sc += "wait $pid; rc=$?\n";
  sc += "kill $watch 2>/dev/null\n";
  sc += "exit $rc\n";
  return sc;
}

void write_spec(const fs::path& file, const ExecSpec& s) {
  namespace json = boost::json;
  json::object env;
  for (const auto& [k, v] : s.env) env[k] = v;
  json::array files;
  for (const auto& [p, c] : s.files) files.push_back(json::object{{"path", p}, {"content", c}});
  json::array argv, excludes;
  for (const auto& a : s.argv) argv.push_back(json::value(a));
  for (const auto& e : s.excludes) excludes.push_back(json::value(e));
  json::object o{
    {"host", s.ssh.host}, {"port", s.ssh.port}, {"identity", s.ssh.identity}, {"known_hosts", s.ssh.known_hosts},
    {"connect_timeout", s.ssh.connect_timeout}, {"origin", s.ssh.origin}, {"sync", std::string(to_string(s.sync))},
    {"platform", s.platform}, {"local_src", s.local_src.string()}, {"remote_src", s.remote_src.string()},
    {"excludes", excludes}, {"local_out", s.local_out.string()}, {"remote_out", s.remote_out.string()},
    {"remote_build", s.remote_build.string()}, {"clean_build", s.clean_build}, {"remote_cwd", s.remote_cwd.string()}, {"argv", argv},
    {"env", env}, {"files", files},
  };
  fs::create_directories(file.parent_path());
  write_file_atomic(file, json::serialize(o) + "\n");
}

ExecSpec read_spec(const fs::path& file) {
  namespace json = boost::json;
  try {
    json::object o = json::parse(read_file(file)).as_object();
    auto str = [&](const char* k) { return std::string(o.at(k).as_string()); };
    ExecSpec s;
    s.ssh.host = str("host");
    s.ssh.port = static_cast<int>(o.at("port").as_int64());
    s.ssh.identity = str("identity");
    s.ssh.known_hosts = str("known_hosts");
    s.ssh.connect_timeout = static_cast<int>(o.at("connect_timeout").as_int64());
    s.ssh.origin = str("origin");
    s.sync = str("sync") == "rsync" ? Sync::rsync : Sync::tar;
    s.platform = str("platform");
    s.local_src = str("local_src");
    s.remote_src = str("remote_src");
    for (const auto& e : o.at("excludes").as_array()) s.excludes.emplace_back(e.as_string());
    s.local_out = str("local_out");
    s.remote_out = str("remote_out");
    s.remote_build = str("remote_build");
    s.clean_build = o.at("clean_build").as_bool();
    s.remote_cwd = str("remote_cwd");
    for (const auto& a : o.at("argv").as_array()) s.argv.emplace_back(a.as_string());
    for (const auto& [k, v] : o.at("env").as_object()) s.env[std::string(k)] = std::string(v.as_string());
    for (const auto& f : o.at("files").as_array()) {
      const auto& fo = f.as_object();
      s.files.emplace_back(std::string(fo.at("path").as_string()), std::string(fo.at("content").as_string()));
    }
    if (s.argv.empty()) throw std::runtime_error("empty argv");
    return s;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(Exit::usage, "{}: not a runner spec written by xbuild: {}", file.string(), e.what());
  }
}

int run_exec(const ExecSpec& spec) {
  kill_children_on_exit_signals();
  auto t0 = std::chrono::steady_clock::now();
  ExecSpec s = spec;
  MasterConnection master;
  if (std::getenv("XBUILD_RUNNER_NO_MUX") == nullptr) master.start(s.ssh);
  say(fmt::format("shipping {} to {}:{} ({})", s.local_src.string(), s.ssh.address(), s.remote_src.string(), to_string(s.sync)));
  if (int rc = ship(s); rc != 0) return rc;
  double t_ship = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  say(fmt::format("building on {} in {}: {}", s.ssh.address(), s.remote_cwd.string(), display(s.argv)));
  if (int rc = build(s); rc != 0) return rc;
  double t_build = seconds_since(t1);

  auto t2 = std::chrono::steady_clock::now();
  if (int rc = fetch(s); rc != 0) return rc;
  say(fmt::format("fetched {} into {} (ship {:.2f}s, build {:.2f}s, fetch {:.2f}s)", s.remote_out.string(),
                  s.local_out.string(), t_ship, t_build, seconds_since(t2)));
  return 0;
}

SshTarget target_for(const Project& project, const RunnerSection& r, const fs::path& state_root) {
  SshTarget t;
  t.origin = fmt::format("the [[runner]] for {} in {}", r.platform, project.file.string());
  check_host(r.host, t.origin);
  if (!fs::path(r.workdir).is_absolute())
    fail(Exit::usage, "{}: workdir '{}' must be an absolute path on the runner", t.origin, r.workdir);
  if (r.port < 1 || r.port > 65535) fail(Exit::usage, "{}: port {} is not a TCP port (1-65535)", t.origin, r.port);
  t.host = r.host;
  t.port = r.port;
  fs::path identity = expand_identity(project, r.identity);
  if (!identity.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(identity, ec))
      fail(Exit::environment, "{}: identity {} does not exist: create the key (ssh-keygen -t ed25519 -f {}) and put its "
           ".pub into the runner user's ~/.ssh/authorized_keys", t.origin, identity.string(), identity.string());
    t.identity = identity.string();
  }
  fs::create_directories(state_root / "runner");
  t.known_hosts = (state_root / "runner" / "known_hosts").string();
  return t;
}

ProbeResult probe(const SshTarget& t, const Platform& platform, const std::string& workdir) {
  auto argv = ssh_argv(t);
  std::string script = fmt::format("echo machine=$(uname -m); command -v setsid >/dev/null && command -v flock "
                                   ">/dev/null && echo setsid; command -v rsync >/dev/null && echo rsync; echo {}", k_probe_ok);
  // In a subshell: its functions and variables stay there.
  if (!workdir.empty()) script += "\n(\n" + workdir_check_script(workdir) + ")\ntrue";
  argv.insert(argv.end(), {"--", t.host, remote_sh(script)});
  require_program(argv[0]);
  CaptureOptions merged;
  merged.group = ProcessGroup::inherit;
  Captured probed = capture(Command{argv, {}, {}}, merged);
  int rc = probed.exit.status();
  const std::string& out = probed.output;
  if (rc == k_ssh_failed) throw Error(explain_ssh_failure(t, "connect", out), Exit::environment);
  auto lines = split(out, '\n');
  auto has = [&](std::string_view l) { return std::find(lines.begin(), lines.end(), l) != lines.end(); };
  if (rc != 0 || !has(k_probe_ok))
    fail(Exit::environment, "runner {} ({}): its shell did not run xbuild's probe (exit {}): {}\n  check: the user's login "
         "shell must be a POSIX shell (sh, bash, dash, zsh)", t.address(), t.origin, rc, trim(out));
  if (!has("setsid")) fail(Exit::environment, "runner {} ({}) has no setsid or flock: install util-linux there", t.address(), t.origin);
  ProbeResult p;
  p.has_rsync = has("rsync");
  for (const auto& l : lines) {  // a chatty login script may print lines of its own: find ours
    if (l.rfind("machine=", 0) == 0) p.machine = l.substr(8);
  }
  if (!workdir.empty()) {
    std::string problem = workdir_problem(t, workdir, lines);
    if (!problem.empty()) throw Error(problem, Exit::environment);
  }
  std::optional<Platform> m;
  try {
    m = Platform::parse(p.machine);
  } catch (const Error&) {
    // An unknown uname -m: the output check after the build still catches a wrong machine.
  }
  if (m && !machine_serves(*m, platform))
    fail(Exit::environment, "runner {} ({}) is a {} machine (uname -m: {}), it cannot build {} natively: fix 'platform' "
         "or 'host' in that entry", t.address(), t.origin, m->str(), p.machine, platform.str());
  return p;
}

void prepare_build(const Project& project, PlatformPlan& plan, CleanBuild clean) {
  if (!plan.runner) throw Error("internal: runner::prepare_build on a plan without a runner");
  const RunnerSection& r = *plan.runner;

  // run_builds reports a thrown Error with its own exit code (3 here, 2 for bad input).
  auto unusable = [](Exit code, const std::string& msg) { throw Error(msg, code); };

  ExecSpec s;
  s.platform = plan.platform.str();
  // The state root holds logs/ and out/: the runner's files go beside them.
  fs::path dir = plan.paths.out.parent_path().parent_path() / "runner";
  // One connection before any job starts: reachable, authenticated, right machine, rsync?
  s.ssh = target_for(project, r, dir.parent_path());
  ProbeResult found = probe(s.ssh, plan.platform, r.workdir);
  bool has_rsync = found.has_rsync;

  // rsync when both ends have it (repeat builds send only what changed); XBUILD_RUNNER_SYNC
  // forces one.
  const char* forced = std::getenv("XBUILD_RUNNER_SYNC");
  std::string want = forced ? forced : "";
  if (want == "rsync" && !(has_rsync && on_path("rsync")))
    unusable(Exit::environment, fmt::format("XBUILD_RUNNER_SYNC=rsync, but rsync is missing {}",
                                            on_path("rsync") ? "on runner " + s.ssh.address() : std::string("here (apt-get install rsync)")));
  if (!want.empty() && want != "rsync" && want != "tar")
    unusable(Exit::usage, fmt::format("XBUILD_RUNNER_SYNC={}: expected rsync or tar", want));
  s.sync = want == "tar" ? Sync::tar : (has_rsync && on_path("rsync") ? Sync::rsync : Sync::tar);

  s.local_src = project.dir;
  s.remote_src = runner_path(r, project.dir);
  s.excludes = {".xbuild", ".git"};
  s.local_out = plan.paths.out;
  s.remote_out = runner_path(r, plan.paths.out);
  s.remote_build = runner_path(r, plan.paths.build);
  s.clean_build = clean == CleanBuild::yes;
  s.remote_cwd = plan.command.cwd.empty() ? s.remote_src : plan.command.cwd;

  // The generated toolchain files live in the (unshipped) state dir: send their content,
  // and point the command at their runner paths.
  std::vector<std::pair<std::string, std::string>> moved;
  for (const fs::path& f : {plan.paths.cmake_toolchain, plan.paths.meson_cross}) {
    std::error_code ec;
    if (f.empty() || !fs::is_regular_file(f, ec)) continue;
    std::string remote = runner_path(r, f).string();
    s.files.emplace_back(remote, read_file(f));
    moved.emplace_back(f.string(), remote);
  }
  auto relocate = [&](std::string v) {
    for (const auto& [from, to] : moved) v = replace_all(std::move(v), from, to);
    return v;
  };
  for (const auto& a : plan.command.argv) s.argv.push_back(relocate(a));
  for (const auto& [k, v] : plan.command.env) {
    if (!valid_env_name(k))
      unusable(Exit::usage, fmt::format("environment variable name '{}' (from {}) cannot be exported on a runner", k,
                                        project.file.string()));
    s.env[k] = relocate(v);
  }

  fs::path spec_file = dir / (plan.platform.dir_name() + ".json");
  write_spec(spec_file, s);

  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) unusable(Exit::environment, fmt::format("cannot find xbuild's own executable (/proc/self/exe): {}", ec.message()));
  plan.command.argv = {self.string(), "__runner-exec", spec_file.string()};
  plan.command.env.clear();  // the target's environment is for the runner, not for the local ssh
  plan.command.cwd = project.dir;
}

}  // namespace xb::runner
