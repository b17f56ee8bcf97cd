// Parse errors (cli/parse_errors): passwords never echoed, problems in the order typed, and
// suggestions for misspelt commands and options, on a real CLI11 app shaped like xbuild's.

#include "cli/image_spec.hpp"
#include "cli/parse_errors.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace xb::cli;
using xb::closest_name;

namespace {

/// Parses `args` into a small xbuild-like app and returns the messages of the error it throws.
std::vector<std::string> errors_of(std::vector<std::string> args) {
  CLI::App app{"t"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string dir, creds;
  int jobs = 0;
  app.add_option("-C,--directory", dir);
  auto* build = app.add_subcommand("build", "b");
  build->add_option("--creds", creds);
  build->add_option("-j,--jobs", jobs)->check(CLI::Range(1, 1024));
  build->add_flag("--push");
  app.add_subcommand("bench", "b");
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return describe_parse_error(app, e, args);
  }
  FAIL("parsed: ", args.size());
  return {};
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& m : v) s += m + "\n";
  return s;
}

}  // namespace

TEST_CASE("parse errors: a password in a wrong position is never echoed") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"build", "alice:S3cretPW", "--creds"},
           {"build", "--push", "alice:S3cretPW"},
           {"--creds", "alice:S3cretPW", "build"},
           {"--creds=alice:S3cretPW", "build"},
           {"build", "--creds", "alice:S3cretPW", "--jobs", "0", "extra"},
           {"build", "--creds", "alice:S3cretPW", "alice:S3cretPW"},
       }) {
    std::string out = joined(errors_of(args));
    CAPTURE(out);
    CHECK_FALSE(out.empty());
    CHECK(out.find("S3cretPW") == std::string::npos);
  }
  CHECK(joined(errors_of({"build", "--push", "alice:S3cretPW"})) == "unexpected argument 'alice:***'\n");
}

TEST_CASE("parse errors: redact and secrets_in") {
  std::vector<std::string> args{"--creds", "bob:pw1", "--creds=tok", "carol:hunter2", "localhost:5000", "reg:5000/a:1", "linux/arm64=emulate"};
  auto secrets = secrets_in(args, SecretGuess::user_pass_shapes);
  CHECK(secrets == std::vector<std::string>{"hunter2", "pw1", "tok"});
  CHECK(secrets_in(args, SecretGuess::creds_only) == std::vector<std::string>{"pw1", "tok"});
  CHECK(secrets_in({"-t", "app:1.0"}, SecretGuess::creds_only).empty());  // a tag in a later error stays readable
  CHECK(redact("bad carol:hunter2 and pw1, not pw10 or tokens", secrets) == "bad carol:*** and ***, not pw10 or tokens");
  CHECK(redact("invalid image reference 'u:p4ss@reg.example/x:1'", {}) == "invalid image reference 'u:***@reg.example/x:1'");
  CHECK(redact("https://u:p@h/x and me@example.com", {}) == "https://u:***@h/x and me@example.com");
}

TEST_CASE("parse errors: in the order typed, with suggestions") {
  CHECK(joined(errors_of({"build", "--jobs", "0", "--bogus"})) == "--jobs: Value 0 not in range 1 to 1024\nunknown option '--bogus'\n");
  CHECK(joined(errors_of({"build", "--bogus", "-j", "0"})) == "unknown option '--bogus'\n--jobs: Value 0 not in range 1 to 1024\n");
  CHECK(joined(errors_of({"build", "one", "--pussh", "two"})) ==
        "unexpected argument 'one'\nunknown option '--pussh'; did you mean '--push'?\nunexpected argument 'two'\n");
  CHECK(joined(errors_of({"bulid", "--push"})) == "unknown command 'bulid'; did you mean 'build'?\n");
  CHECK(joined(errors_of({"frobnicate"})) == "unknown command 'frobnicate' (see xbuild --help)\n");
  CHECK(joined(errors_of({})) == "a command is required, e.g. xbuild build (see xbuild --help)\n");
  CHECK(joined(errors_of({"--push", "build"})) == "option '--push' goes after the command: xbuild build --push ...\n");
  CHECK(closest_name("bulid", {"bench", "build"}) == "build");
  CHECK(closest_name("xyz", {"bench", "build"}).empty());
}

TEST_CASE("build -o: types, dest, and a usage error naming --output for each bad value") {
  namespace fs = std::filesystem;
  auto s = parse_build_output("type=oci,dest=out/layout").spec;
  CHECK(s.type == xb::oci::OutputType::oci);
  CHECK(s.dest == fs::path("out/layout"));
  CHECK(parse_build_output("dest=x.tar,type=oci-archive").spec.type == xb::oci::OutputType::oci_archive);
  CHECK(parse_build_output("type=local,dest=d").spec.type == xb::oci::OutputType::local);
  CHECK(parse_build_output("some/dir").spec.type == xb::oci::OutputType::local);
  CHECK(parse_build_output("type=oci-archive,dest=-").sink == OutputSink::stdout_stream);
  CHECK(parse_build_output("type=docker,dest=img.tar").spec.type == xb::oci::OutputType::docker);
  CHECK(parse_build_output("type=docker,dest=-").sink == OutputSink::stdout_stream);
  CHECK(parse_build_output("type=registry").push == Pushing::yes);
  CHECK(parse_build_output("type=image,push=true").push == Pushing::yes);
  CHECK(parse_build_output("type=image").push == Pushing::no);
  CHECK(parse_build_output("type=oci,dest=d,compression=zstd").compression == xb::oci::Compression::zstd);
  for (const char* bad : {"type=dockre,dest=x", "type=docker", "type=oci", "type=oci,dest=x,foo=bar", "dest=x", "type=oci,dest", "-",
                          "type=oci,dest=-", "type=registry,dest=x", "type=oci,dest=x,push=true", "type=local,dest=d,compression=zstd"}) {
    CAPTURE(bad);
    try {
      parse_build_output(bad);
      FAIL("no error");
    } catch (const xb::Error& e) {
      CHECK(e.code() == xb::Exit::usage);
      CHECK(std::string(e.what()).find("--output") != std::string::npos);
    }
  }
}
