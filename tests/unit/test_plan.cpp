// The one build/test environment per platform, placeholder expansion, and source snapshots.

#include "config/project.hpp"
#include "exec/subprocess.hpp"
#include "pipeline/source.hpp"
#include "plan/plan.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace xb;
namespace fs = std::filesystem;

namespace {

Project project_in(const fs::path& dir, const std::string& extra = "") {
  std::ofstream(dir / "xbuild.toml") << "name = \"x\"\nlanguage = \"c\"\nbuild = [\"make\", \"-C\", \"{src}\", \"CC={cc}\"]\n"
                                        "outputs = [\"hello\"]\ntest = [\"{out}/hello\", \"--check\"]\n"
                                     << extra;
  return load_project(dir);
}

PlatformPlan emulate_plan(const Project& proj, const char* platform, bool no_cache = false) {
  PlanOptions o;
  o.platforms = {Platform::parse(platform)};
  o.no_cache = no_cache;
  o.forced["all"] = Strategy::emulate;
  return make_plan(proj, {}, o).front();
}

}  // namespace

TEST_CASE("plan::expand_placeholders is one pass, left to right") {
  std::map<std::string, std::string> v{{"{out}", "/o"}, {"{arch}", "arm64"}, {"{src}", "/has/{out}/inside"}};
  CHECK(expand_placeholders("{out}/hello-{arch} {out}", v) == "/o/hello-arm64 /o");
  CHECK(expand_placeholders("{unknown} {", v) == "{unknown} {");
  CHECK(expand_placeholders("{src}", v) == "/has/{out}/inside");  // a value is never expanded again
  CHECK(expand_placeholders("", v).empty());
}

TEST_CASE("plan::expand_command splits {cc} into words and runs scripts with sh -ec") {
  std::map<std::string, std::string> v{{"{cc}", "clang --target=aarch64-linux-gnu"}, {"{out}", "/o"}};
  CommandSpec argv;
  argv.argv = {"{cc}", "-o", "{out}/x", "CC={cc}"};
  CHECK(expand_command(argv, v) ==
        std::vector<std::string>{"clang", "--target=aarch64-linux-gnu", "-o", "/o/x", "CC=clang --target=aarch64-linux-gnu"});
  CommandSpec script;
  script.script = "make OUT={out}";
  CHECK(expand_command(script, v) == std::vector<std::string>{"sh", "-ec", "make OUT=/o"});
}

TEST_CASE("plan::platform_env: an emulated build gets the target's own tool names and Go/Rust targets") {
  test::TempDir t("plan");
  Project proj = project_in(t.path, "[env]\nMY_OUT = \"{out}/x\"\n");
  PlatformPlan plan = emulate_plan(proj, "linux/arm64");
  REQUIRE(plan.strategy == Strategy::emulate);
  for (auto [k, v] : {std::pair{"CC", "gcc"}, std::pair{"CXX", "g++"}, std::pair{"AR", "ar"}, std::pair{"RANLIB", "ranlib"},
                      std::pair{"STRIP", "strip"}, std::pair{"PKG_CONFIG", "pkg-config"}, std::pair{"GOARCH", "arm64"},
                      std::pair{"GOOS", "linux"}, std::pair{"RUST_TARGET", "aarch64-unknown-linux-gnu"},
                      std::pair{"TARGETPLATFORM", "linux/arm64"}}) {
    const char* key = k;  // clang 14 cannot capture a structured binding (CAPTURE's lambda)
    CAPTURE(key);
    CHECK(plan.env.at(k) == v);
  }
  CHECK(plan.env.at("MY_OUT") == plan.paths.out.string() + "/x");
  CHECK(plan.command.argv.back() == "CC=gcc");  // {cc} follows the strategy's CC
  PlatformPlan armv7 = emulate_plan(proj, "linux/arm/v7");
  CHECK(armv7.env.at("GOARM") == "7");
  CHECK(armv7.env.at("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER") == "gcc");
}

