#pragma once
// The results of `xbuild bench` and the three ways they are shown: a console table, a
// Markdown table for docs, and an SVG bar chart (plain SVG 1.1, no scripts, no fonts
// beyond sans-serif) so people can look rather than read. Pure functions of the rows, so
// they are unit-tested without building anything.

#include <optional>
#include <string>
#include <vector>

namespace xb::emulate {

/// One build of one platform with one strategy.
struct BenchRow {
  std::string platform;          ///< "linux/arm64"
  std::string strategy;          ///< native | cross | emulate | accelerated (emulate with the host's cross compiler)
  bool built = false;            ///< the build succeeded
  double wall_seconds = 0;
  double cpu_seconds = 0;
  std::optional<bool> test_ok;   ///< the project's test on its outputs (nullopt = not run)
  std::string note;              ///< why it was skipped or failed
};

/// The whole run.
struct BenchReport {
  std::string project;           ///< project name
  std::string machine;           ///< machine_description()
  int jobs = 0;                  ///< parallel jobs each build was given
  std::vector<BenchRow> rows;

  /// `strategy`'s wall (or CPU) time over cross's for `platform`, when both built.
  std::optional<double> vs_cross(const std::string& platform, const std::string& strategy, bool cpu = false) const;
  /// Emulate wall time over cross wall time for `platform`, when both built.
  std::optional<double> ratio(const std::string& platform) const;
  /// The same for CPU seconds (less sensitive to other load on the machine).
  std::optional<double> cpu_ratio(const std::string& platform) const;
  /// Distinct platforms, in row order.
  std::vector<std::string> platforms() const;
};

/// "Intel Xeon ... (2 CPUs), 23 GiB RAM, Linux 6.1, Debian GNU/Linux 12 (bookworm)".
std::string machine_description();
/// The console table.
std::string bench_table(const BenchReport& r);
/// A Markdown table (with a caption line naming the machine).
std::string bench_markdown(const BenchReport& r);
/// The report as JSON.
std::string bench_json(const BenchReport& r);
/// A horizontal bar chart of wall seconds per platform and strategy.
std::string bench_svg(const BenchReport& r);
/// Reads what bench_json wrote (to re-render a report without rebuilding). Throws
/// Error(usage) naming `origin` when it is not such a document.
BenchReport bench_from_json(const std::string& text, const std::string& origin);

}  // namespace xb::emulate
