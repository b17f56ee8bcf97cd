// `xbuild toolchains`: every descriptor, the platforms it serves, and whether it works here:
// usable, usable with a warning (an optional tool such as PKG_CONFIG is missing), or not,
// each missing tool named with its install command. Probes run in parallel (plan/probe).

#include "cli/commands.hpp"
#include "config/project.hpp"
#include "config/toolchain.hpp"
#include "plan/probe.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <future>

namespace xb::cli {

void register_toolchains(CLI::App& app) {
  struct Opts {
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("toolchains", "List toolchain descriptors, what they serve and whether each is usable here");
  cmd->add_flag("--json", o->json, "Machine-readable output");
  cmd->callback([o] {
    std::filesystem::path dir = globals().dir;
    auto dirs = toolchain_dirs(std::filesystem::exists(dir / "xbuild.toml") ? std::filesystem::absolute(dir) : std::filesystem::path());
    auto toolchains = load_toolchains(dirs);
    Platform host = host_platform();

    struct Row {
      const Toolchain* tc;
      Platform platform;
      std::future<ToolchainStatus> status;
    };
    std::vector<Row> rows;
    for (const auto& tc : toolchains) {
      std::vector<Platform> ps = tc.native_only ? std::vector<Platform>{host} : tc.platforms;
      for (const auto& p : ps) {
        rows.push_back(Row{&tc, p, std::async(std::launch::async, [&tc, p] { return probe_toolchain(tc, p); })});
      }
    }
    if (o->json) {
      boost::json::array arr;
      for (const auto& tc : toolchains) {
        boost::json::array plats;
        for (auto& r : rows) {
          if (r.tc != &tc) continue;
          ToolchainStatus st = r.status.get();
          boost::json::object po{{"platform", r.platform.str()}, {"usable", st.usable()}};
          if (!st.usable()) {
            po["problem"] = st.problem;
            po["install"] = tc.expand(tc.install_hint, r.platform);
          }
          boost::json::array warnings;
          for (const auto& w : st.warnings) warnings.push_back(boost::json::value(w));
          po["warnings"] = warnings;
          boost::json::array tools;
          for (const auto& t : st.tools) {
            const char* need = t.spec.need == ToolNeed::required ? "required" : t.spec.need == ToolNeed::optional ? "optional" : "cxx";
            boost::json::object to{{"name", t.spec.name}, {"program", t.spec.program}, {"need", need},
                                   {"found", t.found ? boost::json::value(t.found->string()) : boost::json::value(nullptr)}};
            if (!t.problem.empty()) {
              to["problem"] = t.problem;
              to["install"] = t.spec.install;
            }
            tools.push_back(to);
          }
          po["tools"] = tools;
          plats.push_back(po);
        }
        boost::json::array langs;
        for (const auto& l : tc.languages) langs.push_back(boost::json::value(l));
        arr.push_back(boost::json::object{{"name", tc.name}, {"file", tc.file.string()}, {"description", tc.description},
                                          {"languages", langs}, {"native", tc.native_only}, {"priority", tc.priority},
                                          {"platforms", plats}});
      }
      boost::json::array dir_arr;
      for (const auto& d : dirs) dir_arr.push_back(boost::json::value(d.string()));
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"host", host.str()}, {"dirs", dir_arr}, {"toolchains", arr}}));
      return;
    }
    fmt::print("host: {}\nsearched: {}\n", host.str(), [&] {
      std::vector<std::string> s;
      for (const auto& d : dirs) s.push_back(d.string());
      return join(s, ", ");
    }());
    for (const auto& tc : toolchains) {
      fmt::print("\n{} [{}]{}\n  {}\n", tc.name, join(tc.languages, ","), tc.native_only ? " (native)" : "", tc.description);
      for (auto& r : rows) {
        if (r.tc != &tc) continue;
        ToolchainStatus st = r.status.get();
        if (!st.usable()) fmt::print("  {:<16} missing: {}\n", r.platform.str(), st.problem);
        else if (st.warnings.empty()) fmt::print("  {:<16} usable\n", r.platform.str());
        else fmt::print("  {:<16} usable; warning: {}\n", r.platform.str(), join(st.warnings, "; warning: "));
      }
    }
  });
}

}  // namespace xb::cli