TEST_CASE("plan: the test command gets the build's environment, and foreign cross tests are watched") {
  test::TempDir t("plan");
  Project proj = project_in(t.path);
  auto dir = t.path / "tc";
  fs::create_directories(dir);
  std::ofstream(dir / "cross.toml") << "languages = [\"c\"]\nplatforms = [\"linux/riscv64\"]\nprobe = [\"true\"]\n"
                                       "sysroot = \"/usr/{triple}\"\n[env]\nCC = \"{triple}-gcc\"\nGOFLAGS = \"-trimpath\"\n";
  PlanOptions o;
  o.platforms = {Platform::parse("linux/riscv64")};
  PlatformPlan plan = make_plan(proj, load_toolchains({dir}), o).front();
  REQUIRE(plan.strategy == Strategy::cross);
  CHECK(plan.test.argv == std::vector<std::string>{plan.paths.out.string() + "/hello", "--check"});
  for (const auto& [k, v] : plan.env) {
    if (k == "GOFLAGS") continue;
    const std::string& key = k;  // clang 14 cannot capture a structured binding (CAPTURE's lambda)
    CAPTURE(key);
    CHECK(plan.test.env.at(k) == v);
  }
  std::string wrapper = test_exec_wrapper(plan).string();
  CHECK(plan.test.env.at("GOFLAGS") == "-trimpath -exec=" + wrapper);
  CHECK(plan.test.env.at("CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_RUNNER") == wrapper);
  CHECK(plan.test.env.at("QEMU_LOG_FILENAME") == (plan.paths.test_record / "qemu-%d.log").string());
  CHECK(plan.test.env.at("QEMU_LD_PREFIX") == "/usr/riscv64-linux-gnu");

  PlanOptions host;
  host.platforms = {host_platform()};
  host.forced["all"] = Strategy::emulate;
  PlatformPlan native = make_plan(proj, {}, host).front();
  CHECK(native.test.env.count("QEMU_LOG_FILENAME") == 0);  // the host runs its own tests: nothing to prove
}

TEST_CASE("issue 15: --build-arg over [args], as environment and {arg:KEY}; a missing one is a usage error") {
  test::TempDir d("plan-args");
  std::ofstream(d.path / "xbuild.toml") << "name = \"x\"\nbuild = [\"make\", \"V={arg:VERSION}\", \"M={arg:MODE}\"]\n"
                                           "outputs = [\"a\"]\n[env]\nFLAGS = \"-DV={arg:VERSION}\"\n[args]\nMODE = \"release\"\nVERSION = \"0\"\n";
  Project proj = load_project(d.path);
  PlanOptions o;
  o.build_args = {{"VERSION", "1.2"}, {"EXTRA", "e"}};
  PlatformPlan plan = make_plan(proj, {}, o).front();
  CHECK(plan.command.argv == std::vector<std::string>{"make", "V=1.2", "M=release"});
  CHECK(plan.env.at("VERSION") == "1.2");
  CHECK(plan.env.at("MODE") == "release");
  CHECK(plan.env.at("EXTRA") == "e");
  CHECK(plan.env.at("FLAGS") == "-DV=1.2");

  PlanOptions bad;
  bad.build_args = {{"1BAD", "x"}};
  CHECK_THROWS_WITH_AS(make_plan(proj, {}, bad), doctest::Contains("--build-arg 1BAD=x: '1BAD' is not a variable name"), Error);

  test::TempDir d2("plan-args-missing");
  std::ofstream(d2.path / "xbuild.toml") << "build = \"make {arg:NOPE}\"\noutputs = [\"a\"]\n";
  Project proj2 = load_project(d2.path);
  try {
    make_plan(proj2, {}, PlanOptions{});
    FAIL("an {arg:NOPE} without a value must not plan");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::usage);
    CHECK(std::string(e.what()).find("{arg:NOPE} has no value: pass --build-arg NOPE=VALUE") != std::string::npos);
  }
}

TEST_CASE("issue 15: a native build whose program is not installed is Strategy::none with 'not installed'") {
  for (const char* build : {"[\"xb-no-such-tool\", \"x\"]", "\"xb-no-such-tool --flag && true\""}) {
    test::TempDir d("plan-missing-tool");
    std::ofstream(d.path / "xbuild.toml") << "build = " << build << "\noutputs = [\"a\"]\n";
    Project proj = load_project(d.path);
    PlatformPlan plan = make_plan(proj, load_toolchains(toolchain_dirs(proj.dir)), PlanOptions{}).front();
    CHECK(plan.strategy == Strategy::none);
    CHECK(plan.problem.find("'xb-no-such-tool' is not installed") != std::string::npos);
  }
  // Builtins, assignments and relative paths cannot be told without running: not flagged.
  for (const char* build : {"\"cd sub && make\"", "\"CC=gcc make\"", "[\"./configure\"]"}) {
    test::TempDir d("plan-tool-ok");
    std::ofstream(d.path / "xbuild.toml") << "build = " << build << "\noutputs = [\"a\"]\n";
    Project proj = load_project(d.path);
    PlatformPlan plan = make_plan(proj, load_toolchains(toolchain_dirs(proj.dir)), PlanOptions{}).front();
    CHECK(plan.problem.find("is not installed") == std::string::npos);
  }
}

