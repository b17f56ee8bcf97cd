// The ELF dynamic-section reader, the merged rootfs view and the lint, on real binaries of
// this machine and of the Debian cross sysroots (scripts/setup.sh installs them).

#include "oci/image_view.hpp"
#include "oci/layer.hpp"
#include "oci/lint.hpp"
#include "oci/runtime.hpp"
#include "platform/elf.hpp"
#include "util/fs.hpp"

#include <doctest/doctest.h>

#include "temp_dir.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace xb;
using namespace xb::oci;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

ViewNode file_node(const fs::path& from, std::uint32_t mode = 0755) {
  ViewNode n;
  n.mode = mode;
  classify(slurp(from), n);
  return n;
}

ViewNode dir_node() {
  ViewNode n;
  n.kind = NodeKind::dir;
  return n;
}

ViewNode link_node(std::string target) {
  ViewNode n;
  n.kind = NodeKind::symlink;
  n.link = std::move(target);
  return n;
}

const fs::path k_arm64_libc = "/usr/aarch64-linux-gnu/lib/libc.so.6";

}  // namespace

TEST_CASE("read_elf reads the dynamic section") {
  auto exe = read_elf("/bin/true");
  REQUIRE(exe);
  CHECK(exe->linking == ElfLinking::dynamic);
  CHECK(exe->interpreter == std::string(host_platform().traits().loader));
  CHECK(std::find(exe->needed.begin(), exe->needed.end(), "libc.so.6") != exe->needed.end());

  REQUIRE(fs::exists(k_arm64_libc));
  auto libc = read_elf(k_arm64_libc);
  REQUIRE(libc);
  CHECK(libc->soname == "libc.so.6");
  CHECK(elf_matches(*libc, Platform::parse("linux/arm64")));
  CHECK(libc->interpreter == "/lib/ld-linux-aarch64.so.1");  // glibc's libc.so.6 is runnable

  auto qemu = read_elf("/usr/bin/qemu-aarch64-static");
  REQUIRE(qemu);
  CHECK((qemu->linking == ElfLinking::static_pie || qemu->linking == ElfLinking::static_exe));
  CHECK(qemu->needed.empty());

  // Truncated input never crashes, it just knows less.
  std::string bytes = slurp("/bin/true");
  for (std::size_t n : {40u, 64u, 200u, 1000u}) CHECK(parse_elf(std::string_view(bytes).substr(0, n)).has_value());
  CHECK_FALSE(parse_elf("not an elf").has_value());
}

TEST_CASE("parse_ar lists the ELF members of a static library") {
  auto members = read_ar("/usr/aarch64-linux-gnu/lib/libm.a");
  REQUIRE_FALSE(members.empty());
  std::size_t elf = 0;
  for (const auto& m : members) {
    if (!m.elf) continue;
    ++elf;
    CHECK(m.elf->linking == ElfLinking::object);
    CHECK(elf_matches(*m.elf, Platform::parse("linux/arm64")));
  }
  CHECK(elf > 10);
  CHECK(read_ar("/bin/true").empty());
}

TEST_CASE("ImageView follows symlinks and applies whiteouts") {
  test::TempDir t("oci-lint");
  ImageView v;
  v.put("/usr/lib", dir_node());
  v.put("/lib", link_node("usr/lib"));
  v.put("/usr/lib/libx.so.1", link_node("libx.so.1.0"));
  v.put("/usr/lib/libx.so.1.0", ViewNode{});
  CHECK(v.resolve("/lib/libx.so.1") == std::optional<std::string>("/usr/lib/libx.so.1.0"));
  CHECK(v.placement("/lib/x86_64-linux-gnu/libc.so.6") == "/usr/lib/x86_64-linux-gnu/libc.so.6");
  CHECK_FALSE(v.resolve("/lib/libnone.so"));
  v.put("/loop", link_node("/loop"));
  CHECK_FALSE(v.resolve("/loop"));

  // A real layer with a whiteout (.wh.NAME) and an opaque directory removes lower paths.
  fs::create_directories(t.path / "l1/etc/keep");
  write_file_atomic(t.path / "l1/etc/gone", "x");
  write_file_atomic(t.path / "l1/etc/keep/old", "x");
  fs::create_directories(t.path / "l2/etc/keep");
  write_file_atomic(t.path / "l2/etc/.wh.gone", "");
  write_file_atomic(t.path / "l2/etc/keep/.wh..wh..opq", "");
  write_file_atomic(t.path / "l2/etc/keep/new", "x");
  ImageView layers;
  for (const char* l : {"l1", "l2"}) {
    write_layer({{t.path / l, "/"}}, Compression::gzip, 0, t.path / (std::string(l) + ".tgz"), 1);
    layers.add_layer(slurp(t.path / (std::string(l) + ".tgz")), NodeOrigin::base, l);
  }
  CHECK_FALSE(layers.lstat("/etc/gone"));
  CHECK_FALSE(layers.lstat("/etc/keep/old"));
  CHECK(layers.lstat("/etc/keep/new"));
  CHECK_FALSE(layers.lstat("/etc/.wh.gone"));
}

