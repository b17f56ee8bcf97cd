// xbuild.toml and toolchain descriptors: what is read, and the errors for what is wrong.

#include "config/project.hpp"
#include "config/toolchain.hpp"
#include "plan/plan.hpp"
#include "util/error.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace xb;
namespace fs = std::filesystem;

namespace {

/// A fresh directory holding xbuild.toml with `text`.
struct TempProject : test::TempDir {
  fs::path dir;
  explicit TempProject(const std::string& text) : test::TempDir("cfg"), dir(path) {
    std::ofstream(dir / "xbuild.toml") << text;
  }
};

std::string error_of(const std::string& text) {
  TempProject p(text);
  try {
    load_project(p.dir);
  } catch (const Error& e) {
    CHECK(e.code() == Exit::usage);
    return e.what();
  }
  return "";
}

const char* k_minimal = "name = \"x\"\nbuild = [\"make\"]\noutputs = [\"hello\"]\n";

}  // namespace

TEST_CASE("a full xbuild.toml is read") {
  TempProject p(R"(name = "demo"
language = "go"
platforms = ["amd64", "linux/arm/v7"]
build = "go build -o {out}/app ."
outputs = ["app"]
test = ["{out}/app", "--version"]
toolchain = "go"
[env]
FOO = "{out}/bar"
[strategy]
"linux/riscv64" = "emulate"
all = "cross"
amd64 = "auto"
[image]
files = { "app" = "/usr/bin/app" }
entrypoint = "/usr/bin/app"
env = ["A=1"]
compression = "zstd"
[emulate]
timeout = "30m"
[[runner]]
platform = "aarch64"
host = "ci@arm-box"
port = 2222
)");
  Project proj = load_project(p.dir);
  CHECK(proj.name == "demo");
  CHECK(proj.language == "go");
  REQUIRE(proj.platforms.size() == 2);
  CHECK(proj.platforms[1].str() == "linux/arm/v7");
  CHECK(proj.build.script == "go build -o {out}/app .");
  CHECK(proj.test.argv.size() == 2);
  CHECK(proj.env.at("FOO") == "{out}/bar");
  CHECK(proj.strategy.at("linux/riscv64") == Strategy::emulate);
  CHECK(proj.strategy.at("all") == Strategy::cross);
  CHECK(proj.strategy.at("linux/amd64") == std::nullopt);  // "auto": overrides "all" for amd64
  CHECK(proj.image.entrypoint == std::vector<std::string>{"/usr/bin/app"});
  CHECK(proj.image.compression == Compression::zstd);
  CHECK(proj.image.files.at(0).to == "/usr/bin/app");
  CHECK(proj.emulate.timeout->count() == 1800);
  REQUIRE(proj.runners.size() == 1);
  CHECK(proj.runners[0].platform == "linux/arm64");
  CHECK(proj.runners[0].port == 2222);
}

TEST_CASE("bad xbuild.toml input names file:line:column and what was expected") {
  CHECK(error_of("name = \"x\"\nbuild = [\"make\"\n").find("xbuild.toml:") != std::string::npos);
  auto typo = error_of(std::string(k_minimal) + "platfroms = [\"amd64\"]\n");
  CHECK(typo.find("xbuild.toml:4:1:") != std::string::npos);
  CHECK(typo.find("unknown key 'platfroms'") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "platforms = [\"linux/sparc\"]\n").find("linux/sparc") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "language = \"cobol\"\n").find("'language' must be one of") != std::string::npos);
  CHECK(error_of("name = \"x\"\noutputs = [\"a\"]\n").find("missing 'build'") != std::string::npos);
  CHECK(error_of("name = \"x\"\nbuild = [\"make\"]\n").find("missing 'outputs'") != std::string::npos);
  CHECK(error_of("name = \"x\"\nbuild = [\"make\"]\noutputs = [\"../evil\"]\n").find("without \"..\"") != std::string::npos);
  CHECK(error_of("name = \"x\"\nbuild = 3\noutputs = [\"a\"]\n").find("'build' must be an array of strings") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[image]\ncompression = \"lz4\"\n").find("\"gzip\", \"zstd\" or \"none\"") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[image]\nentrypont = [\"x\"]\n").find("unknown key 'image.entrypont'") != std::string::npos);
  auto strategy = error_of(std::string(k_minimal) + "[strategy]\n\"linux/arm64\" = \"magic\"\n");
  CHECK(strategy.find("xbuild.toml:5:") != std::string::npos);
  CHECK(strategy.find("strategy for linux/arm64 must be one of auto, native, cross, emulate, runner (got \"magic\")") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[emulate]\ntimeout = \"soon\"\n").find("duration") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[emulate]\ntimeout = \"99999999999999999999h\"\n").find("duration") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[emulate]\ntimeout = 9223372036854775807\n").find("between 1 and") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[[runner]]\nplatform = \"arm64\"\nhost = \"h\"\nport = 99999999999\n").find("1-65535") != std::string::npos);
  auto missing = fs::temp_directory_path() / "xb-no-such-project";
  CHECK_THROWS_WITH_AS(load_project(missing), doctest::Contains("xbuild.toml not found"), Error);
}

