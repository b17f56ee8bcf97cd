// The progress views (cli/progress): which view `auto` picks and when escape sequences may be
// written, checked on what each view writes to a real FILE*.

#include "cli/progress.hpp"

#include "pipeline/build.hpp"
#include "temp_dir.hpp"
#include "util/base64.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <string>

using namespace xb;
using namespace xb::cli;

namespace {

/// Runs a small build's events through `view` and returns what it wrote: arm64 builds,
/// riscv64 fails with exit 7 and a log whose last line is the compiler's error.
std::string render(ProgressView view, const Terminal& term) {
  xb::test::TempDir tmp("progress");
  std::ofstream(tmp.path / "riscv64.log") << "$ make\ncc -c hello.c\nhello.c:3:10: error: 'x' undeclared\n# exit 7 after 0.1s\n";
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
    status->platform_started(1);
    PlatformResult bad;
    bad.platform = ps[1];
    bad.error = "exit 7 (full log: x.log)\n  more";
    bad.exit_status = 7;
    bad.log = tmp.path / "riscv64.log";
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
    CHECK(out.rfind("[linux/arm64] cc -o hello\n------ linux/riscv64 failed: the last 2 lines of /", 0) == 0);
    CHECK(out.find("riscv64.log\n > cc -c hello.c\n > hello.c:3:10: error: 'x' undeclared\n------\n") != std::string::npos);
    CHECK(out.find("\x1b") == std::string::npos);
  }
  SUBCASE("plain with colour: the prefix is coloured") {
    CHECK(render(ProgressView::plain, k_colour_tty).find("\x1b[36m[linux/arm64]\x1b[0m cc -o hello\n") != std::string::npos);
  }
  SUBCASE("tty: rows redrawn in place, ending with each result") {
    std::string out = render(ProgressView::tty, Terminal{true, false, true});
    CHECK(out.find("\x1b[3A") != std::string::npos);  // two rows and the count
    CHECK_FALSE(std::regex_search(out, std::regex("\x1b\\[[0-9;]*m")));  // no colour
    CHECK(out.find("[linux/arm64] ok 2.0s\n") != std::string::npos);
    CHECK(out.find("[linux/riscv64] FAILED 0.0s (exit 7)\n") != std::string::npos);
    CHECK(out.find("xbuild: 2 of 2 done: 1 ok, 1 FAILED (") != std::string::npos);
    // The log's last lines come after the last redraw, so they stay on the screen.
    auto tail = out.find(" > hello.c:3:10: error: 'x' undeclared\n");
    CHECK(tail != std::string::npos);
    CHECK(out.rfind("\x1b[") < tail);
    CHECK(out.find("$ make") == std::string::npos);
    CHECK(out.find("# exit 7") == std::string::npos);
  }
  SUBCASE("tty with colour: ok green, FAILED red") {
    std::string out = render(ProgressView::tty, k_colour_tty);
    CHECK(out.find("\x1b[32mok\x1b[0m 2.0s") != std::string::npos);
    CHECK(out.find("\x1b[31mFAILED\x1b[0m") != std::string::npos);
  }
  SUBCASE("json: one object per event") {
    std::string out = render(ProgressView::json, k_colour_tty);
    CHECK(out.find("\x1b") == std::string::npos);
    CHECK(out.rfind(R"({"event":"build_started","platforms":["linux/arm64","linux/riscv64"],"time":")", 0) == 0);
    CHECK(out.find(R"({"event":"line","platform":"linux/arm64","line":"cc -o hello","time":")") != std::string::npos);
    CHECK(out.find(R"("event":"platform_finished","platform":"linux/riscv64","status":"failed","ok":false)") != std::string::npos);
    CHECK(out.find(R"("exit_code":7,)") != std::string::npos);
    CHECK(out.find(R"({"event":"build_finished","ok":false,"platforms_ok":1,"platforms_failed":1,"platforms_cancelled":0,)") !=
          std::string::npos);
    // Every event is one valid JSON object with a UTC timestamp.
    std::size_t lines = 0;
    for (std::size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1, ++lines) {
      auto v = boost::json::parse(out.substr(at, nl - at));
      CHECK(std::regex_match(std::string(v.at("time").as_string()), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    }
    CHECK(lines == 7);
    CHECK(out.find(R"("log_tail":["cc -c hello.c","hello.c:3:10: error: 'x' undeclared"])") != std::string::npos);
  }
  SUBCASE("quiet: nothing") { CHECK(render(ProgressView::quiet, k_colour_tty).empty()); }
}

TEST_CASE("progress: log_tail") {
  xb::test::TempDir tmp("tail");
  auto log = tmp.path / "b.log";
  CHECK(log_tail(log, 5).empty());  // no log: nothing, no throw
  std::string body = "$ build\n";
  for (int i = 0; i < 30; ++i) body += fmt::format("line {}\n", i);
  body += "progress 10%\rprogress 100%\r\n# exit 2 after 1.0s\n";
  std::ofstream(log) << body;
  auto t = log_tail(log, 3);
  CHECK(t == std::vector<std::string>{"line 28", "line 29", "progress 100%"});
  // A log longer than the window: the cut first line is dropped, the tail is whole.
  std::ofstream(log) << std::string(200000, 'x') << "\nlast\n";
  CHECK(log_tail(log, 3) == std::vector<std::string>{"last"});
}

TEST_CASE("progress: json stays valid for output that is not UTF-8") {
  CHECK(to_valid_utf8("plain é ✓ 😀") == "plain é ✓ 😀");
  CHECK(to_valid_utf8("a\xff\xfe b") == "a\xEF\xBF\xBD\xEF\xBF\xBD b");
  CHECK(to_valid_utf8("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");          // overlong '/'
  CHECK(to_valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a UTF-16 surrogate
  CHECK(to_valid_utf8("cut \xE2\x9C") == "cut \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(event_time(std::chrono::system_clock::time_point{} + std::chrono::milliseconds(1234)) == "1970-01-01T00:00:01.234Z");

  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    auto status = make_status(ProgressView::json, k_colour_tty, f);
    status->build_started({Platform::parse("linux/arm64")});
    status->platform_started(0);
    status->output_line(0, "raw \xff\xfe bytes");
    status->warning("bad \xff warning");
    status->phase_started(Phase::pack);
    status->phase_finished(Phase::pack, PhaseEnd::failed, 0.5);
  }
  std::string out;
  std::rewind(f);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  CHECK(to_valid_utf8(out) == out);
  std::vector<boost::json::value> events;
  for (std::size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1)
    events.push_back(boost::json::parse(out.substr(at, nl - at)));  // throws on invalid JSON
  REQUIRE(events.size() == 6);
  CHECK(events[2].at("line").as_string() == "raw \xEF\xBF\xBD\xEF\xBF\xBD bytes");
  CHECK(xb::base64_decode(std::string(events[2].at("line_base64").as_string())) == "raw \xff\xfe bytes");
  CHECK(events[3].at("message").as_string() == "bad \xEF\xBF\xBD warning");
  CHECK(events[4].at("event").as_string() == "phase_started");
  CHECK(events[5].at("phase").as_string() == "pack");
  CHECK(events[5].at("ok").as_bool() == false);
}
