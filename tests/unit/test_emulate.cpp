// Emulation pieces that need no qemu run: binfmt_misc parsing against fake proc dirs (the
// same override XBUILD_BINFMT_DIR the integration tests use), the rootfs cache key, path
// resolution inside a rootfs (and the sandbox's mount points made through util/in_root), the exec-in-rootfs argument round trip, the choice of how a
// foreign command runs, and the bench report formats.

#include "emulate/accelerate.hpp"
#include "emulate/bench_report.hpp"
#include "emulate/binfmt.hpp"
#include "emulate/ccache.hpp"
#include "emulate/qemu.hpp"
#include "emulate/rootfs.hpp"
#include "emulate/sandbox.hpp"
#include "exec/subprocess.hpp"
#include "util/error.hpp"
#include "util/in_root.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace xb;
using namespace xb::emulate;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "xbuild-emu-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

/// Sets an environment variable for the scope.
struct EnvVar {
  std::string name;
  std::optional<std::string> old;
  EnvVar(std::string n, const std::string& v) : name(std::move(n)) {
    if (const char* o = std::getenv(name.c_str())) old = o;
    ::setenv(name.c_str(), v.c_str(), 1);
  }
  ~EnvVar() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

const char* k_debian_aarch64 =
    "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"
    "magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

std::string handler_text(const std::string& interp, const std::string& flags, bool enabled = true) {
  return std::string(enabled ? "enabled" : "disabled") + "\ninterpreter " + interp + "\nflags: " + flags +
         "\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
}

bool has_problem(const BinfmtStatus& st, const std::string& what_part, const std::string& fix_part, bool fatal) {
  for (const auto& p : st.problems)
    if (p.what.find(what_part) != std::string::npos && p.fix.find(fix_part) != std::string::npos && p.fatal == fatal)
      return true;
  return false;
}

}  // namespace

