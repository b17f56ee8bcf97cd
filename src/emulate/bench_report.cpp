// Formatting only; every number shown comes from BenchRow. The SVG is laid out by hand
// (fixed row height, bars scaled to the slowest build) because a chart library would be
// a dependency bigger than the feature.

#include "emulate/bench_report.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

namespace xb::emulate {

namespace {

std::string test_text(const BenchRow& row) {
  if (!row.test_ok) return "-";
  return *row.test_ok ? "pass" : "FAIL";
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* bar_color(const std::string& strategy) {
  if (strategy == "native") return "#4e79a7";
  if (strategy == "cross") return "#59a14f";
  if (strategy == "emulate") return "#e15759";
  if (strategy == "accelerated") return "#f28e2b";
  return "#9c755f";
}

}  // namespace

std::optional<double> BenchReport::vs_cross(const std::string& platform, const std::string& strategy, bool cpu) const {
  std::optional<double> cross, other;
  for (const auto& r : rows) {
    if (r.platform != platform || !r.built) continue;
    if (r.strategy == "cross") cross = cpu ? r.cpu_seconds : r.wall_seconds;
    if (r.strategy == strategy) other = cpu ? r.cpu_seconds : r.wall_seconds;
  }
  if (!cross || !other || *cross <= 0) return std::nullopt;
  return *other / *cross;
}

std::optional<double> BenchReport::ratio(const std::string& platform) const { return vs_cross(platform, "emulate"); }

std::optional<double> BenchReport::cpu_ratio(const std::string& platform) const { return vs_cross(platform, "emulate", true); }

std::vector<std::string> BenchReport::platforms() const {
  std::vector<std::string> out;
  for (const auto& r : rows)
    if (std::find(out.begin(), out.end(), r.platform) == out.end()) out.push_back(r.platform);
  return out;
}

std::string machine_description() {
  std::string cpu;
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = std::string(trim(line.substr(line.find(':') + 1)));
      break;
    }
  }
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  double gib = pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) / (1024.0 * 1024 * 1024) : 0;
  std::string os;
  std::ifstream rel("/etc/os-release");
  for (std::string line; std::getline(rel, line);) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      os = line.substr(12);
      os.erase(std::remove(os.begin(), os.end(), '"'), os.end());
    }
  }
  utsname u{};
  ::uname(&u);
  return fmt::format("{} ({} CPUs), {:.0f} GiB RAM, Linux {} {}, {}", cpu.empty() ? "unknown CPU" : cpu, cpus, gib,
                     u.release, u.machine, os.empty() ? "unknown OS" : os);
}

std::string bench_table(const BenchReport& r) {
  std::string s = fmt::format("{:<16} {:<11} {:>9} {:>9} {:>7} {:>6}  {}\n", "PLATFORM", "STRATEGY", "WALL s", "CPU s",
                              "RATIO", "TEST", "NOTE");
  for (const auto& row : r.rows) {
    std::string ratio = "-";
    if (row.strategy != "cross" && row.built && r.vs_cross(row.platform, row.strategy))
      ratio = fmt::format("{:.1f}x", *r.vs_cross(row.platform, row.strategy));
    if (row.strategy == "cross" && row.built) ratio = "1.0x";
    s += fmt::format("{:<16} {:<11} {:>9} {:>9} {:>7} {:>6}  {}\n", row.platform, row.strategy,
                     row.built ? fmt::format("{:.2f}", row.wall_seconds) : "-",
                     row.built ? fmt::format("{:.2f}", row.cpu_seconds) : "-", ratio, test_text(row), row.note);
  }
  return s;
}

std::string bench_markdown(const BenchReport& r) {
  std::string s = fmt::format("`xbuild bench` of {} on {}; every build clean, {} parallel jobs each.\n\n", r.project,
                              r.machine, r.jobs);
  s += "| Platform | Strategy | Wall (s) | CPU (s) | vs cross (wall) | vs cross (CPU) | Test |\n";
  s += "|---|---|---:|---:|---:|---:|---|\n";
  for (const auto& row : r.rows) {
    std::string ratio, cpu_ratio;
    if (row.strategy != "cross" && r.vs_cross(row.platform, row.strategy))
      ratio = fmt::format("{:.1f}x", *r.vs_cross(row.platform, row.strategy));
    if (row.strategy != "cross" && r.vs_cross(row.platform, row.strategy, true))
      cpu_ratio = fmt::format("{:.1f}x", *r.vs_cross(row.platform, row.strategy, true));
    if (row.strategy == "cross" && row.built) ratio = cpu_ratio = "1.0x";
    if (row.built)
      s += fmt::format("| {} | {} | {:.2f} | {:.2f} | {} | {} | {} |\n", row.platform, row.strategy, row.wall_seconds,
                       row.cpu_seconds, ratio, cpu_ratio, test_text(row));
    else
      s += fmt::format("| {} | {} | - | - | | | not built: {} |\n", row.platform, row.strategy, row.note);
  }
  return s;
}

