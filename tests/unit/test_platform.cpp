#include "platform/elf.hpp"
#include "platform/platform.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

#include <doctest/doctest.h>

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
  auto h = xb::host_platform();
  CHECK(h.os == "linux");
  CHECK_NOTHROW(h.traits());
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