TEST_CASE("plan: source = copy gives each platform its own tree; shared uses the project dir") {
  test::TempDir t("plan");
  Project copy = project_in(t.path);
  CHECK(copy.source == SourceMode::copy);
  PlatformPlan a = emulate_plan(copy, "linux/arm64");
  PlatformPlan b = emulate_plan(copy, "linux/riscv64");
  CHECK(a.paths.src != b.paths.src);
  CHECK(a.command.cwd == a.paths.src);
  CHECK(a.command.argv[2] == a.paths.src.string());
  CHECK(a.env.at("XBUILD_SRC") == a.paths.src.string());

  test::TempDir t2("plan");
  Project shared = project_in(t2.path, "source = \"shared\"\n");
  PlatformPlan s = emulate_plan(shared, "linux/arm64");
  CHECK(s.paths.src == shared.dir);

  test::TempDir t3("plan");
  std::ofstream(t3.path / "xbuild.toml") << "build = [\"make\"]\noutputs = [\"x\"]\nsource = \"private\"\n";
  CHECK_THROWS_WITH_AS(load_project(t3.path), doctest::Contains("xbuild.toml:3:"), Error);
}

TEST_CASE("load_project: -f picks another project file; a missing one is named") {
  test::TempDir t("plan");
  std::ofstream(t.path / "other.toml") << "name = \"other\"\nbuild = [\"make\"]\noutputs = [\"x\"]\n";
  Project p = load_project(t.path, t.path / "other.toml");
  CHECK(p.name == "other");
  CHECK(p.file == t.path / "other.toml");
  CHECK(p.dir == t.path);
  CHECK_THROWS_WITH_AS(load_project(t.path, t.path / "nope.toml"), doctest::Contains("-f"), Error);
}

