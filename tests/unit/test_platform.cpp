#include "platform/elf.hpp"
#include "platform/platform.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>

using xb::Platform;

TEST_CASE("Platform::parse normalises what users type") {
  CHECK(Platform::parse("linux/amd64").str() == "linux/amd64");
  CHECK(Platform::parse("x86_64").str() == "linux/amd64");
  CHECK(Platform::parse("aarch64").str() == "linux/arm64");
  CHECK(Platform::parse("linux/arm64/v8").str() == "linux/arm64");
  CHECK(Platform::parse("armhf").str() == "linux/arm/v7");
  CHECK(Platform::parse("linux/arm").str() == "linux/arm/v7");
  CHECK(Platform::parse("armv7").str() == "linux/arm/v7");
  CHECK(Platform::parse("linux/arm/v6").str() == "linux/arm/v6");
  CHECK(Platform::parse("i386").str() == "linux/386");
  CHECK(Platform::parse("  LINUX/RISCV64 ").str() == "linux/riscv64");
  CHECK(Platform::parse("ppc64el").str() == "linux/ppc64le");
  CHECK(Platform::parse("linux/arm/v7").dir_name() == "linux_arm_v7");
}

TEST_CASE("Platform::parse rejects unknown input and lists what is known") {
  SUBCASE("unknown arch") {
    try {
      Platform::parse("linux/sparc");
      FAIL("no error");
    } catch (const xb::Error& e) {
      CHECK(std::string(e.what()).find("linux/sparc") != std::string::npos);
      CHECK(std::string(e.what()).find("linux/riscv64") != std::string::npos);
      CHECK(e.code() == xb::Exit::usage);
    }
  }
  SUBCASE("other os") { CHECK_THROWS_AS(Platform::parse("windows/amd64"), xb::Error); }
  SUBCASE("empty") { CHECK_THROWS_AS(Platform::parse(""), xb::Error); }
  SUBCASE("bad variant") { CHECK_THROWS_AS(Platform::parse("linux/arm/v9"), xb::Error); }
  SUBCASE("duplicate") { CHECK_THROWS_AS(xb::parse_platforms("amd64,linux/amd64"), xb::Error); }
}

TEST_CASE("platform table rows are complete and consistent") {
  for (const auto& t : xb::arch_table()) {
    CAPTURE(t.arch);
    CHECK(!t.gnu_triple.empty());
    CHECK(!t.qemu.empty());
    CHECK(!t.goarch.empty());
    CHECK(!t.rust_target.empty());
    CHECK(!t.debian_arch.empty());
    CHECK((t.elf_class == 32 || t.elf_class == 64));
  }
  auto arm = Platform::parse("linux/arm/v7").traits();
  CHECK(arm.gnu_triple == "arm-linux-gnueabihf");
  CHECK(arm.goarm == "7");
  CHECK(arm.elf_machine == 40);
  CHECK(Platform::parse("s390x").traits().little_endian == false);
}

TEST_CASE("host platform is detected") {
  // The machine this test binary was compiled for is the one it runs on.
#if defined(__x86_64__)
  const char* expected = "linux/amd64";
#elif defined(__aarch64__)
  const char* expected = "linux/arm64";
#elif defined(__riscv) && __riscv_xlen == 64
  const char* expected = "linux/riscv64";
#elif defined(__arm__)
  const char* expected = "linux/arm/v7";
#else
  const char* expected = "unknown: add this machine to the test";
#endif
  CHECK(xb::host_platform().str() == expected);
}

TEST_CASE("read_elf identifies the running test binary as host") {
  auto info = xb::read_elf("/proc/self/exe");
  REQUIRE(info.has_value());
  CHECK(xb::elf_matches(*info, xb::host_platform()));
  CHECK_FALSE(xb::read_elf("/etc/hostname").has_value());
}

TEST_CASE("sha256") {
  CHECK(xb::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(xb::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("the ELF check tells armhf from armel by the float ABI in e_flags") {
  auto write_arm_elf = [](const std::filesystem::path& path, std::uint32_t flags) {
    std::array<unsigned char, 52> h{};
    h[0] = 0x7f, h[1] = 'E', h[2] = 'L', h[3] = 'F', h[4] = 1 /*32-bit*/, h[5] = 1 /*LSB*/, h[6] = 1;
    h[18] = 40;  // EM_ARM
    for (int i = 0; i < 4; ++i) h[36 + i] = static_cast<unsigned char>(flags >> (8 * i));
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(h.data()), h.size());
  };
  auto dir = std::filesystem::temp_directory_path() / ("xb-elf-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto v7 = Platform::parse("linux/arm/v7"), v6 = Platform::parse("linux/arm/v6");
  write_arm_elf(dir / "soft", 0x05000200);
  write_arm_elf(dir / "hard", 0x05000400);
  write_arm_elf(dir / "go", 0x05000002);  // Go's linker sets no float-ABI flag
  auto soft = xb::read_elf(dir / "soft"), hard = xb::read_elf(dir / "hard"), go = xb::read_elf(dir / "go");
  REQUIRE((soft && hard && go));
  CHECK(xb::elf_matches(*hard, v7));
  CHECK_FALSE(xb::elf_matches(*soft, v7));
  CHECK(xb::elf_matches(*soft, v6));
  CHECK_FALSE(xb::elf_matches(*hard, v6));
  CHECK(xb::elf_matches(*go, v7));
  CHECK(xb::describe(*soft).find("soft-float (armel)") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("xb::parse_go_buildinfo reads the inline Go 1.18+ layout and survives truncation") {
  // A minimal ELF header (64-bit LE, no sections) followed by a .go.buildinfo blob found by its
  // magic at a 16-byte boundary: magic, pointer size, flags (2 = inline strings), padding to 32,
  // then the uvarint-prefixed version and modinfo (framed by 16-byte sentinels).
  std::string elf(64, '\0');
  elf[0] = 0x7f, elf[1] = 'E', elf[2] = 'L', elf[3] = 'F', elf[4] = 2, elf[5] = 1;
  std::string blob = std::string("\xff Go buildinf:", 14) + std::string(1, 8) + std::string(1, 2) + std::string(16, '\0');
  auto put = [&](const std::string& s) {
    blob += static_cast<char>((s.size() & 0x7f) | (s.size() > 127 ? 0x80 : 0));
    if (s.size() > 127) blob += static_cast<char>(s.size() >> 7);
    blob += s;
  };
  std::string mod = "path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\n"
                    "dep\tgolang.org/x/sys\tv0.1.0\th1:abc=\ndep\texample.com/greet\tv0.0.0\n=>\t./greet\t(devel)\t\n"
                    "build\t-compiler=gc\n";
  put("go1.19.8");
  put(std::string(16, 'S') + mod + std::string(16, 'E'));
  std::string bytes = elf + blob;
  auto info = xb::parse_go_buildinfo(bytes);
  REQUIRE(info);
  CHECK(info->go_version == "go1.19.8");
  CHECK(info->path == "example.com/hello");
  REQUIRE(info->main);
  CHECK(info->main->version == "(devel)");
  REQUIRE(info->deps.size() == 2);
  CHECK(info->deps[0].path == "golang.org/x/sys");
  CHECK(info->deps[0].sum == "h1:abc=");
  CHECK(info->deps[1].replaced_by == "./greet");
  // Every truncation is refused or read partially, never out of bounds.
  for (std::size_t n = 0; n < bytes.size(); ++n) (void)xb::parse_go_buildinfo(std::string_view(bytes).substr(0, n));
  CHECK(!xb::parse_go_buildinfo(elf + std::string(64, 'x')));
}
