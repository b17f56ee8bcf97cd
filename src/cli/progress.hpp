#pragma once
// The views of a build's progress (pipeline/status.hpp): plain prefixed lines, a tty view
// that redraws one row per platform, JSON lines, or nothing. Whether any escape sequence may
// be written is decided here once, from the terminal, TERM, NO_COLOR and --no-color, so no
// other code reads them.

#include "pipeline/status.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace xb::cli {

/// --progress: how a build's progress is shown.
enum class ProgressView { plain, tty, json, quiet };

/// What the output stream allows.
struct Terminal {
  bool is_tty = false;    ///< the stream is a terminal
  bool dumb = true;       ///< TERM is unset, empty or "dumb": no cursor control
  bool no_color = false;  ///< --no-color or a non-empty NO_COLOR
  /// True when colours and cursor movement may be written.
  bool escapes() const { return is_tty && !dumb && !no_color; }
};

/// The facts for `stream` from isatty, TERM and NO_COLOR; `no_color_flag` is --no-color.
Terminal detect_terminal(std::FILE* stream, bool no_color_flag);
/// True when NO_COLOR is set to a non-empty value (https://no-color.org).
bool no_color_env();

/// Parses --progress: auto is tty when term.escapes(), else plain. Error(usage) when unknown.
ProgressView parse_progress(std::string_view s, const Terminal& term);

/// The view writing to `out`; colour only when term.escapes().
std::unique_ptr<Status> make_status(ProgressView view, const Terminal& term, std::FILE* out = stdout);
/// How many lines of a failed platform's log every view shows after the build.
inline constexpr std::size_t k_tail_lines = 20;
/// The last `n` lines of the build log `log`, without the runner's "$ command" header and
/// "# exit ..." trailer; empty when it cannot be read.
std::vector<std::string> log_tail(const std::filesystem::path& log, std::size_t n);

/// `bytes` as valid UTF-8: each byte that is not part of a well-formed sequence becomes U+FFFD.
std::string to_valid_utf8(std::string_view bytes);
/// "2026-12-01T23:59:45.123Z": the UTC time of a JSON progress event.
std::string event_time(std::chrono::system_clock::time_point t);

/// Runs fn() as `phase` on `status`: phase_started, then phase_finished ok, or failed when fn
/// throws (the exception goes on). Returns what fn returns.
template <class F>
auto in_phase(Status& status, Phase phase, F&& fn) -> decltype(fn()) {
  auto start = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  status.phase_started(phase);
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      status.phase_finished(phase, PhaseEnd::ok, seconds());
    } else {
      auto r = fn();
      status.phase_finished(phase, PhaseEnd::ok, seconds());
      return r;
    }
  } catch (...) {
    status.phase_finished(phase, PhaseEnd::failed, seconds());
    throw;
  }
}

/// make_status for stdout with the global --no-color.
std::unique_ptr<Status> make_status(ProgressView view);

}  // namespace xb::cli
