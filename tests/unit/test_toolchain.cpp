// Toolchain probes (plan/probe): every tool a descriptor sets is looked up, a missing optional
// one only warns, cargo is run against rustc as a pair, and a preferred toolchain that cannot
// serve a platform gives way to the next one with a note. The "broken installations" are
// small shell scripts on a temp PATH: a real machine cannot produce a mismatched cargo and
// rustc on demand, and these stand in for one by behaving as the real pair does.

#include "config/project.hpp"
#include "config/toolchain.hpp"
#include "emulate/tool_packages.hpp"
#include "plan/plan.hpp"
#include "plan/probe.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace xb;
namespace fs = std::filesystem;

namespace {

void write_script(const fs::path& file, const std::string& body) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "#!/bin/sh\n" << body;
  ::chmod(file.c_str(), 0755);
}

/// A fake cargo that, like a real one, runs $RUSTC with the print requests it needs first.
void fake_cargo(const fs::path& dir, const std::string& version) {
  write_script(dir / "cargo", "case \"$1\" in\n"
                              "  --version) echo 'cargo " + version + " (fake)' ;;\n"
                              "  metadata) out=$(\"$RUSTC\" - --crate-name ___ --print=sysroot --print=split-debuginfo 2>&1) || {\n"
                              "    echo 'error: failed to run `rustc` to learn about target-specific information' >&2\n"
                              "    echo \"  $out\" >&2; exit 101; }\n"
                              "    echo '{}' ;;\n"
                              "esac\n");
}

/// A fake rustc; an old one does not know --print=split-debuginfo, as rustc 1.63 does not.
void fake_rustc(const fs::path& dir, const std::string& version, bool old) {
  write_script(dir / "rustc", "for a in \"$@\"; do\n"
                              "  case \"$a\" in --version) echo 'rustc " + version + " (fake)'; exit 0 ;;\n" +
                              (old ? "  --print=split-debuginfo) echo 'error: unknown print request `split-debuginfo`' >&2; exit 1 ;;\n" : "") +
                              "  esac\ndone\nexit 0\n");
}

Toolchain descriptor(const fs::path& dir, const std::string& name, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream(dir / (name + ".toml")) << text;
  return load_toolchain(dir / (name + ".toml"));
}

const Platform k_arm64 = Platform::parse("linux/arm64");

}  // namespace

TEST_CASE("probe_toolchain names each missing tool with its install command") {
  test::TempDir tmp("probe");
  Toolchain tc = descriptor(tmp.path, "broken", R"(languages = ["c", "cxx"]
platforms = ["linux/arm64"]
install = "apt-get install g++-{triple}"
[install_tool]
CC = "apt-get install gcc-{triple}"
PKG_CONFIG = "apt-get install pkgconf:{debian_arch}"
[env]
CC = "xb-no-such-cc-{triple} -O2"
AR = "sh"
PKG_CONFIG = "xb-no-such-pkg-config-{triple}"
)");
  auto specs = tc.tool_specs(k_arm64);
  REQUIRE(specs.size() == 3);
  CHECK(specs[0].name == "CC");
  CHECK(specs[0].program == "xb-no-such-cc-aarch64-linux-gnu");  // the first word only
  CHECK(specs[2].need == ToolNeed::optional);                     // PKG_CONFIG by default

  ToolchainStatus st = probe_toolchain(tc, k_arm64, "c");
  CHECK_FALSE(st.usable());
  CHECK(st.problem.find("CC xb-no-such-cc-aarch64-linux-gnu not found") != std::string::npos);
  CHECK(st.problem.find("install with: apt-get install gcc-aarch64-linux-gnu") != std::string::npos);
  CHECK(st.problem.find("AR") == std::string::npos);  // sh is there
  REQUIRE(st.warnings.size() == 1);
  CHECK(st.warnings[0].find("PKG_CONFIG xb-no-such-pkg-config-aarch64-linux-gnu not found") != std::string::npos);
  CHECK(st.warnings[0].find("apt-get install pkgconf:arm64") != std::string::npos);
}