std::string bench_json(const BenchReport& r) {
  boost::json::array rows;
  for (const auto& row : r.rows) {
    boost::json::object o{{"platform", row.platform}, {"strategy", row.strategy}, {"built", row.built},
                          {"wall_seconds", row.wall_seconds}, {"cpu_seconds", row.cpu_seconds}};
    o["test"] = row.test_ok ? boost::json::value(*row.test_ok) : boost::json::value(nullptr);
    if (!row.note.empty()) o["note"] = row.note;
    rows.push_back(std::move(o));
  }
  boost::json::object ratios;
  for (const auto& p : r.platforms())
    if (auto q = r.ratio(p)) ratios[p] = *q;
  boost::json::object cpu_ratios;
  for (const auto& p : r.platforms())
    if (auto q = r.cpu_ratio(p)) cpu_ratios[p] = *q;
  boost::json::object acc_ratios, acc_cpu_ratios;
  for (const auto& p : r.platforms()) {
    if (auto q = r.vs_cross(p, "accelerated")) acc_ratios[p] = *q;
    if (auto q = r.vs_cross(p, "accelerated", true)) acc_cpu_ratios[p] = *q;
  }
  boost::json::object doc{{"project", r.project}, {"machine", r.machine}, {"jobs", r.jobs},
                          {"results", std::move(rows)}, {"emulate_over_cross", std::move(ratios)},
                          {"emulate_over_cross_cpu", std::move(cpu_ratios)},
                          {"accelerated_over_cross", std::move(acc_ratios)},
                          {"accelerated_over_cross_cpu", std::move(acc_cpu_ratios)}};
  return boost::json::serialize(doc) + "\n";
}

std::string bench_svg(const BenchReport& r) {
  const int label_w = 190, bar_max = 500, row_h = 26, gap = 14, top = 48, right = 190;
  double longest = 0;
  for (const auto& row : r.rows)
    if (row.built) longest = std::max(longest, row.wall_seconds);
  if (longest <= 0) longest = 1;
  int n_rows = static_cast<int>(r.rows.size());
  int n_groups = static_cast<int>(r.platforms().size());
  int height = top + n_rows * row_h + n_groups * gap + 40;
  int width = label_w + bar_max + right;

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" "
      "font-family=\"sans-serif\" font-size=\"13\">\n"
      "<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n"
      "<text x=\"12\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{title}</text>\n",
      fmt::arg("w", width), fmt::arg("h", height),
      fmt::arg("title", xml_escape(fmt::format("xbuild bench: {} (wall seconds, clean builds)", r.project))));
  int y = top;
  for (const auto& platform : r.platforms()) {
    for (const auto& row : r.rows) {
      if (row.platform != platform) continue;
      s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {}</text>\n", label_w - 10, y + row_h / 2 + 5,
                       xml_escape(row.platform), xml_escape(row.strategy));
      if (row.built) {
        int w = std::max(2, static_cast<int>(bar_max * row.wall_seconds / longest));
        std::string value = fmt::format("{:.1f} s", row.wall_seconds);
        if (row.strategy != "cross" && r.vs_cross(platform, row.strategy))
          value += fmt::format(" ({:.1f}x cross)", *r.vs_cross(platform, row.strategy));
        s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", label_w, y + 3, w,
                         row_h - 6, bar_color(row.strategy));
        s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", label_w + w + 6, y + row_h / 2 + 5, xml_escape(value));
      } else {
        s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#888888\">not built</text>\n", label_w + 4, y + row_h / 2 + 5);
      }
      y += row_h;
    }
    y += gap;
  }
  s += fmt::format("<text x=\"12\" y=\"{}\" font-size=\"11\" fill=\"#555555\">{}</text>\n", height - 14,
                   xml_escape(r.machine));
  s += "</svg>\n";
  return s;
}

BenchReport bench_from_json(const std::string& text, const std::string& origin) {
  try {
    auto doc = boost::json::parse(text).as_object();
    BenchReport r;
    r.project = boost::json::value_to<std::string>(doc.at("project"));
    r.machine = boost::json::value_to<std::string>(doc.at("machine"));
    r.jobs = static_cast<int>(doc.at("jobs").to_number<double>());
    for (const auto& v : doc.at("results").as_array()) {
      const auto& o = v.as_object();
      BenchRow row;
      row.platform = boost::json::value_to<std::string>(o.at("platform"));
      row.strategy = boost::json::value_to<std::string>(o.at("strategy"));
      row.built = o.at("built").as_bool();
      row.wall_seconds = o.at("wall_seconds").to_number<double>();
      row.cpu_seconds = o.at("cpu_seconds").to_number<double>();
      if (o.at("test").is_bool()) row.test_ok = o.at("test").as_bool();
      if (auto n = o.if_contains("note")) row.note = boost::json::value_to<std::string>(*n);
      r.rows.push_back(std::move(row));
    }
    return r;
  } catch (const std::exception& e) {
    fail(Exit::usage, "{}: not a report written by xbuild bench --json ({})", origin, e.what());
  }
}

}  // namespace xb::emulate