TEST_CASE("refresh_snapshot copies, updates, restores and removes; the build's own files stay") {
  test::TempDir t("snap");
  fs::path src = t.path / "src", dest = t.path / "src" / ".xbuild" / "src" / "linux_arm64";
  fs::create_directories(src / "lib");
  fs::create_directories(src / ".git");
  write_file_atomic(src / "main.c", "int main(){}\n");
  write_file_atomic(src / "lib" / "a.c", "a\n");
  write_file_atomic(src / ".git" / "HEAD", "ref\n");
  fs::permissions(src / "main.c", fs::perms::owner_all);
  fs::create_symlink("main.c", src / "link.c");

  auto s1 = refresh_snapshot(src, dest, src / ".xbuild");
  CHECK(read_file(dest / "main.c") == "int main(){}\n");
  CHECK(!fs::exists(dest / ".git"));
  CHECK(!fs::exists(dest / ".xbuild"));
  CHECK(fs::is_symlink(dest / "link.c"));
  CHECK((fs::status(dest / "main.c").permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK(fs::last_write_time(dest / "main.c") == fs::last_write_time(src / "main.c"));
  CHECK(s1.copied == 3);

  write_file_atomic(dest / "main.o", "obj");                 // the build's output
  write_file_atomic(dest / "lib" / "a.c", "edited by the build\n");  // an in-place edit of a copy
  write_file_atomic(src / "new.c", "new\n");
  fs::remove(src / "link.c");
  auto s2 = refresh_snapshot(src, dest, src / ".xbuild");
  CHECK(s2.copied == 2);   // new.c, and lib/a.c restored
  CHECK(s2.removed == 1);  // link.c
  CHECK(s2.unchanged == 1);
  CHECK(read_file(dest / "lib" / "a.c") == "a\n");
  CHECK(read_file(dest / "main.o") == "obj");
  CHECK(!fs::exists(fs::symlink_status(dest / "link.c")));

  // A copy is never a hard link to the source: writing it leaves the source alone.
  std::ofstream(dest / "main.c", std::ios::app) << "// build edit\n";
  CHECK(read_file(src / "main.c") == "int main(){}\n");
}

TEST_CASE("scan_tree/changed_files see what a build wrote into a shared tree") {
  test::TempDir t("snap");
  write_file_atomic(t.path / "main.c", "x");
  fs::create_directories(t.path / ".xbuild" / "out");
  auto before = scan_tree(t.path, t.path / ".xbuild");
  write_file_atomic(t.path / "main.o", "o");
  write_file_atomic(t.path / ".xbuild" / "out" / "hello", "h");  // the state dir does not count
  auto changed = changed_files(before, scan_tree(t.path, t.path / ".xbuild"));
  CHECK(changed == std::vector<std::string>{"main.o"});
  Project p;
  p.dir = t.path;
  p.file = t.path / "xbuild.toml";
  CHECK(shared_source_warning(p, changed).find("source = \"copy\"") != std::string::npos);
}

namespace {

/// A cross descriptor serving arm64 and riscv64 with the real Debian cross compilers.
std::vector<Toolchain> cross_gcc(const fs::path& dir, const std::string& extra = "") {
  fs::create_directories(dir);
  std::ofstream(dir / "cross.toml") << "languages = [\"c\"]\nplatforms = [\"linux/arm64\", \"linux/riscv64\"]\n"
                                       "[env]\nCC = \"{triple}-gcc\"\n" << extra;
  return load_toolchains({dir});
}

std::vector<PlatformPlan> two_platforms(const Project& proj, const std::vector<Toolchain>& tcs, bool no_cache = false) {
  PlanOptions o;
  o.platforms = {Platform::parse("linux/arm64"), Platform::parse("linux/riscv64")};
  o.no_cache = no_cache;
  return make_plan(proj, tcs, o);
}

}  // namespace

TEST_CASE("issue 11: each platform gets its own ccache, keyed by toolchain and codegen env, and CC stays") {
  test::TempDir t("plan");
  Project proj = project_in(t.path);
  auto tcs = cross_gcc(t.path / "tc");
  auto plans = two_platforms(proj, tcs);
  REQUIRE(plans[0].strategy == Strategy::cross);
  REQUIRE(plans[1].strategy == Strategy::cross);
  for (const auto& plan : plans) {
    CHECK(plan.cache.kind() == "ccache");
    CHECK(plan.cache.dir.parent_path() == t.path / ".xbuild" / "cache");
    CHECK(plan.cache.compilers == std::vector<std::string>{plan.env.at("XBUILD_TRIPLE") + "-gcc"});
    CHECK(plan.env.at("CC") == plan.env.at("XBUILD_TRIPLE") + "-gcc");  // masquerade: CC is untouched
    CHECK(plan.env.at("CCACHE_DIR") == plan.cache.ccache_dir().string());
    CHECK(plan.env.at("PATH").rfind(plan.cache.bin().string() + ":", 0) == 0);
    CHECK(plan.env.count("CCACHE_MAXSIZE") == 0);
    CHECK_FALSE(fs::exists(plan.cache.dir));  // planning creates nothing
  }
  CHECK(plans[0].cache.dir != plans[1].cache.dir);
  CHECK(plans[0].cache.key != plans[1].cache.key);

  // Same inputs, same key; a codegen variable or another descriptor content, a new one.
  CHECK(two_platforms(proj, tcs)[0].cache.dir == plans[0].cache.dir);
  Project flags = project_in(t.path, "[env]\nCFLAGS = \"-O1\"\n[cache]\nmax_size = \"1G\"\n");
  auto with_flags = two_platforms(flags, tcs);
  CHECK(with_flags[0].cache.key != plans[0].cache.key);
  CHECK(with_flags[0].env.at("CCACHE_MAXSIZE") == "1G");
  auto upgraded = two_platforms(proj, cross_gcc(t.path / "tc2", "AR = \"{triple}-ar\"\n"));
  CHECK(upgraded[0].cache.key != plans[0].cache.key);
}

TEST_CASE("issue 11: --no-cache, enabled = false and a CC path use no cache and say why; emulate's is unsealed") {
  test::TempDir t("plan");
  auto tcs = cross_gcc(t.path / "tc");
  auto none = [](const PlatformPlan& plan, const std::string& note) {
    CAPTURE(note);
    CHECK(plan.cache.kind() == "none");
    CHECK(plan.cache.dir.empty());
    CHECK(plan.env.count("CCACHE_DIR") == 0);
    REQUIRE(plan.cache.notes.size() == 1);
    CHECK(plan.cache.notes[0].find(note) != std::string::npos);
  };
  Project proj = project_in(t.path);
  none(two_platforms(proj, tcs, true)[0], "off (--no-cache)");
  none(two_platforms(project_in(t.path, "[cache]\nenabled = false\n"), tcs)[0], "enabled = false");
  // An emulated build's cache is decided here and sealed with its rootfs by emulate/: no dir yet.
  PlatformPlan emulated = emulate_plan(proj, "linux/arm64");
  if (find_program("ccache")) {
    CHECK(emulated.cache.kind() == "ccache");
    CHECK(emulated.cache.unsealed());
    CHECK(emulated.env.count("CCACHE_DIR") == 0);
  }
  none(emulate_plan(proj, "linux/arm64", true), "off (--no-cache)");
  none(two_platforms(project_in(t.path, "[env]\nCC = \"/usr/bin/aarch64-linux-gnu-gcc\"\n"), tcs)[0], "is a path");
  none(two_platforms(project_in(t.path, "[env]\nCC = \"ccache aarch64-linux-gnu-gcc\"\n"), tcs)[0], "already runs ccache");
}