TEST_CASE("lint_view names a missing loader, a missing library and a wrong-arch library") {
  Platform amd64 = Platform::parse("linux/amd64");
  std::string triple(amd64.traits().gnu_triple);
  LintTarget target{amd64, std::vector<std::string>{"/bin/true"}, std::nullopt, {}};
  ImageView v;
  v.put("/bin/true", file_node("/bin/true"));
  auto problems = lint_view(v, target);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("needs the loader /lib64/ld-linux-x86-64.so.2") != std::string::npos);
  CHECK(problems[1].find("needs libc.so.6") != std::string::npos);

  v.put("/lib64/ld-linux-x86-64.so.2", file_node("/lib64/ld-linux-x86-64.so.2"));
  v.put("/lib/" + triple + "/libc.so.6", file_node(k_arm64_libc));  // an arm64 libc in an amd64 image
  problems = lint_view(v, target);
  bool wrong = false, named = false;
  for (const auto& p : problems) {
    wrong = wrong || p.find("wrong architecture") != std::string::npos;
    named = named || p.find("/lib/" + triple + "/libc.so.6 is ELF 64-bit LSB aarch64") != std::string::npos;
  }
  CHECK(wrong);
  CHECK(named);

  v.put("/lib/" + triple + "/libc.so.6", file_node("/lib/" + triple + "/libc.so.6"));
  // libc.so.6 itself needs the loader by name (DT_NEEDED), in the library dirs.
  v.put("/lib/" + triple + "/ld-linux-x86-64.so.2", file_node("/lib64/ld-linux-x86-64.so.2"));
  for (const auto& p : lint_view(v, target)) MESSAGE(p);
  CHECK(lint_view(v, target).empty());

  SUBCASE("entrypoint problems") {
    target.entrypoint = std::vector<std::string>{"/nope"};
    REQUIRE(lint_view(v, target).size() == 1);
    CHECK(lint_view(v, target)[0].find("/nope does not exist") != std::string::npos);
    ViewNode script;
    script.shebang = "/bin/sh";
    script.mode = 0755;
    v.put("/run.sh", script);
    target.entrypoint = std::vector<std::string>{"/run.sh"};
    CHECK(lint_view(v, target).at(0).find("#!/bin/sh, which is not in the image") != std::string::npos);
    target.entrypoint = std::vector<std::string>{"true"};  // found through PATH
    CHECK(lint_view(v, target).empty());
  }
}

TEST_CASE("find_library expands $ORIGIN") {
  Platform arm64 = Platform::parse("linux/arm64");
  ImageView v;
  ElfInfo prog = *read_elf(k_arm64_libc);
  prog.runpath = {"$ORIGIN/../lib"};
  v.put("/app/lib/libc.so.6", file_node(k_arm64_libc));
  v.put("/app/bin/prog", file_node(k_arm64_libc));
  auto found = find_library(v, "/app/bin/prog", prog, "libc.so.6", arm64);
  CHECK(found.path == std::optional<std::string>("/app/lib/libc.so.6"));
  CHECK(found.searched.front() == "/app/bin/../lib");
}

TEST_CASE("ld.so.conf dirs count only when the image has an ld.so.cache") {
  ImageView v;
  ViewNode conf;
  conf.text = "# comment\ninclude /etc/ld.so.conf.d/*.conf\n";
  v.put("/etc/ld.so.conf", conf);
  ViewNode local;
  local.text = "/usr/local/lib\n";
  v.put("/etc/ld.so.conf.d/local.conf", local);
  v.put("/etc/ld.so.conf.d/ignored.txt", local);
  CHECK(v.ld_so_conf_dirs().empty());
  v.put("/etc/ld.so.cache", ViewNode{});
  CHECK(v.ld_so_conf_dirs() == std::vector<std::string>{"/usr/local/lib"});

  Platform arm64 = Platform::parse("linux/arm64");
  v.put("/usr/local/lib/libc.so.6", file_node(k_arm64_libc));
  v.put("/bin/prog", file_node(k_arm64_libc));
  CHECK(find_library(v, "/bin/prog", *read_elf(k_arm64_libc), "libc.so.6", arm64).path ==
        std::optional<std::string>("/usr/local/lib/libc.so.6"));
}
