// Loads toolchain descriptors and answers "does this one serve that platform, and which
// programs does it need there?". A descriptor is data, not code: adding a compiler family is
// a new TOML file, no rebuild. Whether those programs are installed is asked by plan/probe:
// config describes, it never runs anything.

#include "config/toolchain.hpp"

#include "config/toml_reader.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cstdlib>

#ifndef XBUILD_TOOLCHAIN_DIR
#define XBUILD_TOOLCHAIN_DIR "/usr/local/share/xbuild/toolchains"
#endif
#ifndef XBUILD_SOURCE_TOOLCHAIN_DIR
#define XBUILD_SOURCE_TOOLCHAIN_DIR ""
#endif

namespace xb {

namespace {

std::string upper_env(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(c == '-' || c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

}  // namespace

bool Toolchain::serves(const Platform& p, const std::string& language) const {
  std::string lang = language == "custom" ? "c" : language;
  if (std::find(languages.begin(), languages.end(), lang) == languages.end()) return false;
  if (native_only) return p == host_platform();
  return std::find(platforms.begin(), platforms.end(), p) != platforms.end();
}

std::string Toolchain::expand(const std::string& s, const Platform& p) const {
  const auto& t = p.traits();
  std::string out = s;
  out = replace_all(out, "{triple}", t.gnu_triple);
  out = replace_all(out, "{arch}", p.arch);
  out = replace_all(out, "{variant}", p.variant);
  out = replace_all(out, "{goarch}", t.goarch);
  out = replace_all(out, "{goarm}", t.goarm);
  out = replace_all(out, "{rust_target_env}", upper_env(t.rust_target));
  out = replace_all(out, "{rust_target}", t.rust_target);
  out = replace_all(out, "{debian_arch}", t.debian_arch);
  out = replace_all(out, "{qemu}", t.qemu);
  out = replace_all(out, "{sysroot}", sysroot.empty() ? "" : replace_all(sysroot, "{triple}", t.gnu_triple));
  return out;
}

std::map<std::string, std::string> Toolchain::env_for(const Platform& p) const {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : env) {
    std::string value = expand(v, p);
    if (!value.empty()) out[expand(k, p)] = value;  // GOARM="" on non-arm: leave unset
  }
  if (!path.empty()) {
    std::vector<std::string> dirs;
    for (const auto& d : path) dirs.push_back(expand(d, p));
    const char* inherited = std::getenv("PATH");
    out["PATH"] = join(dirs, ":") + ":" + (inherited ? inherited : "/usr/bin:/bin");
  }
  return out;
}

std::vector<std::string> Toolchain::probe_for(const Platform& p) const {
  std::vector<std::string> argv;
  for (const auto& a : probe) argv.push_back(expand(a, p));
  return argv;
}

const std::vector<std::string>& tool_variables() {
  static const std::vector<std::string> k_vars = {"CC", "CXX", "AR", "RANLIB", "STRIP", "LD", "NM", "OBJCOPY",
                                                  "PKG_CONFIG", "RUSTC", "CARGO", "GO"};
  return k_vars;
}

std::vector<ToolSpec> Toolchain::tool_specs(const Platform& p) const {
  std::vector<ToolSpec> out;
  auto add = [&](const std::string& name, const std::string& value) {
    auto words = split(trim(expand(value, p)), ' ');
    if (words.empty() || words.front().empty()) return;
    ToolSpec t;
    t.name = name;
    t.program = words.front();
    auto hint = install_tool.find(name);
    t.install = expand(hint != install_tool.end() ? hint->second : install_hint, p);
    bool opt = std::find(optional.begin(), optional.end(), name) != optional.end();
    bool cxx_only = name == "CXX" && std::find(languages.begin(), languages.end(), "c") != languages.end();
    t.need = opt ? ToolNeed::optional : cxx_only ? ToolNeed::cxx : ToolNeed::required;
    out.push_back(std::move(t));
  };
  for (const auto& var : tool_variables()) {
    if (auto it = env.find(var); it != env.end()) add(var, it->second);
  }
  for (const auto& tool : tools) add(tool, tool);
  return out;
}

std::vector<std::filesystem::path> toolchain_dirs(const std::filesystem::path& project_dir) {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("XBUILD_SHIPPED_TOOLCHAINS")) {
    dirs.emplace_back(env);
  } else if (std::filesystem::is_directory(XBUILD_TOOLCHAIN_DIR)) {
    dirs.emplace_back(XBUILD_TOOLCHAIN_DIR);
  } else if (std::string(XBUILD_SOURCE_TOOLCHAIN_DIR).size() && std::filesystem::is_directory(XBUILD_SOURCE_TOOLCHAIN_DIR)) {
    dirs.emplace_back(XBUILD_SOURCE_TOOLCHAIN_DIR);  // running from the build tree
  }
  if (const char* env = std::getenv("XBUILD_TOOLCHAIN_PATH")) {
    for (const auto& d : split(env, ':')) dirs.emplace_back(d);
  }
  if (!project_dir.empty() && std::filesystem::is_directory(project_dir / "toolchains"))
    dirs.push_back(project_dir / "toolchains");
  return dirs;
}

Toolchain load_toolchain(const std::filesystem::path& file) {
  toml::table root = config::parse_toml_file(file);
  config::TableReader r(root, file);
  Toolchain tc;
  tc.name = file.stem().string();
  tc.file = file;
  tc.digest = sha256_file(file);
  tc.description = r.string("description").value_or("");
  tc.languages = r.strings("languages").value_or(std::vector<std::string>{});
  if (tc.languages.empty()) {
    fail(Exit::usage, "{}: missing 'languages' (any of c, cxx, go, rust)", file.string());
  }
  for (const auto& l : tc.languages) {
    if (l != "c" && l != "cxx" && l != "go" && l != "rust")
      r.error_at(*r.node("languages"), fmt::format("unknown language \"{}\"; expected c, cxx, go or rust", l));
  }
  tc.native_only = r.boolean("native").value_or(false);
  if (auto v = r.strings("platforms")) {
    try {
      tc.platforms = parse_platforms(*v);
    } catch (const Error& e) {
      r.error_at(*r.node("platforms"), e.what());
    }
  }
  if (tc.platforms.empty() && !tc.native_only) {
    fail(Exit::usage, "{}: give 'platforms' (the targets it serves) or native = true", file.string());
  }
  tc.priority = static_cast<int>(r.integer("priority").value_or(0));
  tc.env = r.string_map("env").value_or(std::map<std::string, std::string>{});
  tc.probe = r.strings("probe").value_or(std::vector<std::string>{});
  tc.install_hint = r.string("install").value_or("");
  tc.probe_says = r.string("probe_problem").value_or("");
  tc.tools = r.strings("tools").value_or(std::vector<std::string>{});
  // PKG_CONFIG is optional unless a descriptor says otherwise: a C build that never runs
  // pkg-config works without it, and a plan note names it for the builds that do.
  tc.optional = r.strings("optional").value_or(std::vector<std::string>{"PKG_CONFIG"});
  tc.install_tool = r.string_map("install_tool").value_or(std::map<std::string, std::string>{});
  tc.path = r.strings("path").value_or(std::vector<std::string>{});
  for (const auto& d : tc.path) {
    if (d.empty() || d.front() != '/' || d.find(':') != std::string::npos)
      r.error_at(*r.node("path"), fmt::format("'path' entries must be absolute directories without ':', got \"{}\"", d));
  }
  tc.sysroot = r.string("sysroot").value_or("");
  tc.c_flags = r.strings("cflags").value_or(std::vector<std::string>{});
  tc.ld_flags = r.strings("ldflags").value_or(std::vector<std::string>{});
  r.reject_unknown({});
  return tc;
}

std::vector<Toolchain> load_toolchains(const std::vector<std::filesystem::path>& dirs) {
  std::vector<Toolchain> out;
  for (const auto& dir : dirs) {
    if (!std::filesystem::is_directory(dir)) {
      fail(Exit::usage, "toolchain directory {} does not exist (from XBUILD_TOOLCHAIN_PATH?)", dir.string());
    }
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".toml") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      Toolchain tc = load_toolchain(f);
      auto same = std::find_if(out.begin(), out.end(), [&](const Toolchain& t) { return t.name == tc.name; });
      if (same != out.end()) *same = std::move(tc);
      else out.push_back(std::move(tc));
    }
  }
  return out;
}

}  // namespace xb