TEST_CASE("a missing PKG_CONFIG warns, unless the build runs it; a missing CXX matters for C++") {
  test::TempDir tmp("probe");
  Toolchain tc = descriptor(tmp.path, "nopc", R"(languages = ["c", "cxx"]
platforms = ["linux/arm64"]
install = "apt-get install g++-{triple}"
[env]
CC = "sh"
CXX = "xb-no-such-cxx"
PKG_CONFIG = "xb-no-such-pkg-config"
)");
  ToolchainStatus c = probe_toolchain(tc, k_arm64, "c");
  CHECK(c.usable());
  REQUIRE(c.warnings.size() == 1);  // CXX is not a C project's business
  CHECK(c.warnings[0].find("builds that run pkg-config fail") != std::string::npos);

  CHECK_FALSE(probe_toolchain(tc, k_arm64, "cxx").usable());
  CHECK(probe_toolchain(tc, k_arm64, "cxx").problem.find("CXX xb-no-such-cxx not found") != std::string::npos);

  ToolchainStatus unknown = probe_toolchain(tc, k_arm64, "");  // `xbuild toolchains`
  CHECK(unknown.usable());
  CHECK(unknown.warnings.size() == 2);

  ToolchainStatus runs_it = probe_toolchain(tc, k_arm64, "c", "xb-no-such-pkg-config");
  CHECK_FALSE(runs_it.usable());
  CHECK(runs_it.problem.find("PKG_CONFIG xb-no-such-pkg-config not found") != std::string::npos);
}

TEST_CASE("cargo and rustc are probed as a pair: a newer cargo cannot drive an old rustc") {
  test::TempDir tmp("pair");
  fs::path bad = tmp.path / "bad", good = tmp.path / "good";
  fake_cargo(bad, "1.95.0");
  fake_rustc(bad, "1.63.0", true);
  fake_cargo(good, "1.65.0");
  fake_rustc(good, "1.63.0", false);
  auto text = [](const fs::path& bin, const std::string& extra = "") {
    return "languages = [\"rust\"]\nplatforms = [\"linux/arm64\"]\npath = [\"" + bin.string() +
           "\"]\ntools = [\"cargo\", \"rustc\"]\n" + extra + "[install_tool]\ncargo = \"apt-get install cargo\"\n";
  };
  Toolchain mismatched = descriptor(tmp.path / "d1", "mismatched", text(bad));
  CHECK(mismatched.env_for(k_arm64).at("PATH").rfind(bad.string() + ":", 0) == 0);
  ToolchainStatus st = probe_toolchain(mismatched, k_arm64, "rust", "cargo");
  CHECK_FALSE(st.usable());
  CHECK(st.problem.find((bad / "cargo").string() + " (cargo 1.95.0 (fake)) cannot drive " + (bad / "rustc").string() +
                        " (rustc 1.63.0 (fake))") != std::string::npos);
  CHECK(st.problem.find("unknown print request `split-debuginfo`") != std::string::npos);
  CHECK(st.problem.find("apt-get install cargo") != std::string::npos);

  Toolchain matched = descriptor(tmp.path / "d2", "matched", text(good));
  ToolchainStatus ok = probe_toolchain(matched, k_arm64, "rust", "cargo");
  CHECK(ok.usable());
  CHECK(ok.warnings.empty());

  // Optional cargo (a descriptor for rustc-only builds): the mismatch warns instead.
  Toolchain optional = descriptor(tmp.path / "d3", "optional", text(bad, "optional = [\"cargo\"]\n"));
  ToolchainStatus warn = probe_toolchain(optional, k_arm64, "rust", "rustc");
  CHECK(warn.usable());
  REQUIRE(warn.warnings.size() == 1);
  CHECK(warn.warnings[0].find("cannot drive") != std::string::npos);
}

TEST_CASE("first_program: the tool a build command runs first") {
  CHECK(first_program({"make", "-C", "x"}) == "make");
  CHECK(first_program({"sh", "-ec", "cd /src && make -j2"}) == "make");
  CHECK(first_program({"sh", "-ec", "set -e\nFOO=1 cmake -S . -B build\n"}) == "cmake");
  CHECK(first_program({"sh", "-ec", "# build it\nenv CC=gcc meson setup b"}) == "meson");
  CHECK(first_program({"sh", "-c", "if cargo build; then :; fi"}) == "cargo");
  CHECK(first_program({"sh", "-ec", "mkdir -p /b\n'go' build ./..."}) == "go");
  CHECK(first_program({"sh", "-ec", "\"${RUSTC:-rustc}\" --edition 2021 x.rs"}).empty());
  CHECK(first_program({"sh", "-ec", "./configure && make"}).empty());
  CHECK(first_program({"./build.sh"}).empty());
  // Redirections are not commands: `>&2` once made "2" the program (exit 3, nothing built).
  CHECK(first_program({"sh", "-ec", "echo step >&2; make all"}) == "make");
  CHECK(first_program({"sh", "-ec", "make 2>&1 | tee log"}) == "make");
  CHECK(first_program({"sh", "-ec", ">log 2> err make"}) == "make");
  CHECK(first_program({"sh", "-ec", "echo x >&2; exit 2"}).empty());
  CHECK(first_program({"sh", "-ec", "&>out cmake -B b && make"}) == "cmake");
  // A loop's variable is not a program: `for p in ...` once made "p" the program (exit 3).
  CHECK(first_program({"sh", "-ec", "for p in a b; do make -C $p; done"}) == "make");
  CHECK(first_program({"sh", "-ec", "for f in *.c\ndo\n  gcc -c $f\ndone"}) == "gcc");
  CHECK(first_program({"sh", "-ec", "case x in\n  y) exit 1;;\nesac\ncmake -B b"}) == "cmake");
  CHECK(first_program({}).empty());
}

