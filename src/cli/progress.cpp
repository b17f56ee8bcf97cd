// The progress views. Each implements Status and writes only to its stream: plain prints
// "[platform] line" (the prefix coloured per platform when allowed), tty keeps one row per
// platform and redraws the rows in place (cursor up, clear line), json prints one object per
// event. Colour and cursor control appear only when Terminal::escapes() allows them, which is
// what makes --no-color, NO_COLOR and TERM=dumb hold for every view.
//
// A failure must be seen where it happened: the last status line of a failed build is
// usually make's "Leaving directory", not the compiler's error. So every view ends a build
// with the last lines of each failed platform's log (as buildx does): plain and tty as a
// "------" block after the rows, json as "log_tail" in the platform_finished event. Only
// platforms whose build ran get one: the log of a platform that never started is an old run's.

#include "cli/progress.hpp"

#include "cli/commands.hpp"
#include "pipeline/build.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/color.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdint>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <algorithm>
#include <vector>

namespace xb::cli {

namespace {

constexpr fmt::terminal_color k_colors[] = {fmt::terminal_color::cyan,  fmt::terminal_color::magenta,
                                            fmt::terminal_color::yellow, fmt::terminal_color::blue,
                                            fmt::terminal_color::green,  fmt::terminal_color::bright_cyan};

/// "[linux/arm64]", coloured by index when `color`.
std::string prefix(const Platform& p, std::size_t index, bool color) {
  if (!color) return fmt::format("[{}]", p.str());
  return fmt::format(fmt::fg(k_colors[index % std::size(k_colors)]), "[{}]", p.str());
}

/// Warnings go to stderr, so they show whatever stdout is piped into.
void print_warning(std::string_view message) {
  fmt::print(stderr, "xbuild: warning: {}\n", message);
  std::fflush(stderr);
}

/// The first line of a (possibly multi-line) error.
std::string_view first_line(std::string_view s) { return s.substr(0, s.find('\n')); }

/// True for a platform whose build ran and failed (not cancelled, not refused before it ran).
bool failed_after_start(const PlatformResult& r, const std::vector<bool>& started, std::size_t index) {
  return !r.ok && !r.cancelled && index < started.size() && started[index];
}

/// The "------" block of the last lines of each failed platform's log, for plain and tty.
void print_tails(std::FILE* out, const std::vector<PlatformResult>& results, const std::vector<bool>& started, bool color) {
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (!failed_after_start(r, started, i)) continue;
    auto lines = log_tail(r.log, k_tail_lines);
    if (lines.empty()) continue;
    std::string head = fmt::format("------ {} failed: the last {} lines of {}", r.platform.str(), lines.size(), r.log.string());
    fmt::print(out, "{}\n", color ? fmt::format(fmt::fg(fmt::terminal_color::red), "{}", head) : head);
    for (const auto& l : lines) fmt::print(out, " > {}\n", l);
    fmt::print(out, "------\n");
  }
  std::fflush(out);
}

/// Columns of the terminal `out` is, 100 when it does not say.
std::size_t terminal_width(std::FILE* out) {
  winsize ws{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

/// At most `width` bytes of `s`, cut before a UTF-8 continuation byte.
std::string clip(std::string s, std::size_t width) {
  if (s.size() <= width) return s;
  std::size_t n = width;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

class QuietStatus : public Status {
public:
  void build_started(const std::vector<Platform>&) override {}
  void platform_started(std::size_t) override {}
  void output_line(std::size_t, std::string_view) override {}
  void platform_finished(std::size_t, const PlatformResult&) override {}
  void warning(std::string_view message) override { print_warning(message); }
  void build_finished(const std::vector<PlatformResult>&) override {}
};

class PlainStatus : public Status {
public:
  PlainStatus(std::FILE* out, bool color) : m_out(out), m_color(color) {}
  void build_started(const std::vector<Platform>& platforms) override {
    m_platforms = platforms;
    m_started.assign(platforms.size(), false);
  }
  void platform_started(std::size_t index) override { m_started.at(index) = true; }
  void output_line(std::size_t index, std::string_view line) override {
    fmt::print(m_out, "{} {}\n", prefix(m_platforms.at(index), index, m_color), line);
    std::fflush(m_out);
  }
  void platform_finished(std::size_t, const PlatformResult&) override {}
  void warning(std::string_view message) override { print_warning(message); }
  void build_finished(const std::vector<PlatformResult>& results) override { print_tails(m_out, results, m_started, m_color); }

private:
  std::FILE* m_out;
  bool m_color;
  std::vector<Platform> m_platforms;
  std::vector<bool> m_started;
};

/// One row per platform, redrawn in place, and a last row with the overall count:
///   [linux/arm64] 3.1s  cc -c hello.c          (running: elapsed, last line)
///   [linux/riscv64] FAILED 1.2s (exit 2)           (then the log's last lines, below the rows)
///   xbuild: 2 of 4 done: 1 ok, 1 FAILED (5.3s)
/// While a platform builds, a ticker thread redraws once a second, so elapsed times move
/// through a silent step (a long link); every member is used under m_mutex.
class TtyStatus : public Status {
public:
  using Clock = std::chrono::steady_clock;
  TtyStatus(std::FILE* out, bool color) : m_out(out), m_color(color), m_width(terminal_width(out)) {}
  ~TtyStatus() override { stop_ticker(); }
  TtyStatus(const TtyStatus&) = delete;
  TtyStatus& operator=(const TtyStatus&) = delete;
  void build_started(const std::vector<Platform>& platforms) override {
    std::lock_guard lock(m_mutex);
    m_platforms = platforms;
    m_begin = Clock::now();
    m_rows.assign(platforms.size(), Row{});
    redraw();
    m_ticker = std::thread([this] { tick(); });
  }
  void platform_started(std::size_t index) override {
    std::lock_guard lock(m_mutex);
    m_rows.at(index).state = State::running;
    m_rows.at(index).started = Clock::now();
    redraw();
  }
  void output_line(std::size_t index, std::string_view line) override {
    std::lock_guard lock(m_mutex);
    m_rows.at(index).text = std::string(line);
    redraw();
  }
  void platform_finished(std::size_t index, const PlatformResult& r) override {
    std::lock_guard lock(m_mutex);
    Row& row = m_rows.at(index);
    row.seconds = r.wall_seconds;
    if (r.ok) row.state = State::ok;
    else if (r.cancelled) row.state = State::cancelled;
    else row.state = State::failed;
    // A build that exited non-zero says so in a word (its log's last lines follow the rows);
    // a failure that is no exit status (verification, timeout, setup) keeps its own words.
    if (r.ok) row.text.clear();
    else if (!r.cancelled && r.exit_status > 0) row.text = fmt::format("exit {}", r.exit_status);
    else row.text = std::string(first_line(r.error));
    redraw();
  }
  void warning(std::string_view message) override {
    std::lock_guard lock(m_mutex);
    m_warnings.emplace_back(message);
  }
  void build_finished(const std::vector<PlatformResult>& results) override {
    stop_ticker();  // nothing redraws the rows after this: the tails below them stay put
    std::lock_guard lock(m_mutex);
    std::vector<bool> started;
    for (const auto& row : m_rows) started.push_back(row.state != State::waiting && row.started != Clock::time_point{});
    print_tails(m_out, results, started, m_color);
    for (const auto& w : m_warnings) print_warning(w);  // after the rows, which redraw in place
  }

private:
  enum class State { waiting, running, ok, failed, cancelled };
  struct Row {
    State state = State::waiting;
    Clock::time_point started{};
    double seconds = 0;  ///< the build's wall time, once finished
    std::string text;    ///< the last output line, or why it failed or was cancelled
  };

  std::string colored(fmt::terminal_color c, std::string_view s) const {
    return m_color ? fmt::format(fmt::fg(c), "{}", s) : std::string(s);
  }
  double since(Clock::time_point t) const { return std::chrono::duration<double>(Clock::now() - t).count(); }

  /// The row's text after the "[platform] " prefix.
  std::string body(const Row& row) const {
    switch (row.state) {
      case State::waiting: return "waiting";
      case State::running: return fmt::format("{:.1f}s  {}", since(row.started), row.text);
      case State::ok: return fmt::format("{} {:.1f}s", colored(fmt::terminal_color::green, "ok"), row.seconds);
      case State::failed:
        return fmt::format("{} {:.1f}s ({})", colored(fmt::terminal_color::red, "FAILED"), row.seconds, row.text);
      case State::cancelled:  // the scheduler's reason already starts with the word
        return row.text.rfind("cancelled", 0) == 0 ? row.text : fmt::format("cancelled: {}", row.text);
    }
    return {};
  }

  std::string summary() const {
    std::size_t ok = 0, failed = 0, cancelled = 0;
    for (const auto& row : m_rows) {
      ok += row.state == State::ok;
      failed += row.state == State::failed;
      cancelled += row.state == State::cancelled;
    }
    std::vector<std::string> parts{fmt::format("{} ok", ok)};
    if (failed > 0) parts.push_back(colored(fmt::terminal_color::red, fmt::format("{} FAILED", failed)));
    if (cancelled > 0) parts.push_back(fmt::format("{} cancelled", cancelled));
    return fmt::format("xbuild: {} of {} done: {} ({:.1f}s)", ok + failed + cancelled, m_rows.size(), join(parts, ", "),
                       since(m_begin));
  }

  /// The ticker thread: a redraw a second while any platform is running, until stop_ticker.
  void tick() {
    std::unique_lock lock(m_mutex);
    while (!m_wake.wait_for(lock, std::chrono::seconds(1), [this] { return m_stop; })) {
      if (std::any_of(m_rows.begin(), m_rows.end(), [](const Row& r) { return r.state == State::running; })) redraw();
    }
  }
  void stop_ticker() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_wake.notify_all();
    if (m_ticker.joinable()) m_ticker.join();
  }

  void redraw() {
    if (m_drawn) fmt::print(m_out, "\x1b[{}A", m_rows.size() + 1);
    for (std::size_t i = 0; i < m_rows.size(); ++i) {
      // Clipped to the terminal so that no row wraps and the cursor-up count stays true; the
      // clip counts the colour codes too, which only shortens a row.
      std::string row = fmt::format("{} {}", prefix(m_platforms[i], i, m_color), body(m_rows[i]));
      fmt::print(m_out, "\x1b[2K{}{}\n", clip(std::move(row), m_width - 1), m_color ? "\x1b[0m" : "");
    }
    fmt::print(m_out, "\x1b[2K{}\n", clip(summary(), m_width - 1));
    m_drawn = true;
    std::fflush(m_out);
  }
  std::FILE* m_out;
  bool m_color;
  std::size_t m_width;
  bool m_drawn = false;
  Clock::time_point m_begin{};
  std::vector<Platform> m_platforms;
  std::vector<Row> m_rows;
  std::vector<std::string> m_warnings;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::thread m_ticker;  ///< last: started after, and stopped before, the members it reads
};

/// One JSON object per line and event (the schema is docs/progress-json.md). Every string is
/// made valid UTF-8 on the way out, so a build that prints raw bytes cannot make the stream
/// unparsable; a line that was not UTF-8 also carries its exact bytes as line_base64.
class JsonStatus : public Status {
public:
  explicit JsonStatus(std::FILE* out) : m_out(out) {}
  void build_started(const std::vector<Platform>& platforms) override {
    m_platforms = platforms;
    m_started.assign(platforms.size(), false);
    boost::json::array names;
    for (const auto& p : platforms) names.push_back(boost::json::string(p.str()));
    emit({{"event", "build_started"}, {"platforms", names}});
  }
  void platform_started(std::size_t index) override {
    m_started.at(index) = true;
    emit({{"event", "platform_started"}, {"platform", m_platforms.at(index).str()}});
  }
  void output_line(std::size_t index, std::string_view line) override {
    boost::json::object o{{"event", "line"}, {"platform", m_platforms.at(index).str()}, {"line", line}};
    if (to_valid_utf8(line) != line) o["line_base64"] = base64_encode(line);
    emit(std::move(o));
  }
  void platform_finished(std::size_t index, const PlatformResult& r) override {
    const char* status = r.ok ? "ok" : r.cancelled ? "cancelled" : "failed";
    boost::json::object o{{"event", "platform_finished"},
                          {"platform", m_platforms.at(index).str()},
                          {"status", status},
                          {"ok", r.ok},
                          {"cancelled", r.cancelled},
                          {"strategy", std::string(to_string(r.strategy))},
                          {"accelerated", r.accelerated},
                          {"exit_code", r.exit_status >= 0 ? boost::json::value(r.exit_status) : boost::json::value(nullptr)},
                          {"wall_seconds", r.wall_seconds},
                          {"cpu_seconds", r.cpu_seconds}};
    if (!r.error.empty()) o["error"] = r.error;
    if (m_started.at(index)) o["log"] = r.log.string();
    if (failed_after_start(r, m_started, index)) {
      boost::json::array tail;
      for (auto& l : log_tail(r.log, k_tail_lines)) tail.push_back(boost::json::string(l));
      o["log_tail"] = std::move(tail);
    }
    emit(std::move(o));
  }
  void warning(std::string_view message) override { emit({{"event", "warning"}, {"message", message}}); }
  void build_finished(const std::vector<PlatformResult>& results) override {
    bool ok = std::all_of(results.begin(), results.end(), [](const PlatformResult& r) { return r.ok; });
    auto count = [&](auto pred) { return static_cast<std::int64_t>(std::count_if(results.begin(), results.end(), pred)); };
    emit({{"event", "build_finished"},
          {"ok", ok},
          {"platforms_ok", count([](const PlatformResult& r) { return r.ok; })},
          {"platforms_failed", count([](const PlatformResult& r) { return !r.ok && !r.cancelled; })},
          {"platforms_cancelled", count([](const PlatformResult& r) { return r.cancelled; })}});
  }
  void phase_started(Phase phase) override { emit({{"event", "phase_started"}, {"phase", phase_name(phase)}}); }
  void phase_finished(Phase phase, PhaseEnd end, double seconds) override {
    emit({{"event", "phase_finished"}, {"phase", phase_name(phase)}, {"ok", end == PhaseEnd::ok}, {"wall_seconds", seconds}});
  }

private:
  static const char* phase_name(Phase p) {
    switch (p) {
      case Phase::cache: return "cache";
      case Phase::pack: return "pack";
      case Phase::push: return "push";
    }
    return "?";
  }
  /// Every string in `v`, keys too, made valid UTF-8.
  static void make_valid(boost::json::value& v) {
    if (auto* s = v.if_string()) {
      std::string_view sv(*s);
      if (std::string fixed = to_valid_utf8(sv); fixed != sv) *s = fixed;
    } else if (auto* a = v.if_array()) {
      for (auto& e : *a) make_valid(e);
    } else if (auto* o = v.if_object()) {
      boost::json::object fixed;
      for (auto& kv : *o) {
        make_valid(kv.value());
        fixed[to_valid_utf8(kv.key())] = std::move(kv.value());
      }
      *o = std::move(fixed);
    }
  }
  void emit(boost::json::object o) {
    o["time"] = event_time(std::chrono::system_clock::now());
    boost::json::value v(std::move(o));
    make_valid(v);
    fmt::print(m_out, "{}\n", boost::json::serialize(v));
    std::fflush(m_out);
  }
  std::FILE* m_out;
  std::vector<Platform> m_platforms;
  std::vector<bool> m_started;
};

}  // namespace

std::string to_valid_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
  for (std::size_t i = 0; i < in.size();) {
    unsigned char c = byte(i);
    std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (byte(i + k) & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8 either.
      std::uint32_t cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
      static constexpr std::uint32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= k_min[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for this one byte; the next may start a good sequence
      ++i;
    }
  }
  return out;
}

std::string event_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  std::time_t secs = system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ms);
}