TEST_CASE("issue 15: [image] tags, typos of keys and unknown placeholders fail at load with file:line") {
  // `output` for `outputs`: the unknown key wins over "missing 'outputs'", with a suggestion.
  auto typo = error_of("name = \"x\"\nbuild = [\"make\"]\noutput = [\"a\"]\n");
  CHECK(typo.find("xbuild.toml:3:1: unknown key 'output'; did you mean 'outputs'?") != std::string::npos);
  // Every table suggests.
  CHECK(error_of(std::string(k_minimal) + "[image]\ntagz = [\"a:1\"]\n").find("unknown key 'image.tagz'; did you mean 'image.tags'?") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[emulate]\nrootf = \"x\"\n").find("did you mean 'emulate.rootfs'?") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[[runner]]\nplatform = \"linux/arm64\"\nhots = \"h\"\n").find("did you mean 'runner.host'?") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "zzzzzz = 1\n").find("expected one of:") != std::string::npos);
  // Tags are checked where they are written.
  auto tag = error_of(std::string(k_minimal) + "[image]\ntags = [\"ok:1\",\n  \"hello:-bad\"]\n");
  CHECK(tag.find("xbuild.toml:6:3: 'image.tags': invalid image name \"hello:-bad\"") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[image]\ntags = [\"hello world\"]\n").find("whitespace") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[image]\ntags = [\"a@sha256:00\"]\n").find("digest") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[image]\ntags = [\":1.0\"]\n").find("repository name") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[image]\ntags = [\"team/Hello:1\"]\n").find("repository name 'team/Hello' must be lowercase") != std::string::npos);
  {
    TempProject ok(std::string(k_minimal) + "[image]\ntags = [\"localhost:5000/team/hello:1.0\", \"hello\", \"Reg.Example.com/a_b/c-d:v1.2_x\"]\n");
    CHECK(load_project(ok.dir).image.tags.size() == 3);
  }
  // Placeholders.
  auto ph = error_of("build = \"make {nosuch}\"\noutputs = [\"a\"]\n");
  CHECK(ph.find("xbuild.toml:1:9: 'build': unknown placeholder '{nosuch}'") != std::string::npos);
  auto near = error_of("build = [\"make\", \"OUT={otu}\"]\noutputs = [\"a\"]\n");
  CHECK(near.find("xbuild.toml:1:18: 'build': unknown placeholder '{otu}' (did you mean '{out}'?)") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "test = \"{nosuch}/t\"\n").find("'test': unknown placeholder '{nosuch}'") != std::string::npos);
  CHECK(error_of("build = \"make\"\noutputs = [\"{nosuch}\"]\n").find("'outputs': unknown placeholder '{nosuch}'") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[env]\nX = \"{nosuch}\"\n").find("'env.X': unknown placeholder '{nosuch}'") != std::string::npos);
  CHECK(error_of("build = \"make {arg:1x}\"\noutputs = [\"a\"]\n").find("names no build argument") != std::string::npos);
  {
    // Shell variables, awk blocks and brace lists are not placeholders.
    TempProject ok("build = \"awk '{ print }' ${HOME} {a,b} {} {out} {arg:V}\"\noutputs = [\"a\"]\n");
    CHECK_NOTHROW(load_project(ok.dir));
  }
  CHECK(error_of(std::string(k_minimal) + "[args]\n\"1X\" = \"v\"\n").find("'args.1X'") != std::string::npos);
}

