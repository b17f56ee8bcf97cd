// Toolchain probes. A tool is looked up on the PATH the build will have (the descriptor's
// `path` first), because that is the program the build runs: a rustup cargo earlier on PATH
// is what `cargo build` would start, whatever RUSTC says. cargo and rustc are checked as a
// pair by letting that cargo ask that rustc what cargo always asks first (`cargo metadata`
// makes cargo run `rustc --print=...` for the target info), on an empty crate in a private
// temp dir: a version comparison cannot know which cargo needs which rustc print request.

#include "plan/probe.hpp"

#include "exec/subprocess.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <unordered_map>

namespace fs = std::filesystem;

namespace xb {

namespace {

/// A cache of process results keyed by what was run, shared by every thread.
class ProbeCache {
public:
  /// The cached value for `key`, computing it with `make` once (concurrent callers of
  /// different keys run in parallel; the same key may run twice, the last result wins).
  template <typename Make>
  std::string get(const std::string& key, Make make) {
    {
      std::lock_guard lock(m_mu);
      if (auto it = m_values.find(key); it != m_values.end()) return it->second;
    }
    std::string value = make();
    std::lock_guard lock(m_mu);
    m_values[key] = value;
    return value;
  }

private:
  std::mutex m_mu;
  std::unordered_map<std::string, std::string> m_values;
};

ProbeCache& cache() {
  static ProbeCache c;
  return c;
}

/// "" when the probe argv exits 0, else why not (`says`, or the probe and its exit) and the
/// install command.
std::string run_probe(const std::vector<std::string>& argv, const std::string& says, const std::string& install) {
  if (argv.empty()) return "";
  std::string rc = cache().get("probe\x1f" + join(argv, "\x1f"), [&] { return std::to_string(run_status(Command{argv, {}, {}})); });
  if (rc == "0") return "";
  if (!says.empty()) return fmt::format("{}; install with: {}", says, install);
  return fmt::format("probe `{}` failed{}; install with: {}", Command{argv, {}, {}}.display(),
                     rc == "127" ? std::string(" (not found)") : fmt::format(" (exit {})", rc), install);
}

/// The first line of `program --version`, or "" when it fails.
std::string version_of(const fs::path& program) {
  return cache().get("version\x1f" + program.string(), [&] {
    Captured out = capture(Command{{program.string(), "--version"}, {}, {}});
    if (!out.ok()) return std::string();
    return std::string(trim(out.output.substr(0, out.output.find('\n'))));
  });
}

/// The line of cargo's output that says what went wrong: the last one naming an error.
std::string cargo_error_line(const std::string& output) {
  std::string last;
  for (const auto& line : split(output, '\n')) {
    if (line.find("error") != std::string::npos) last = std::string(trim(line));
  }
  return last.empty() ? std::string(trim(output.substr(0, 200))) : last;
}

/// "" when `cargo` can drive `rustc`, else cargo's own words.
std::string pair_problem(const fs::path& cargo, const fs::path& rustc, const std::string& path_env) {
  return cache().get("pair\x1f" + cargo.string() + "\x1f" + rustc.string(), [&]() -> std::string {
    TempDirectory scratch;
    try {
      scratch = TempDirectory::scratch("xbuild-cargo-probe-");
    } catch (const Error&) {
      return "";  // cannot check; the build will tell
    }
    fs::path dir = scratch.path();
    {
      std::ofstream(dir / "Cargo.toml") << "[package]\nname = \"xbuild-probe\"\nversion = \"0.0.0\"\n[lib]\npath = \"lib.rs\"\n";
      std::ofstream(dir / "lib.rs") << "";
    }
    Command cmd{{cargo.string(), "metadata", "--offline", "--format-version", "1", "--manifest-path", (dir / "Cargo.toml").string()},
                {{"RUSTC", rustc.string()}, {"CARGO_TARGET_DIR", (dir / "target").string()}, {"PATH", path_env}},
                dir};
    Captured out = capture(cmd);
    if (out.ok()) return "";
    return cargo_error_line(out.output);
  });
}

std::string label(const ToolSpec& t) { return t.name == t.program ? t.program : t.name + " " + t.program; }

std::string basename_of(const std::string& program) { return fs::path(program).filename().string(); }

/// Why an optional tool matters, for the warning.
std::string why_optional(const ToolSpec& t) {
  if (t.name == "PKG_CONFIG") return "builds that run pkg-config fail (Meson's dependency(), autotools' PKG_CHECK_MODULES)";
  if (t.need == ToolNeed::cxx) return "C++ builds fail";
  return fmt::format("builds that run {} fail", basename_of(t.program));
}

/// One message for several missing tools: each named, then one install command (the
/// `apt-get install` ones merged, as one apt run installs them all).
std::string missing_tools(const std::vector<const ToolCheck*>& missing) {
  std::vector<std::string> what, packages, other;
  for (const ToolCheck* c : missing) {
    bool not_found = !c->found;
    what.push_back(not_found ? fmt::format("{} not found", label(c->spec)) : c->problem.substr(0, c->problem.rfind("; install with: ")));
    const std::string& install = c->spec.install;
    if (install.rfind("apt-get install ", 0) == 0) {
      for (const auto& pkg : split(install.substr(16), ' '))
        if (std::find(packages.begin(), packages.end(), pkg) == packages.end()) packages.push_back(pkg);
    } else if (!install.empty() && std::find(other.begin(), other.end(), install) == other.end()) {
      other.push_back(install);
    }
  }
  if (!packages.empty()) other.push_back("apt-get install " + join(packages, " "));
  return fmt::format("{}; install with: {}", join(what, ", "), join(other, " && "));
}

}  // namespace

std::string tool_version(const std::vector<std::string>& argv, const std::string& path_env) {
  if (argv.empty()) return "";
  return cache().get("tool-version\x1f" + path_env + "\x1f" + join(argv, "\x1f"), [&] {
    Captured out = capture(Command{argv, {{"PATH", path_env}}, {}});
    if (!out.ok()) return std::string();
    return std::string(trim(out.output.substr(0, out.output.find('\n'))));
  });
}

ToolchainStatus probe_toolchain(const Toolchain& tc, const Platform& p, const std::string& language,
                                const std::string& first_program) {
  ToolchainStatus st;
  auto env = tc.env_for(p);
  std::string path_env = env.count("PATH") ? env.at("PATH") : (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");

  for (const auto& spec : tc.tool_specs(p)) {
    ToolCheck c;
    c.spec = spec;
    c.found = find_program(spec.program, path_env.c_str());
    if (!c.found) c.problem = fmt::format("{} not found; install with: {}", label(spec), spec.install);
    st.tools.push_back(std::move(c));
  }

  // cargo and rustc as a pair: only the program the build would start counts.
  auto named = [&](const char* var, const char* prog) {
    return std::find_if(st.tools.begin(), st.tools.end(), [&](const ToolCheck& c) { return c.spec.name == var || c.spec.name == prog; });
  };
  auto cargo = named("CARGO", "cargo");
  auto rustc = named("RUSTC", "rustc");
  if (cargo != st.tools.end() && cargo->found) {
    std::optional<fs::path> rustc_path = rustc != st.tools.end() ? rustc->found : find_program("rustc", path_env.c_str());
    if (rustc_path) {
      std::string why = pair_problem(*cargo->found, *rustc_path, path_env);
      if (!why.empty()) {
        cargo->problem = fmt::format("{} ({}) cannot drive {} ({}): {}; install with: {}", cargo->found->string(),
                                     version_of(*cargo->found), rustc_path->string(), version_of(*rustc_path), why,
                                     cargo->spec.install);
      }
    }
  }

  std::vector<const ToolCheck*> missing;
  for (const auto& c : st.tools) {
    if (c.problem.empty()) continue;
    bool runs_first = !first_program.empty() && (basename_of(c.spec.program) == first_program || c.spec.name == first_program);
    bool needed = c.spec.need == ToolNeed::required || runs_first || (c.spec.need == ToolNeed::cxx && language == "cxx");
    if (needed) missing.push_back(&c);
    else if (c.spec.need == ToolNeed::optional || language.empty())
      st.warnings.push_back(fmt::format("{}: {}; install with: {}", c.problem.substr(0, c.problem.rfind("; install with: ")),
                                        why_optional(c.spec), c.spec.install));
  }
  std::vector<std::string> problems;
  if (!missing.empty()) problems.push_back(missing_tools(missing));
  // The descriptor's own probe checks what tools cannot show (a target's libstd, crt files);
  // it is not worth a process when a required tool is already missing.
  if (problems.empty()) {
    std::string probe = run_probe(tc.probe_for(p), tc.expand(tc.probe_says, p), tc.expand(tc.install_hint, p));
    if (!probe.empty()) problems.push_back(probe);
  }
  st.problem = join(problems, "; ");
  return st;
}

namespace {

bool is_assignment(const std::string& w) {
  auto eq = w.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  return std::all_of(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(eq),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// The first program of a shell script, as first_program describes.
std::string first_program_of_script(const std::string& script) {
  // Words that start a command but are not the build tool: keywords are skipped within the
  // command (`if make; then`), prefixes run the next word (`env X=1 make`), and builtins and
  // everyday utilities end it (`cd {src} && make`).
  static const std::set<std::string> k_keywords = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until",
                                                   "for", "case", "esac", "!", "{", "}", "(", ")", "time"};
  static const std::set<std::string> k_prefixes = {"exec", "env", "command", "nice", "nohup"};
  static const std::set<std::string> k_skip = {"cd", "set", "export", "unset", "echo", "printf", "test", "[", "true", "false",
                                               ":", ".", "source", "shift", "read", "trap", "umask", "ulimit", "mkdir", "rm",
                                               "cp", "mv", "ln", "touch", "cat", "ls", "chmod", "install", "pwd", "exit",
                                               "return", "local", "eval", "wait", "sleep", "uname"};
  std::string cur;
  std::vector<std::vector<std::string>> commands(1);
  char quote = 0;
  auto end_word = [&] {
    if (!cur.empty()) commands.back().push_back(cur);
    cur.clear();
  };
  for (std::size_t i = 0; i < script.size(); ++i) {
    char c = script[i];
    if (quote) {
      if (c == quote) quote = 0;
      else cur.push_back(c);
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      cur.push_back('\x01');  // marks a quoted word so "" is not lost
      continue;
    }
    if (c == '#' && cur.empty()) {
      while (i < script.size() && script[i] != '\n') ++i;
      end_word();
      commands.emplace_back();
      continue;
    }
    if (c == '\\' && i + 1 < script.size() && script[i + 1] == '\n') {
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t') {
      end_word();
    } else if (c == '&' && !cur.empty() && (cur.back() == '>' || cur.back() == '<')) {
      cur.push_back(c);  // a redirection (>&2, 2>&1, <&3), not a separator
    } else if (c == '\n' || c == ';' || c == '&' || c == '|') {
      end_word();
      commands.emplace_back();
    } else {
      cur.push_back(c);
    }
  }
  end_word();
  // A redirection word: optional fd digits, then > or < (>file, 2>&1, >>log, <in, &>out).
  auto redirection = [](const std::string& w, bool& needs_target) {
    std::size_t i = 0;
    if (i < w.size() && w[i] == '&') ++i;
    while (i < w.size() && std::isdigit(static_cast<unsigned char>(w[i]))) ++i;
    if (i >= w.size() || (w[i] != '>' && w[i] != '<')) return false;
    while (i < w.size() && (w[i] == '>' || w[i] == '<' || w[i] == '&' || w[i] == '|')) ++i;
    needs_target = i == w.size();  // "2>" then the file as the next word
    return true;
  };
  int in_case = 0;  // a case's arms (`y) cmd;;`) are skipped whole, up to its esac
  for (auto& words : commands) {
    if (in_case > 0) {
      in_case -= static_cast<int>(std::count(words.begin(), words.end(), "esac"));
      continue;
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
      std::string w = words[i];
      w.erase(std::remove(w.begin(), w.end(), '\x01'), w.end());
      bool needs_target = false;
      if (redirection(w, needs_target)) {
        if (needs_target) ++i;
        continue;
      }
      // `for NAME in WORDS` and `case WORD in` name no program: the body after `do` (or a
      // pattern's `)`) is a command of its own.
      if (w == "case") ++in_case;
      if (w == "for" || w == "case" || w == "select") break;
      if (k_keywords.count(w) || is_assignment(w) || k_prefixes.count(w)) continue;
      if (w.find('$') != std::string::npos || w.find('`') != std::string::npos || w.find('/') != std::string::npos)
        return "";  // not knowable without running the script, or a file of the project
      if (k_skip.count(w)) break;
      if (!w.empty() && w.front() == '-') break;  // an option of a skipped prefix such as `env -i`
      return w;
    }
  }
  return "";
}

}  // namespace

std::string first_program(const std::vector<std::string>& argv) {
  if (argv.empty()) return "";
  std::string prog = basename_of(argv[0]);
  if ((prog == "sh" || prog == "bash" || prog == "dash") && argv.size() >= 3) {
    for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (a.size() > 1 && a[0] == '-' && a.find('c') != std::string::npos) return first_program_of_script(argv[i + 1]);
    }
  }
  if (argv[0].find('/') != std::string::npos && argv[0].front() != '/') return "";  // ./configure
  return argv[0];
}

}  // namespace xb