std::vector<std::string> log_tail(const std::filesystem::path& log, std::size_t n) {
  constexpr std::streamoff k_window = 64 * 1024;  // more than n lines of any sane build output
  std::ifstream in(log, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff from = size > k_window ? size - k_window : 0;
  in.seekg(from);
  std::string data(static_cast<std::size_t>(size - from), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  std::vector<std::string> lines;
  std::size_t at = 0;
  if (from > 0) at = data.find('\n') == std::string::npos ? data.size() : data.find('\n') + 1;  // a cut line
  while (at < data.size()) {
    std::size_t nl = data.find('\n', at);
    std::string line = data.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    // A progress meter's carriage returns: the terminal would show what follows the last.
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (auto cr = line.rfind('\r'); cr != std::string::npos) line.erase(0, cr + 1);
    lines.push_back(std::move(line));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  // The runner's "$ command" header and "# exit 2 after 1.2s" trailer are not the build's words.
  if (!lines.empty() && lines.back().rfind("# ", 0) == 0) lines.pop_back();
  if (from == 0 && !lines.empty() && lines.front().rfind("$ ", 0) == 0) lines.erase(lines.begin());
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

bool no_color_env() {
  const char* v = std::getenv("NO_COLOR");
  return v != nullptr && *v != '\0';
}

Terminal detect_terminal(std::FILE* stream, bool no_color_flag) {
  Terminal t;
  t.is_tty = ::isatty(::fileno(stream)) == 1;
  const char* term = std::getenv("TERM");
  t.dumb = term == nullptr || *term == '\0' || std::string_view(term) == "dumb";
  t.no_color = no_color_flag || no_color_env();
  return t;
}

ProgressView parse_progress(std::string_view s, const Terminal& term) {
  if (s == "auto") return term.escapes() ? ProgressView::tty : ProgressView::plain;
  if (s == "plain") return ProgressView::plain;
  if (s == "tty") return ProgressView::tty;
  if (s == "json") return ProgressView::json;
  if (s == "quiet") return ProgressView::quiet;
  fail(Exit::usage, "--progress {}: expected auto, plain, tty, json or quiet", s);
}

std::unique_ptr<Status> make_status(ProgressView view, const Terminal& term, std::FILE* out) {
  switch (view) {
    case ProgressView::plain: return std::make_unique<PlainStatus>(out, term.escapes());
    case ProgressView::tty: return std::make_unique<TtyStatus>(out, term.escapes());
    case ProgressView::json: return std::make_unique<JsonStatus>(out);
    case ProgressView::quiet: break;
  }
  return std::make_unique<QuietStatus>();
}

std::unique_ptr<Status> make_status(ProgressView view) {
  return make_status(view, detect_terminal(stdout, globals().no_color));
}

}  // namespace xb::cli