TEST_CASE("toolchain descriptors expand per platform and report bad files") {
  auto dir = fs::temp_directory_path() / ("xb-tc-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "mine.toml") << R"(description = "test"
languages = ["rust"]
platforms = ["linux/arm64"]
probe = ["true"]
install = "apt-get install libstd-rust-dev:{debian_arch}"
[env]
"CARGO_TARGET_{rust_target_env}_LINKER" = "{triple}-gcc"
GOARM = "{goarm}"
)";
  auto tcs = load_toolchains({dir});
  REQUIRE(tcs.size() == 1);
  auto arm64 = Platform::parse("linux/arm64");
  auto env = tcs[0].env_for(arm64);
  CHECK(env.at("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER") == "aarch64-linux-gnu-gcc");
  CHECK(env.count("GOARM") == 0);  // empty values are not set
  CHECK(probe_toolchain(tcs[0], arm64).usable());
  CHECK(tcs[0].serves(arm64, "rust"));
  CHECK_FALSE(tcs[0].serves(arm64, "go"));
  CHECK(tcs[0].expand(tcs[0].install_hint, arm64) == "apt-get install libstd-rust-dev:arm64");

  std::ofstream(dir / "bad.toml") << "languages = [\"c\"]\nplatforms = [\"linux/vax\"]\n";
  CHECK_THROWS_WITH_AS(load_toolchains({dir}), doctest::Contains("bad.toml:2:"), Error);
  fs::remove_all(dir);
}

TEST_CASE("make_plan picks native for the host and says what to install otherwise") {
  TempProject p(std::string(k_minimal) + "language = \"c\"\n");
  Project proj = load_project(p.dir);
  auto dir = fs::temp_directory_path() / ("xb-tc2-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "native.toml") << "languages = [\"c\"]\nnative = true\nprobe = [\"true\"]\n[env]\nCC = \"cc\"\n";
  std::ofstream(dir / "absent.toml") << "languages = [\"c\"]\nplatforms = [\"linux/s390x\"]\nprobe = [\"false\"]\ninstall = \"apt-get install g++-{triple}\"\n";
  auto tcs = load_toolchains({dir});
  PlanOptions o;
  o.platforms = {host_platform(), Platform::parse("linux/s390x")};
  setenv("XBUILD_BINFMT_DIR", dir.c_str(), 1);  // no qemu handlers: no emulation fallback
  auto plans = make_plan(proj, tcs, o);
  unsetenv("XBUILD_BINFMT_DIR");
  CHECK(plans[0].strategy == Strategy::native);
  CHECK(plans[0].env.at("CC") == "cc");
  CHECK(plans[0].env.at("TARGETPLATFORM") == host_platform().str());
  CHECK(plans[1].strategy == Strategy::none);
  CHECK(plans[1].problem.find("no toolchain for linux/s390x") != std::string::npos);
  CHECK(plans[1].problem.find("apt-get install g++-s390x-linux-gnu") != std::string::npos);
  CHECK(plans[1].problem.find("emulation") != std::string::npos);
  CHECK(plans[1].env.at("TARGETARCH") == "s390x");
  fs::remove_all(dir);
}

TEST_CASE("issue 11: [cache] is read, and a bad value is file:line") {
  {
    TempProject p(std::string(k_minimal) + "[cache]\nenabled = false\nmax_size = \"10Gi\"\n");
    Project proj = load_project(p.dir);
    CHECK_FALSE(proj.cache.enabled);
    CHECK(proj.cache.max_size == "10Gi");
  }
  {
    TempProject p(k_minimal);
    Project proj = load_project(p.dir);
    CHECK(proj.cache.enabled);
    CHECK(proj.cache.max_size.empty());
  }
  for (const char* ok : {"2G", "500M", "0", "1T", "64Ki"}) {
    TempProject p(std::string(k_minimal) + "[cache]\nmax_size = \"" + ok + "\"\n");
    CHECK(load_project(p.dir).cache.max_size == ok);
  }
  for (const char* bad : {"lots", "2", "G", "2GB", "-1G", "2 G", ""}) {
    std::string why = error_of(std::string(k_minimal) + "[cache]\nmax_size = \"" + bad + "\"\n");
    CAPTURE(bad);
    CHECK(why.find("xbuild.toml:5:") != std::string::npos);
    CHECK(why.find("'cache.max_size' must be a size") != std::string::npos);
  }
  CHECK(error_of(std::string(k_minimal) + "[cache]\nenabled = \"no\"\n").find("xbuild.toml:5:") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[cache]\nmax_size = 2\n").find("size string") != std::string::npos);
  CHECK(error_of(std::string(k_minimal) + "[cache]\nmaxsize = \"2G\"\n").find("did you mean 'cache.max_size'") != std::string::npos);
}
