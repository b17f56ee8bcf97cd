// The progress views. Each implements Status and writes only to its stream: plain prints
// "[platform] line" (the prefix coloured per platform when allowed), tty keeps one row per
// platform and redraws the rows in place (cursor up, clear line), json prints one object per
// event. Colour and cursor control appear only when Terminal::escapes() allows them, which is
// what makes --no-color, NO_COLOR and TERM=dumb hold for every view.

#include "cli/progress.hpp"

#include "cli/commands.hpp"
#include "pipeline/build.hpp"
#include "util/error.hpp"

#include <boost/json.hpp>
#include <fmt/color.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iterator>
#include <string>
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
  void build_started(const std::vector<Platform>& platforms) override { m_platforms = platforms; }
  void platform_started(std::size_t) override {}
  void output_line(std::size_t index, std::string_view line) override {
    fmt::print(m_out, "{} {}\n", prefix(m_platforms.at(index), index, m_color), line);
    std::fflush(m_out);
  }
  void platform_finished(std::size_t, const PlatformResult&) override {}
  void warning(std::string_view message) override { print_warning(message); }
  void build_finished(const std::vector<PlatformResult>&) override {}

private:
  std::FILE* m_out;
  bool m_color;
  std::vector<Platform> m_platforms;
};

class TtyStatus : public Status {
public:
  TtyStatus(std::FILE* out, bool color) : m_out(out), m_color(color) {}
  void build_started(const std::vector<Platform>& platforms) override {
    m_platforms = platforms;
    m_rows.assign(platforms.size(), "waiting");
    redraw();
  }
  void platform_started(std::size_t index) override { set(index, "building"); }
  void output_line(std::size_t index, std::string_view line) override { set(index, std::string(line)); }
  void platform_finished(std::size_t index, const PlatformResult& r) override {
    if (r.ok) set(index, fmt::format("ok ({:.1f}s)", r.wall_seconds));
    else if (r.cancelled) set(index, "cancelled");
    else set(index, fmt::format("failed: {}", first_line(r.error)));
  }
  void warning(std::string_view message) override { m_warnings.emplace_back(message); }
  void build_finished(const std::vector<PlatformResult>&) override {
    for (const auto& w : m_warnings) print_warning(w);  // after the rows, which redraw in place
  }

private:
  void set(std::size_t index, std::string row) {
    m_rows.at(index) = std::move(row);
    redraw();
  }
  void redraw() {
    if (m_drawn) fmt::print(m_out, "\x1b[{}A", m_rows.size());
    for (std::size_t i = 0; i < m_rows.size(); ++i)
      fmt::print(m_out, "\x1b[2K{} {}\n", prefix(m_platforms[i], i, m_color), m_rows[i].substr(0, 100));
    m_drawn = true;
    std::fflush(m_out);
  }
  std::FILE* m_out;
  bool m_color;
  bool m_drawn = false;
  std::vector<Platform> m_platforms;
  std::vector<std::string> m_rows;
  std::vector<std::string> m_warnings;
};

class JsonStatus : public Status {
public:
  explicit JsonStatus(std::FILE* out) : m_out(out) {}
  void build_started(const std::vector<Platform>& platforms) override {
    m_platforms = platforms;
    boost::json::array names;
    for (const auto& p : platforms) names.push_back(boost::json::string(p.str()));
    emit({{"event", "build_started"}, {"platforms", names}});
  }
  void platform_started(std::size_t index) override {
    emit({{"event", "platform_started"}, {"platform", m_platforms.at(index).str()}});
  }
  void output_line(std::size_t index, std::string_view line) override {
    emit({{"event", "line"}, {"platform", m_platforms.at(index).str()}, {"line", line}});
  }
  void platform_finished(std::size_t index, const PlatformResult& r) override {
    boost::json::object o{{"event", "platform_finished"}, {"platform", m_platforms.at(index).str()},
                          {"ok", r.ok}, {"cancelled", r.cancelled}, {"wall_seconds", r.wall_seconds}};
    if (!r.error.empty()) o["error"] = r.error;
    emit(std::move(o));
  }
  void warning(std::string_view message) override { emit({{"event", "warning"}, {"message", message}}); }
  void build_finished(const std::vector<PlatformResult>& results) override {
    bool ok = std::all_of(results.begin(), results.end(), [](const PlatformResult& r) { return r.ok; });
    emit({{"event", "build_finished"}, {"ok", ok}});
  }

private:
  void emit(boost::json::object o) {
    fmt::print(m_out, "{}\n", boost::json::serialize(o));
    std::fflush(m_out);
  }
  std::FILE* m_out;
  std::vector<Platform> m_platforms;
};

}  // namespace

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