TEST_CASE("a preferred toolchain that cannot serve a platform gives way to the next, with a note") {
  test::TempDir tmp("pref");
  fs::path tcs = tmp.path / "tcs";
  descriptor(tcs, "pref", "languages = [\"c\"]\nplatforms = [\"linux/arm64\"]\npriority = 1\nprobe = [\"false\"]\n"
                          "probe_problem = \"no {arch} target installed\"\ninstall = \"fix-it {arch}\"\n[env]\nCC = \"sh\"\n");
  descriptor(tcs, "other", "languages = [\"c\"]\nplatforms = [\"linux/arm64\", \"linux/s390x\"]\npriority = 9\n"
                           "probe = [\"true\"]\n[env]\nCC = \"sh\"\n");
  fs::path proj = tmp.path / "proj";
  fs::create_directories(proj);
  std::ofstream(proj / "xbuild.toml") << "name = \"p\"\nlanguage = \"c\"\ntoolchain = \"pref\"\nbuild = [\"make\"]\noutputs = [\"a\"]\n";
  Project project = load_project(proj);
  PlanOptions o;
  o.platforms = {k_arm64, Platform::parse("linux/s390x")};
  ::setenv("XBUILD_BINFMT_DIR", tmp.path.c_str(), 1);  // no qemu handlers
  auto plans = make_plan(project, load_toolchains({tcs}), o);
  ::unsetenv("XBUILD_BINFMT_DIR");
  REQUIRE(plans.size() == 2);
  CHECK(plans[0].strategy == Strategy::cross);
  REQUIRE(plans[0].toolchain);
  CHECK(plans[0].toolchain->name == "other");
  REQUIRE(plans[0].notes.size() == 1);
  CHECK(plans[0].notes[0] == "pref: no arm64 target installed; install with: fix-it arm64; using other");
  REQUIRE(plans[1].toolchain);
  CHECK(plans[1].toolchain->name == "other");
  REQUIRE(plans[1].notes.size() == 1);
  CHECK(plans[1].notes[0] == "pref does not serve linux/s390x (c); using other");
}

TEST_CASE("emulated rootfs packages follow the language; tools map to packages") {
  CHECK(emulate::default_rootfs_packages("c") == std::vector<std::string>{"gcc", "make", "libc6-dev"});
  CHECK(emulate::default_rootfs_packages("cxx") == std::vector<std::string>{"gcc", "g++", "make", "libc6-dev"});
  CHECK(emulate::default_rootfs_packages("go") == std::vector<std::string>{"golang-go"});
  auto rust = emulate::default_rootfs_packages("rust");
  CHECK(std::find(rust.begin(), rust.end(), "cargo") != rust.end());
  CHECK(std::find(rust.begin(), rust.end(), "rustc") != rust.end());
  Project p;
  p.language = "c";
  p.file = "/p/xbuild.toml";
  p.emulate.packages = {"cmake", "make"};
  CHECK(emulate::rootfs_packages(p) == std::vector<std::string>{"gcc", "make", "libc6-dev", "cmake"});
  CHECK(emulate::package_for_tool("ninja") == "ninja-build");
  CHECK(emulate::package_for_tool("go") == "golang-go");
  CHECK(emulate::package_for_tool("xb-unknown").empty());
  CHECK(emulate::failed_build_hint(p, 127).find("[emulate] packages in /p/xbuild.toml") != std::string::npos);
  CHECK(emulate::failed_build_hint(p, 2).empty());
}