TEST_CASE("emulate::parse_binfmt_handler") {
  BinfmtHandler h = parse_binfmt_handler(k_debian_aarch64);
  CHECK(h.enabled);
  CHECK(h.interpreter == "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
  CHECK(h.flags == "PF");
  CHECK(h.fix_binary());  // "PF" is P (preserve argv0) plus F (fix binary)
  CHECK(h.magic == "7f454c460201010000000000000000000200b700");
  CHECK(h.offset == "0");
  BinfmtHandler d = parse_binfmt_handler("disabled\ninterpreter /x\nflags: P\n");
  CHECK_FALSE(d.enabled);
  CHECK_FALSE(d.fix_binary());
  CHECK(parse_binfmt_handler("").interpreter.empty());
}

TEST_CASE("emulate::check_binfmt against fake proc dirs") {
  TempDir t;
  Platform arm64 = Platform::parse("linux/arm64");
  const std::string qemu_static = "/usr/bin/qemu-aarch64-static";
  REQUIRE_MESSAGE(fs::exists(qemu_static), "qemu-user-static is missing: run scripts/setup.sh");

  SUBCASE("not mounted") {
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK_FALSE(st.mounted);
    CHECK_FALSE(st.usable());
    CHECK(has_problem(st, "not mounted", "mount -t binfmt_misc binfmt_misc " + t.path.string(), true));
    CHECK(st.advice().find("fix: mount -t binfmt_misc") != std::string::npos);
  }
  SUBCASE("mounted, no handler") {
    write(t.path / "status", "enabled\n");
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK(st.mounted);
    CHECK_FALSE(st.handler);
    CHECK_FALSE(st.usable());
    CHECK(has_problem(st, "no binfmt handler qemu-aarch64", "qemu-aarch64", true));
  }
  SUBCASE("globally disabled") {
    write(t.path / "status", "disabled\n");
    write(t.path / "qemu-aarch64", handler_text(qemu_static, "PF"));
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK_FALSE(st.usable());
    CHECK(has_problem(st, "globally disabled", "echo 1 > " + (t.path / "status").string(), true));
  }
  SUBCASE("handler disabled") {
    write(t.path / "status", "enabled\n");
    write(t.path / "qemu-aarch64", handler_text(qemu_static, "PF", false));
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK_FALSE(st.usable());
    CHECK(has_problem(st, "disabled", "update-binfmts --enable qemu-aarch64", true));
  }
  SUBCASE("interpreter missing") {
    write(t.path / "status", "enabled\n");
    write(t.path / "qemu-aarch64", handler_text("/nonexistent/qemu-aarch64", "PF"));
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK_FALSE(st.usable());
    CHECK(has_problem(st, "does not exist", "apt-get install --reinstall qemu-user-static", true));
  }
  SUBCASE("dynamic interpreter") {
    write(t.path / "status", "enabled\n");
    write(t.path / "qemu-aarch64", handler_text("/bin/sh", "PF"));
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK_FALSE(st.interpreter_static);
    CHECK_FALSE(st.usable());
    CHECK(has_problem(st, "dynamically linked", "qemu-user-static", true));
  }
  SUBCASE("no F flag: usable, with a warning and the re-register command") {
    write(t.path / "status", "enabled\n");
    write(t.path / "qemu-aarch64", handler_text(qemu_static, "P"));
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK(st.usable());
    CHECK(st.interpreter_static);
    REQUIRE(st.problems.size() == 1);
    CHECK_FALSE(st.problems[0].fatal);
    CHECK(st.problems[0].what.find("no F flag") != std::string::npos);
    const std::string& fix = st.problems[0].fix;
    CHECK(fix.find("echo -1 > " + (t.path / "qemu-aarch64").string()) == 0);
    CHECK(fix.find(":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46\\x02") != std::string::npos);
    CHECK(fix.find(":" + qemu_static + ":PF'") != std::string::npos);
    CHECK(fix.find("> " + (t.path / "register").string()) != std::string::npos);
  }
  SUBCASE("all good") {
    write(t.path / "status", "enabled\n");
    write(t.path / "qemu-aarch64", handler_text(qemu_static, "POCF"));
    BinfmtStatus st = check_binfmt(arm64, t.path);
    CHECK(st.usable());
    CHECK(st.problems.empty());
    CHECK(st.interpreter_real == fs::path(qemu_static));
  }
}

TEST_CASE("emulate::elf_is_static") {
  CHECK(elf_is_static("/usr/bin/qemu-aarch64-static"));
  CHECK_FALSE(elf_is_static("/bin/sh"));
  TempDir t;
  write(t.path / "text", "#!/bin/sh\n");
  CHECK_FALSE(elf_is_static(t.path / "text"));
  CHECK_FALSE(elf_is_static(t.path / "missing"));
}

TEST_CASE("emulate::rootfs_key") {
  Platform arm64 = Platform::parse("linux/arm64");
  std::string a = rootfs_key(arm64, {"gcc", "make"}, "bookworm");
  CHECK(a.rfind("linux_arm64-bookworm-", 0) == 0);
  CHECK(a.size() == std::string("linux_arm64-bookworm-").size() + 12);
  CHECK(a == rootfs_key(arm64, {"make", "gcc", "make"}, "bookworm"));
  CHECK(a != rootfs_key(arm64, {"gcc", "make", "libc6-dev"}, "bookworm"));
  CHECK(a != rootfs_key(arm64, {"gcc", "make"}, "trixie"));
  CHECK(rootfs_key(Platform::parse("linux/riscv64"), {"gcc", "make"}, "bookworm").rfind("linux_riscv64-", 0) == 0);
  // A mirror or apt option is part of what went in.
  CHECK(a == rootfs_key(arm64, {"gcc", "make"}, "bookworm", {}, {}));
  CHECK(a != rootfs_key(arm64, {"gcc", "make"}, "bookworm", {"deb http://m/debian bookworm main"}));
  CHECK(a != rootfs_key(arm64, {"gcc", "make"}, "bookworm", {}, {"Acquire::Check-Valid-Until \"false\""}));
}

TEST_CASE("emulate::rootfs_cache_dir honours XBUILD_ROOTFS_CACHE") {
  EnvVar e("XBUILD_ROOTFS_CACHE", "/somewhere/cache");
  CHECK(rootfs_cache_dir() == fs::path("/somewhere/cache"));
}

TEST_CASE("emulate::ensure_rootfs rejects bad package names before running anything") {
  TempDir t;
  EnvVar e("XBUILD_ROOTFS_CACHE", t.path.string());
  CHECK_THROWS_WITH_AS(ensure_rootfs(Platform::parse("linux/arm64"), {"gcc", "make; rm -rf /"}),
                       doctest::Contains("bad package name"), Error);
  CHECK(fs::is_empty(t.path));
}

TEST_CASE("emulate::path_in_root keeps symlinks inside the root") {
  TempDir t;
  fs::path root = t.path / "root";
  write(root / "usr/bin/gcc-12", "#!/bin/sh\n");
  fs::permissions(root / "usr/bin/gcc-12", fs::perms::owner_all);
  fs::create_directory_symlink("usr/bin", root / "bin");
  fs::create_symlink("/etc/alternatives/cc", root / "usr/bin/cc");  // absolute: must stay in root
  fs::create_directories(root / "etc/alternatives");
  fs::create_symlink("/usr/bin/gcc-12", root / "etc/alternatives/cc");
  fs::create_symlink("../../../../../../etc/passwd", root / "usr/bin/escape");

  CHECK(path_in_root(root, "/usr/bin/cc") == root / "usr/bin/gcc-12");
  CHECK(path_in_root(root, "/bin/gcc-12") == root / "usr/bin/gcc-12");
  CHECK_FALSE(path_in_root(root, "/usr/bin/escape"));  // /etc/passwd does not exist in root
  CHECK_FALSE(path_in_root(root, "/usr/bin/missing"));
  CHECK(find_program_in_root(root, "cc") == root / "usr/bin/gcc-12");
  CHECK_FALSE(find_program_in_root(root, "make"));

  fs::create_symlink("loop", root / "loop");
  CHECK_FALSE(path_in_root(root, "/loop"));
}

TEST_CASE("util::make_dirs_in_root creates only inside the root") {
  TempDir t;
  fs::path root = t.path / "root", host = t.path / "host";
  fs::create_directories(root / "data");
  fs::create_directories(host);
  fs::create_symlink(host, root / "abs");                                  // absolute, to the host
  fs::create_symlink("../../../../.." + host.string(), root / "rel");      // climbs out lexically
  fs::create_directories(root / "mid");
  fs::create_symlink(host, root / "mid" / "link");                         // an intermediate component
  fs::create_symlink("/data", root / "ok");                                // to a dir inside the root
  Fd r = open_root(root);
  const std::string what = "the rootfs " + root.string();

  for (const char* p : {"/abs/x", "/rel/x/y", "/mid/link/x"}) {
    CAPTURE(p);
    CHECK_THROWS_WITH_AS(make_dirs_in_root(r.get(), p, what), doctest::Contains("is a symlink to"), Error);
    CHECK_THROWS_WITH_AS(make_file_in_root(r.get(), std::string(p) + "/f", what), doctest::Contains("is a symlink to"), Error);
  }
  CHECK(fs::is_empty(host));

  Fd made = make_dirs_in_root(r.get(), "/ok/a/b", what);
  CHECK(made);
  CHECK(fs::is_directory(root / "data/a/b"));
  CHECK(fs::equivalent(fd_path(made.get()), root / "data/a/b"));
  Fd f = make_file_in_root(r.get(), "/ok/a/file", what);
  CHECK(fs::is_regular_file(root / "data/a/file"));
  // A dangling in-root symlink in a file's place is replaced by an empty file, in the root.
  fs::create_symlink("/nowhere", root / "data/dangling");
  make_file_in_root(r.get(), "/data/dangling", what);
  CHECK(fs::is_regular_file(fs::symlink_status(root / "data/dangling")));
  CHECK_THROWS_WITH_AS(make_file_in_root(r.get(), "/data", what), doctest::Contains("is a directory"), Error);
  CHECK_THROWS_WITH_AS(make_dirs_in_root(r.get(), "/data/a/file/x", what), doctest::Contains("not a directory"), Error);
  make_dirs_in_root(r.get(), "/a/../../x", what);  // ".." above "/" is "/", as inside
  CHECK(fs::is_directory(root / "x"));
  CHECK_FALSE(fs::exists(t.path / "x"));
  CHECK_THROWS_WITH_AS(make_dirs_in_root(r.get(), "../x", what), doctest::Contains("'..'"), Error);
  // Lookups clamp at the root too: ".." of the root is the root.
  Fd up = open_in_root(r.get(), "/../../data", O_PATH | O_DIRECTORY);
  CHECK(fs::equivalent(fd_path(up.get()), root / "data"));
}

TEST_CASE("emulate::exec_args round trip and errors") {
  RootfsExec e;
  e.rootfs = "/var/cache/xbuild/rootfs/linux_arm64-x";
  e.binds = {"/work/project", "/tmp/state dir"};
  e.files = {{"/usr/bin/qemu-aarch64-static", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"}};
  e.cwd = "/work/project";
  e.argv = {"make", "-C", "/work/project", "--", "--bind"};
  RootfsExec back = parse_exec_args(exec_args(e));
  CHECK(back.rootfs == e.rootfs);
  CHECK(back.binds == e.binds);
  CHECK(back.files == e.files);
  CHECK(back.cwd == e.cwd);
  CHECK(back.argv == e.argv);
  CHECK(back.path_prefix.empty());

  SUBCASE("the compiler cache's masquerade dir first on PATH") {
    RootfsExec c = e;
    c.path_prefix = "/work/project/.xbuild/cache/linux_arm64-0123456789abcdef/bin";
    CHECK(parse_exec_args(exec_args(c)).path_prefix == c.path_prefix);
    CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--path-prefix", "rel/bin", "--", "sh"}), doctest::Contains("--path-prefix"), Error);
    CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--path-prefix", "/a:/b", "--", "sh"}), doctest::Contains("without ':'"), Error);
  }

  CHECK_THROWS_AS(parse_exec_args({}), Error);
  CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--bind", "/a"}), doctest::Contains("no command"), Error);
  CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--bind", "rel", "--", "sh"}), doctest::Contains("not absolute"), Error);
  CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--file", "nohost", "--", "sh"}), doctest::Contains("HOST=INSIDE"), Error);
  CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--what", "x", "--", "sh"}), doctest::Contains("unknown option"), Error);
  CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--file", "/q=rel", "--", "sh"}), doctest::Contains("must be absolute"), Error);

  SUBCASE("the acceleration options: overlay, read-only binds, hidden dirs, scripts") {
    RootfsExec a = e;
    a.overlay = true;
    a.ro_binds = {{"/usr", "/.xbuild-host/usr"}, {"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"}};
    a.inner_binds = {{"/usr/lib/aarch64-linux-gnu", "/.xbuild-host/usr/aarch64-linux-gnu/lib"}};
    a.empties = {"/.xbuild-host/usr/aarch64-linux-gnu/include"};
    a.scripts = {{"/usr/bin/gcc", "#!/.xbuild-host/usr/bin/sh\nexec x --sysroot=/ \"$@\"\n"}};
    RootfsExec b = parse_exec_args(exec_args(a));
    CHECK(b.overlay);
    CHECK(b.ro_binds == a.ro_binds);
    CHECK(b.inner_binds == a.inner_binds);
    CHECK(b.empties == a.empties);
    CHECK(b.scripts == a.scripts);
    CHECK(b.argv == a.argv);
    CHECK_FALSE(parse_exec_args(exec_args(e)).overlay);
    // Nothing is ever bound or written into the rootfs itself: without the overlay they are refused.
    CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--ro-bind", "/usr=/h", "--", "sh"}), doctest::Contains("need --overlay tmpfs"), Error);
    CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--script", "/usr/bin/gcc=x", "--", "sh"}), doctest::Contains("need --overlay tmpfs"), Error);
    CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--overlay", "disk", "--", "sh"}), doctest::Contains("takes 'tmpfs'"), Error);
    CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--overlay", "tmpfs", "--ro-bind", "usr=/h", "--", "sh"}),
                         doctest::Contains("must be absolute"), Error);
    CHECK_THROWS_WITH_AS(parse_exec_args({"/r", "--overlay", "tmpfs", "--script", "nopath", "--", "sh"}),
                         doctest::Contains("PATH=VALUE"), Error);
  }
}

namespace {

/// A file tree that looks like a Debian rootfs's compiler to plan_acceleration (nothing runs).
void fake_rootfs_gcc(const fs::path& root, const std::string& triple, int major) {
  fs::create_directories(root / "usr/bin");
  fs::create_directories(root / ("usr/lib/gcc/" + triple + "/" + std::to_string(major)));
  fs::create_directories(root / ("usr/lib/" + triple));
  fs::create_symlink("usr/bin", root / "bin");
  std::string real = triple + "-gcc-" + std::to_string(major);
  std::ofstream(root / "usr/bin" / real) << "";
  fs::create_symlink(real, root / ("usr/bin/gcc-" + std::to_string(major)));
  fs::create_symlink("gcc-" + std::to_string(major), root / "usr/bin/gcc");
  fs::create_symlink("/etc/alternatives/cc", root / "usr/bin/cc");
  std::ofstream(root / "usr/bin/g++") << "";
}

void fake_host_tool(const fs::path& usr, const std::string& name) {
  fs::create_directories(usr / "bin");
  std::ofstream(usr / "bin" / name) << "#!/bin/sh\n";
  fs::permissions(usr / "bin" / name, fs::perms::owner_all);
}

}  // namespace

TEST_CASE("emulate::plan_acceleration reads the rootfs's gcc and the host's cross tools") {
  TempDir t;
  Platform arm64 = Platform::parse("linux/arm64");
  fs::path root = t.path / "rootfs", usr = t.path / "usr";
  fake_rootfs_gcc(root, "aarch64-linux-gnu", 12);
  fake_host_tool(usr, "sh");
  EnvVar host_usr("XBUILD_ACCEL_HOST_USR", usr.string());
  if (::geteuid() != 0) {  // without root it never accelerates, and says so
    fake_host_tool(usr, "aarch64-linux-gnu-gcc-12");
    CHECK(plan_acceleration(arm64, root, Accelerate::automatic).why_not.find("needs root") != std::string::npos);
    return;
  }

  SUBCASE("off: nothing, and no reason needed") {
    fake_host_tool(usr, "aarch64-linux-gnu-gcc-12");
    Acceleration a = plan_acceleration(arm64, root, Accelerate::off);
    CHECK_FALSE(a.active());
    CHECK(a.why_not.empty());
    CHECK(a.describe(Accelerate::off).rfind("off:", 0) == 0);
  }
  SUBCASE("no cross compiler on the host") {
    Acceleration a = plan_acceleration(arm64, root, Accelerate::automatic);
    CHECK_FALSE(a.active());
    CHECK(a.why_not.find("the host has no cross compiler for aarch64-linux-gnu") != std::string::npos);
    CHECK(a.why_not.find("apt-get install gcc-aarch64-linux-gnu") != std::string::npos);
    CHECK(a.scripts.empty());
    CHECK(a.ro_binds.empty());
  }
  SUBCASE("another major on the host") {
    fake_host_tool(usr, "aarch64-linux-gnu-gcc-16");
    Acceleration a = plan_acceleration(arm64, root, Accelerate::automatic);
    CHECK_FALSE(a.active());
    CHECK(a.why_not.find("cross gcc is version 16, the rootfs's gcc is 12 (the major versions must match)") != std::string::npos);
  }
  SUBCASE("a match: wrappers for the names the rootfs has and the host serves") {
    fake_host_tool(usr, "aarch64-linux-gnu-gcc-12");
    fake_host_tool(usr, "aarch64-linux-gnu-as");
    fs::create_directories(usr / "aarch64-linux-gnu/include");
    fs::create_directories(usr / "aarch64-linux-gnu/lib");
    std::ofstream(root / "usr/bin/as") << "";
    Acceleration a = plan_acceleration(arm64, root, Accelerate::automatic);
    REQUIRE(a.active());
    CHECK(a.compiler == "aarch64-linux-gnu-gcc-12");
    CHECK(a.tools == std::vector<std::string>{"gcc", "cc", "gcc-12", "aarch64-linux-gnu-gcc-12", "as"});
    CHECK(a.emulated == std::vector<std::string>{"g++"});  // the rootfs has it, the host has no g++-12
    REQUIRE(a.scripts.size() == 5);
    CHECK(a.scripts[0].first == "/usr/bin/gcc");
    CHECK(a.scripts[0].second.find("exec /.xbuild-host/usr/bin/aarch64-linux-gnu-gcc-12 --sysroot=/ \"$@\"") != std::string::npos);
    CHECK(a.scripts[4].second.find("exec /.xbuild-host/usr/bin/aarch64-linux-gnu-as \"$@\"") != std::string::npos);
    CHECK(a.ro_binds.front() == std::pair<fs::path, fs::path>{usr, "/.xbuild-host/usr"});
    // The host's cross libc is hidden; the rootfs's own libraries stand in for it.
    CHECK(a.hidden == std::vector<fs::path>{"/.xbuild-host/usr/aarch64-linux-gnu/include"});
    CHECK(a.inner_binds == std::vector<std::pair<fs::path, fs::path>>{{"/usr/lib/aarch64-linux-gnu", "/.xbuild-host/usr/aarch64-linux-gnu/lib"}});
    CHECK(a.describe(Accelerate::automatic).find("by the host's aarch64-linux-gnu-gcc-12") != std::string::npos);
  }
  SUBCASE("a rootfs without gcc") {
    fake_host_tool(usr, "aarch64-linux-gnu-gcc-12");
    fs::remove(root / "usr/bin/gcc");
    Acceleration a = plan_acceleration(arm64, root, Accelerate::automatic);
    CHECK_FALSE(a.active());
    CHECK(a.why_not.find("has no /usr/bin/gcc") != std::string::npos);
  }
  SUBCASE("a rootfs gcc for another triple") {
    fake_host_tool(usr, "aarch64-linux-gnu-gcc-12");
    Acceleration a = plan_acceleration(Platform::parse("linux/riscv64"), root, Accelerate::automatic);
    CHECK_FALSE(a.active());
    CHECK(a.why_not.find("is not a gcc for riscv64-linux-gnu") != std::string::npos);
  }
}

TEST_CASE("emulate::rootfs_cache seals an emulated C build's ccache with its rootfs and acceleration") {
  if (!find_program("ccache")) return;  // plan_cache uses no ccache without one (test_plan checks the note)
  TempDir t;
  fs::path root = t.path / "rootfs";
  fake_rootfs_gcc(root, "aarch64-linux-gnu", 12);
  for (const char* f : {"usr/bin/aarch64-linux-gnu-gcc-12", "usr/bin/g++"}) fs::permissions(root / f, fs::perms::owner_all);
  fs::create_directories(root / "var/lib/dpkg");
  std::ofstream(root / "var/lib/dpkg/status") << "Package: gcc-12\nVersion: 12.2.0-14\n\n";
  Project proj;
  proj.dir = t.path / "project";
  proj.language = "c";
  PlatformPlan plan;
  plan.platform = Platform::parse("linux/arm64");
  plan.strategy = Strategy::emulate;
  plan.env = {{"CC", "gcc"}, {"CXX", "g++"}, {"CFLAGS", "-O2"}};
  plan.cache = plan_cache(proj, plan, "");
  // Planned, not sealed: the rootfs is not known yet, so there is no dir and nothing in env.
  REQUIRE(plan.cache.kind() == "ccache");
  CHECK(plan.cache.in_rootfs);
  CHECK(plan.cache.unsealed());
  CHECK(cache_env(proj, plan.cache, plan.env).empty());

  CachePlan plain = rootfs_cache(proj, plan, root, Acceleration{});
  if (::geteuid() != 0) {  // the overlay and binds need root, as accelerated emulation's
    CHECK(plain.kind() == "none");
    CHECK(plain.notes.back().find("needs root") != std::string::npos);
    return;
  }
  REQUIRE(plain.kind() == "ccache");
  CHECK(plain.dir.parent_path() == proj.dir / ".xbuild" / "cache");
  CHECK(plain.dir.filename().string().rfind("linux_arm64-", 0) == 0);
  CHECK(plain.compilers == std::vector<std::string>{"gcc", "g++"});
  CHECK(plain.link_target == k_ccache_inside);
  CHECK(plain.compiler_check == "string:" + plain.key);
  auto env = cache_env(proj, plain, plan.env);
  CHECK(env.at("CCACHE_DIR") == plain.ccache_dir().string());
  CHECK(env.at("CCACHE_BASEDIR") == proj.dir.string());
  CHECK(env.at("CCACHE_COMPILERCHECK") == plain.compiler_check);
  CHECK(env.count("PATH") == 0);  // the sandbox puts bin() first on the rootfs's PATH
  CHECK(rootfs_cache(proj, plan, root, Acceleration{}).dir == plain.dir);  // stable

  // Accelerated compiles are another compiler's: another cache.
  Acceleration acc;
  acc.tools = {"gcc", "cc"};
  acc.compiler = "aarch64-linux-gnu-gcc-12";
  acc.compiler_path = "/nonexistent/aarch64-linux-gnu-gcc-12";
  CHECK(rootfs_cache(proj, plan, root, acc).dir != plain.dir);
  // A rootfs with other packages (a newer gcc): another cache.
  std::ofstream(root / "var/lib/dpkg/status") << "Package: gcc-12\nVersion: 12.2.0-15\n\n";
  CHECK(rootfs_cache(proj, plan, root, Acceleration{}).dir != plain.dir);
  // Only the compilers the rootfs has are masqueraded; none at all, no ccache and a note.
  fs::remove(root / "usr/bin/g++");
  CHECK(rootfs_cache(proj, plan, root, Acceleration{}).compilers == std::vector<std::string>{"gcc"});
  fs::remove(root / "usr/bin/gcc");
  CachePlan none = rootfs_cache(proj, plan, root, Acceleration{});
  CHECK(none.kind() == "none");
  CHECK(none.notes.back().find("has none of gcc, g++") != std::string::npos);

  SUBCASE("the sandbox: overlay, the host's ccache and runtime, bin() first on PATH") {
    RootfsExec e;
    e.ro_binds = host_runtime_binds();  // as an accelerated build has them: not bound twice
    add_cache_mounts(e, plain);
    CHECK(e.overlay);
    CHECK(e.path_prefix == plain.bin());
    CHECK(e.ro_binds.size() == host_runtime_binds().size() + 1);
    CHECK(std::count_if(e.ro_binds.begin(), e.ro_binds.end(), [](const auto& b) { return b.second == k_ccache_inside; }) == 1);
    RootfsExec untouched;
    add_cache_mounts(untouched, plan.cache);  // unsealed: nothing
    CHECK_FALSE(untouched.overlay);
    CHECK(untouched.path_prefix.empty());
  }
}

TEST_CASE("emulate::foreign_command") {
  TempDir t;
  Platform arm64 = Platform::parse("linux/arm64");
  // A file with an aarch64 ELF header is enough for the choice (it is never run).
  fs::path prog = t.path / "hello";
  {
    std::string hdr(64, '\0');
    const unsigned char ident[] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    std::copy(ident, ident + 7, hdr.begin());
    hdr[16] = 2;                      // ET_EXEC
    hdr[18] = static_cast<char>(183); // EM_AARCH64
    std::ofstream(prog, std::ios::binary) << hdr;
    fs::permissions(prog, fs::perms::owner_all);
  }

  SUBCASE("native platform: unchanged") {
    RunMode mode = RunMode::binfmt;
    Command c = foreign_command(host_platform(), Command{{"/bin/true"}, {}, {}}, "/sysroot", &mode);
    CHECK(mode == RunMode::native);
    CHECK(c.argv == std::vector<std::string>{"/bin/true"});
    CHECK(c.env.empty());
  }
  SUBCASE("binfmt registered: argv unchanged, QEMU_LD_PREFIX set") {
    write(t.path / "binfmt/status", "enabled\n");
    write(t.path / "binfmt/qemu-aarch64", handler_text("/usr/bin/qemu-aarch64-static", "PF"));
    EnvVar e("XBUILD_BINFMT_DIR", (t.path / "binfmt").string());
    RunMode mode = RunMode::native;
    Command c = foreign_command(arm64, Command{{prog.string(), "x"}, {}, {}}, "/usr/aarch64-linux-gnu", &mode);
    CHECK(mode == RunMode::binfmt);
    CHECK(c.argv == std::vector<std::string>{prog.string(), "x"});
    CHECK(c.env.at("QEMU_LD_PREFIX") == "/usr/aarch64-linux-gnu");
  }
  SUBCASE("no binfmt: qemu -L sysroot explicitly") {
    fs::create_directories(t.path / "nobinfmt");
    EnvVar e("XBUILD_BINFMT_DIR", (t.path / "nobinfmt").string());
    RunMode mode = RunMode::native;
    Command c = foreign_command(arm64, Command{{prog.string(), "x"}, {}, {}}, "/usr/aarch64-linux-gnu", &mode);
    CHECK(mode == RunMode::explicit_qemu);
    REQUIRE(c.argv.size() == 5);
    CHECK(fs::path(c.argv[0]).filename().string().rfind("qemu-aarch64", 0) == 0);
    CHECK(c.argv[1] == "-L");
    CHECK(c.argv[2] == "/usr/aarch64-linux-gnu");
    CHECK(c.argv[3] == prog.string());
    CHECK(c.argv[4] == "x");
  }
  SUBCASE("no binfmt, no qemu: the fix is named") {
    fs::create_directories(t.path / "nobinfmt");
    EnvVar e("XBUILD_BINFMT_DIR", (t.path / "nobinfmt").string());
    EnvVar path("PATH", t.path.string());
    CHECK_THROWS_WITH_AS(foreign_command(arm64, Command{{prog.string()}, {}, {}}, "", nullptr),
                         doctest::Contains("apt-get install qemu-user-static"), Error);
  }
  SUBCASE("no binfmt, a shell command: needs binfmt, says how") {
    fs::create_directories(t.path / "nobinfmt");
    EnvVar e("XBUILD_BINFMT_DIR", (t.path / "nobinfmt").string());
    CHECK_THROWS_WITH_AS(foreign_command(arm64, Command{{"sh", "-c", "x"}, {}, {}}, "", nullptr),
                         doctest::Contains("mount -t binfmt_misc"), Error);
  }
}

TEST_CASE("emulate::bench report formats") {
  BenchReport r;
  r.project = "hello-c";
  r.machine = "test machine";
  r.jobs = 2;
  r.rows = {{"linux/arm64", "cross", true, 2.0, 3.0, true, ""},
            {"linux/arm64", "emulate", true, 30.0, 29.0, true, ""},
            {"linux/riscv64", "cross", false, 0, 0, std::nullopt, "no toolchain"},
            {"linux/riscv64", "emulate", true, 40.0, 39.0, false, "test: exit 1"}};
  REQUIRE(r.ratio("linux/arm64"));
  CHECK(*r.ratio("linux/arm64") == doctest::Approx(15.0));
  {
    BenchReport acc = r;
    acc.rows.push_back({"linux/arm64", "accelerated", true, 3.0, 4.5, true, ""});
    CHECK(*acc.vs_cross("linux/arm64", "accelerated") == doctest::Approx(1.5));
    CHECK(*acc.vs_cross("linux/arm64", "accelerated", true) == doctest::Approx(1.5));
    CHECK(bench_table(acc).find("1.5x") != std::string::npos);
    auto d = boost::json::parse(bench_json(acc)).as_object();
    CHECK(d.at("accelerated_over_cross").as_object().at("linux/arm64").as_double() == doctest::Approx(1.5));
  }
  CHECK_FALSE(r.ratio("linux/riscv64"));
  CHECK(r.platforms() == std::vector<std::string>{"linux/arm64", "linux/riscv64"});

  std::string table = bench_table(r);
  CHECK(table.find("15.0x") != std::string::npos);
  CHECK(table.find("FAIL") != std::string::npos);

  std::string md = bench_markdown(r);
  CHECK(md.find("| linux/arm64 | emulate | 30.00 | 29.00 | 15.0x | 9.7x | pass |") != std::string::npos);
  CHECK(md.find("| linux/riscv64 | cross | - | - | | | not built: no toolchain |") != std::string::npos);
  CHECK(*r.cpu_ratio("linux/arm64") == doctest::Approx(29.0 / 3.0));
  CHECK(md.find("test machine") != std::string::npos);

  auto doc = boost::json::parse(bench_json(r)).as_object();
  CHECK(doc.at("results").as_array().size() == 4);
  CHECK(doc.at("emulate_over_cross").as_object().at("linux/arm64").as_double() == doctest::Approx(15.0));
  CHECK(doc.at("results").as_array()[2].as_object().at("test").is_null());

  BenchReport back = bench_from_json(bench_json(r), "r.json");
  CHECK(bench_markdown(back) == md);
  CHECK(back.rows[3].test_ok == false);
  CHECK_FALSE(back.rows[2].test_ok);
  CHECK_THROWS_WITH_AS(bench_from_json("{\"project\": 1}", "x.json"), doctest::Contains("x.json: not a report"), Error);

  std::string svg = bench_svg(r);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  std::size_t bars = 0;
  for (std::size_t pos = 0; (pos = svg.find("<rect x=", pos)) != std::string::npos; ++pos) ++bars;
  CHECK(bars == 3);  // three builds succeeded
  CHECK(svg.find("30.0 s (15.0x cross)") != std::string::npos);
  CHECK(svg.find("not built") != std::string::npos);
}
