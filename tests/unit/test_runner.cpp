// The runner's string grammars and remote script, checked against the real parsers: every
// quoted word is fed to /bin/sh (and bash), the ssh option quoting to `ssh -G`, and the remote
// build script is run for real with local directories standing in for the runner's.

#include "runner/quote.hpp"
#include "temp_dir.hpp"
#include "runner/runner.hpp"
#include "config/project.hpp"
#include "runner/ssh.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace xb;
using namespace xb::runner;
namespace fs = std::filesystem;

namespace {

/// Runs argv, stdin from a pipe that stays open (as the ssh channel does), returns
/// {exit code, output}.
std::pair<int, std::string> run_with_open_stdin(const std::vector<std::string>& argv) {
  int in[2], out[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  Child c = spawn(argv, in[0], out[1], out[1]);
  ::close(in[0]);
  ::close(out[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int rc = wait_child(c);
  ::close(in[1]);
  return {rc, text};
}

/// Runs argv, stdin from /dev/null; returns {exit code, stdout and stderr merged}.
std::pair<int, std::string> run_merged(const std::vector<std::string>& argv) {
  Captured c = capture(Command{argv, {}, {}});
  return {c.exit.status(), c.output};
}

/// A fresh private directory (util's TempDirectory: unguessable, removed afterwards).
struct TempDir {
  test::TempDir t{"runner"};
  fs::path dir = t.path;
};

}  // namespace

TEST_CASE("runner::rsync_quote doubles quotes the way rsync's -e splitter wants") {
  CHECK(rsync_quote("plain") == "'plain'");
  CHECK(rsync_quote("a b") == "'a b'");
  CHECK(rsync_quote("it's") == "'it''s'");
  CHECK(rsync_quote("") == "''");
}

TEST_CASE("runner::ssh_argv: ssh itself reads back the known_hosts path and port") {
  for (std::string path : {"/tmp/plain/known_hosts", "/tmp/a b/it's \"q\" 100% \\x/known_hosts"}) {
    CAPTURE(path);
    SshTarget t;
    t.host = "builder@example.invalid";
    t.port = 2222;
    t.known_hosts = path;
    auto argv = ssh_argv(t);
    // `ssh -G` evaluates the options and prints the result without connecting.
    argv.insert(argv.begin() + 1, "-G");
    argv.insert(argv.end(), {"--", t.host});
    auto [rc, out] = run_merged(argv);
    REQUIRE(rc == 0);
    CHECK(out.find("\nuserknownhostsfile " + path + "\n") != std::string::npos);
    CHECK(out.find("\nport 2222\n") != std::string::npos);
    CHECK(out.find("\nbatchmode yes\n") != std::string::npos);
    CHECK(out.find("\nstricthostkeychecking accept-new\n") != std::string::npos);
    CHECK(out.find("\nuser builder\n") != std::string::npos);
  }
}

TEST_CASE("runner::check_host rejects what ssh would take for an option") {
  CHECK_NOTHROW(check_host("user@host", "t"));
  CHECK_NOTHROW(check_host("host.example", "t"));
  for (std::string bad : {"", "-oProxyCommand=touch /tmp/x", "user@ho st", "a\nb"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(check_host(bad, "the [[runner]] in x.toml"), Error);
  }
}

TEST_CASE("runner::explain_ssh_failure names the runner, its config and what to check") {
  SshTarget t;
  t.host = "ci@arm-box";
  t.port = 2200;
  t.identity = "/keys/id";
  t.known_hosts = "/p/.xbuild/runner/known_hosts";
  t.origin = "the [[runner]] for linux/arm64 in /p/xbuild.toml";
  struct Case {
    const char* said;
    const char* hint;
  };
  for (const Case& c : {
         Case{"ssh: connect to host arm-box port 2200: Connection refused", "'port'"},
         Case{"ssh: Could not resolve hostname arm-box: Name or service not known", "does not resolve"},
         Case{"ssh: connect to host arm-box port 2200: Connection timed out", "did not answer"},
         Case{"ci@arm-box: Permission denied (publickey).", "/keys/id.pub"},
         Case{"Host key verification failed.", "ssh-keygen -R"},
         Case{"kex_exchange_identification: Connection closed by remote host", "dropped"},
         Case{"something new", "ssh -v"},
       }) {
    CAPTURE(c.said);
    std::string m = explain_ssh_failure(t, "connect", c.said);
    CHECK(m.find("ci@arm-box:2200") != std::string::npos);
    CHECK(m.find("/p/xbuild.toml") != std::string::npos);
    CHECK(m.find(c.said) != std::string::npos);
    CHECK(m.find(c.hint) != std::string::npos);
  }
}

TEST_CASE("runner::remote_build_script runs for real: dirs, files, env, cwd, argv, exit code") {
  TempDir tmp;
  ExecSpec s;
  s.remote_src = tmp.dir / "src dir";
  s.remote_cwd = s.remote_src;
  s.remote_build = tmp.dir / "build" / "linux_amd64";
  s.remote_out = tmp.dir / "out" / "linux_amd64";
  fs::create_directories(s.remote_src);
  fs::create_directories(s.remote_out);
  write_file_atomic(s.remote_out / "stale", "old output");
  s.files = {{(tmp.dir / "toolchain" / "it's.cmake").string(), "set(X 'q' \"d\" $HOME)\nline2\n"}};
  s.env = {{"ODD", "a 'b' \"c\" $HOME `x`\nnext"}, {"EMPTY", ""}};
  s.argv = {"sh", "-c", "printf '%s|%s|%s|' \"$ODD\" \"$1\" \"$(pwd)\"; ls \"$2\"; exit 3", "argv0", "it's $x", s.remote_out.string()};

  auto [rc, out] = run_with_open_stdin({"sh", "-c", remote_build_script(s)});
  CHECK(rc == 3);
  CHECK(out == "a 'b' \"c\" $HOME `x`\nnext|it's $x|" + s.remote_src.string() + "|");  // stale output removed: ls prints nothing
  CHECK(fs::is_directory(s.remote_build));
  CHECK(read_file(tmp.dir / "toolchain" / "it's.cmake") == "set(X 'q' \"d\" $HOME)\nline2\n");
}

TEST_CASE("runner::remote_build_script says which step failed") {
  TempDir tmp;
  ExecSpec s;
  s.remote_cwd = tmp.dir / "missing";
  s.remote_build = tmp.dir / "b";
  s.remote_out = tmp.dir / "o";
  s.argv = {"true"};
  auto [rc, out] = run_with_open_stdin({"sh", "-c", remote_build_script(s)});
  CHECK(rc == 125);
  CHECK(out.find("xbuild runner: cannot enter " + (tmp.dir / "missing").string()) != std::string::npos);
}

TEST_CASE("runner spec: JSON round trip, and a clear error for a bad file") {
  TempDir tmp;
  ExecSpec s;
  s.ssh.host = "u@h";
  s.ssh.port = 2022;
  s.ssh.identity = "/k/id";
  s.ssh.known_hosts = "/kh";
  s.ssh.origin = "o";
  s.sync = Sync::rsync;
  s.platform = "linux/arm64";
  s.local_src = "/p";
  s.remote_src = "/w/p";
  s.excludes = {".xbuild", ".git"};
  s.local_out = "/p/.xbuild/out/x";
  s.remote_out = "/w/p/.xbuild/out/x";
  s.remote_build = "/w/p/.xbuild/build/x";
  s.remote_cwd = "/w/p";
  s.argv = {"make", "it's"};
  s.env = {{"A", "1"}};
  s.files = {{"/w/t.cmake", "x\n"}};
  write_spec(tmp.dir / "s.json", s);
  ExecSpec r = read_spec(tmp.dir / "s.json");
  CHECK(r.ssh.host == "u@h");
  CHECK(r.ssh.port == 2022);
  CHECK(r.ssh.identity == "/k/id");
  CHECK(r.sync == Sync::rsync);
  CHECK(r.excludes == s.excludes);
  CHECK(r.argv == s.argv);
  CHECK(r.env == s.env);
  CHECK(r.files == s.files);
  CHECK(r.remote_cwd == "/w/p");

  write_file_atomic(tmp.dir / "bad.json", "{\"host\": 1}");
  try {
    read_spec(tmp.dir / "bad.json");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::usage);
    CHECK(std::string(e.what()).find("bad.json") != std::string::npos);
  }
}

TEST_CASE("runner::target_for checks the [[runner]] entry and resolves the key") {
  TempDir tmp;
  Project project;
  project.dir = tmp.dir;
  project.file = tmp.dir / "xbuild.toml";
  fs::create_directories(tmp.dir / "keys");
  write_file_atomic(tmp.dir / "keys" / "id", "not really a key");
  RunnerSection r;
  r.platform = "linux/arm64";
  r.host = "ci@arm-box";
  r.port = 2200;
  r.identity = "keys/id";
  r.workdir = "/var/tmp/xb";

  SshTarget t = target_for(project, r, tmp.dir / ".xbuild");
  CHECK(t.identity == (tmp.dir / "keys" / "id").string());
  CHECK(t.known_hosts == (tmp.dir / ".xbuild" / "runner" / "known_hosts").string());
  CHECK(t.address() == "ci@arm-box:2200");
  CHECK(t.origin.find(project.file.string()) != std::string::npos);
  CHECK(t.origin.find("linux/arm64") != std::string::npos);

  auto error_of = [&](RunnerSection bad, Exit code) {
    try {
      target_for(project, bad, tmp.dir / ".xbuild");
    } catch (const Error& e) {
      CHECK(e.code() == code);
      CHECK(std::string(e.what()).find(project.file.string()) != std::string::npos);
      return std::string(e.what());
    }
    FAIL("no error");
    return std::string();
  };
  RunnerSection bad = r;
  bad.identity = "keys/missing";
  CHECK(error_of(bad, Exit::environment).find((tmp.dir / "keys" / "missing").string()) != std::string::npos);
  bad = r;
  bad.workdir = "relative/dir";
  CHECK(error_of(bad, Exit::usage).find("absolute") != std::string::npos);
  bad = r;
  bad.port = 0;
  CHECK(error_of(bad, Exit::usage).find("port 0") != std::string::npos);
  bad = r;
  bad.host = "-oProxyCommand=x";
  CHECK(error_of(bad, Exit::usage).find("-oProxyCommand=x") != std::string::npos);
}

TEST_CASE("runner::workdir_check_script makes a missing workdir 0700 and refuses unsafe ones (sh and bash)") {
  TempDir tmp;
  SshTarget t;
  t.host = "u@h";
  t.origin = "the [[runner]] in /p/xbuild.toml";
  auto check = [&](const std::string& shell, const fs::path& wd) {
    auto [rc, out] = run_merged({shell, "-c", "(\n" + workdir_check_script(wd.string()) + ")"});
    return workdir_problem(t, wd.string(), split(out, '\n'));
  };
  for (const std::string shell : {"sh", "bash"}) {
    CAPTURE(shell);
    fs::path base = tmp.dir / shell;
    fs::create_directories(base);
    fs::permissions(base, fs::perms::owner_all);

    fs::path fresh = base / "new dir" / "work";
    CHECK(check(shell, fresh) == "");
    CHECK((fs::status(fresh).permissions() & fs::perms::all) == fs::perms::owner_all);

    fs::path open = base / "open";
    fs::create_directories(open);
    fs::permissions(open, fs::perms::all);
    CHECK(check(shell, open).find("workdir " + open.string() + " is not safe to build in: it is writable by other users (mode 777)") != std::string::npos);
    CHECK(check(shell, open).find("u@h:22 (the [[runner]] in /p/xbuild.toml)") != std::string::npos);

    fs::path under_open = open / "w";
    fs::create_directories(under_open);
    fs::permissions(under_open, fs::perms::owner_all);
    CHECK(check(shell, under_open).find(open.string() + " above it is writable by other users and not sticky (mode 777)") != std::string::npos);

    fs::path sticky = base / "sticky";
    fs::create_directories(sticky);
    fs::permissions(sticky, fs::perms::all | fs::perms::sticky_bit);
    CHECK(check(shell, sticky / "w") == "");
    fs::create_directory_symlink(sticky / "w", base / "link");  // a link of ours to a good dir
    CHECK(check(shell, base / "link") == "");
  }
  CHECK(workdir_problem(t, "/w", {"workdir-uid 1000"}).find("the check did not finish") != std::string::npos);
  CHECK(workdir_problem(t, "/w", {"workdir-uid 1000", "workdir-bad owner 0 /w"}).find("it is owned by uid 0, not by the runner user (uid 1000)") != std::string::npos);
}
