// The progress views (cli/progress): which view `auto` picks and when escape sequences may be
// written, checked on what each view writes to a real FILE*.

#include "cli/progress.hpp"

#include "pipeline/build.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

using namespace xb;
using namespace xb::cli;

namespace {

/// Runs a small build's events through `view` and returns what it wrote.
std::string render(ProgressView view, const Terminal& term) {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    auto status = make_status(view, term, f);
    std::vector<Platform> ps = {Platform::parse("linux/arm64"), Platform::parse("linux/riscv64")};
    status->build_started(ps);
    status->platform_started(0);
    status->output_line(0, "cc -o hello");
    PlatformResult ok;
    ok.platform = ps[0];
    ok.ok = true;
    ok.wall_seconds = 2.0;
    status->platform_finished(0, ok);
    PlatformResult bad;
    bad.platform = ps[1];
    bad.error = "exit 7 (full log: x.log)\n  more";
    status->platform_finished(1, bad);
    status->build_finished({ok, bad});
  }
  std::string out;
  std::rewind(f);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

const Terminal k_colour_tty{true, false, false};

}  // namespace

TEST_CASE("progress: escape sequences only on a capable terminal without --no-color/NO_COLOR") {
  CHECK(k_colour_tty.escapes());
  CHECK_FALSE((Terminal{true, false, true}.escapes()));   // --no-color or NO_COLOR
  CHECK_FALSE((Terminal{true, true, false}.escapes()));   // TERM=dumb or unset
  CHECK_FALSE((Terminal{false, false, false}.escapes()));  // not a terminal
  CHECK(parse_progress("auto", k_colour_tty) == ProgressView::tty);
  CHECK(parse_progress("auto", Terminal{true, false, true}) == ProgressView::plain);
  CHECK(parse_progress("auto", Terminal{true, true, false}) == ProgressView::plain);
  CHECK(parse_progress("json", k_colour_tty) == ProgressView::json);
  CHECK_THROWS_WITH_AS(parse_progress("fancy", k_colour_tty), doctest::Contains("--progress fancy: expected auto"), Error);
}

TEST_CASE("progress: what each view writes") {
  SUBCASE("plain without colour: prefixed lines, no escapes") {
    std::string out = render(ProgressView::plain, Terminal{true, false, true});
    CHECK(out == "[linux/arm64] cc -o hello\n");
  }
  SUBCASE("plain with colour: the prefix is coloured") {
    CHECK(render(ProgressView::plain, k_colour_tty).find("\x1b[36m[linux/arm64]\x1b[0m cc -o hello\n") != std::string::npos);
  }
  SUBCASE("tty: rows redrawn in place, ending with each result") {
    std::string out = render(ProgressView::tty, Terminal{true, false, true});
    CHECK(out.find("\x1b[2A") != std::string::npos);
    CHECK(out.find("\x1b[3") == std::string::npos);  // no colour
    CHECK(out.find("[linux/arm64] ok (2.0s)\n") != std::string::npos);
    CHECK(out.find("[linux/riscv64] failed: exit 7 (full log: x.log)\n") != std::string::npos);
  }
  SUBCASE("json: one object per event") {
    std::string out = render(ProgressView::json, k_colour_tty);
    CHECK(out.find("\x1b") == std::string::npos);
    CHECK(out.rfind(R"({"event":"build_started","platforms":["linux/arm64","linux/riscv64"]})", 0) == 0);
    CHECK(out.find(R"({"event":"line","platform":"linux/arm64","line":"cc -o hello"})") != std::string::npos);
    CHECK(out.find(R"("event":"platform_finished","platform":"linux/riscv64","ok":false)") != std::string::npos);
    CHECK(out.find(R"({"event":"build_finished","ok":false})") != std::string::npos);
  }
  SUBCASE("quiet: nothing") { CHECK(render(ProgressView::quiet, k_colour_tty).empty()); }
}
