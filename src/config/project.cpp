// Reads xbuild.toml into a Project. Every key is typed and every unknown key is an error with
// its position, because a typo in a build file that is silently ignored costs an afternoon.

#include "config/project.hpp"

#include "config/toml_reader.hpp"
#include "util/image_name.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace xb {

namespace {

using config::TableReader;

const std::vector<std::string> k_languages = {"c", "cxx", "go", "rust", "custom"};
const std::vector<std::string> k_root_keys = {"name", "language", "platforms", "build", "test", "outputs", "env",
                                              "args", "toolchain", "source", "strategy", "image", "emulate", "cache", "runner"};
const std::vector<std::string> k_image_keys = {"base", "entrypoint", "cmd", "env", "workdir", "user", "labels",
                                               "ports", "tags", "compression", "runtime", "files", "sbom"};
const std::vector<std::string> k_emulate_keys = {"rootfs", "packages", "timeout", "accelerate"};
const std::vector<std::string> k_cache_keys = {"enabled", "max_size"};
const std::vector<std::string> k_runner_keys = {"platform", "host", "port", "identity", "workdir"};

/// Throws, positioned at `n`, for a `{name}` in `text` that is not a placeholder of
/// `known_placeholders()` or a well-formed `{arg:KEY}`. `${VAR}` (shell) and braces that do not
/// hold a bare word (`{ print }`, `{a,b}`) are left alone.
void check_placeholders(TableReader& r, const toml::node& n, const std::string& key, std::string_view text) {
  for (std::size_t i = text.find('{'); i != std::string_view::npos; i = text.find('{', i + 1)) {
    if (i > 0 && text[i - 1] == '$') continue;
    auto close = text.find('}', i);
    if (close == std::string_view::npos) return;
    std::string_view word = text.substr(i + 1, close - i - 1);
    if (word.rfind("arg:", 0) == 0) {
      std::string_view arg = word.substr(4);
      if (!valid_arg_name(arg))
        r.error_at(n, fmt::format("'{}': '{{{}}}' names no build argument; write {{arg:KEY}} with KEY of "
                                  "[A-Za-z_][A-Za-z0-9_]*", r.full_key(key), word));
      continue;
    }
    bool bare = !word.empty() && (std::isalpha(static_cast<unsigned char>(word[0])) || word[0] == '_') &&
                std::all_of(word.begin(), word.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
    if (!bare) continue;
    const auto& known = known_placeholders();
    if (std::find(known.begin(), known.end(), word) != known.end()) continue;
    std::string guess = closest_name(std::string(word), known);
    r.error_at(n, fmt::format("'{}': unknown placeholder '{{{}}}'{}; placeholders are {{{}}} and {{arg:KEY}} "
                              "(for literal braces in a script, put a space inside: '{{ {} }}')",
                              r.full_key(key), word, guess.empty() ? "" : fmt::format(" (did you mean '{{{}}}'?)", guess),
                              join(known, "} {"), word));
  }
}

/// check_placeholders for every string of a command (a script, or each argv element).
void check_command_placeholders(TableReader& r, const std::string& key, const CommandSpec& spec) {
  const toml::node* n = r.node(key);
  if (!n) return;
  if (!spec.script.empty()) check_placeholders(r, *n, key, spec.script);
  if (const toml::array* arr = n->as_array())
    for (const auto& el : *arr) check_placeholders(r, el, key, *el.value<std::string>());
}

/// What is wrong with `text` as an [image] tag (NAME[:TAG], by the registry's grammar, so a
/// bad tag is reported here with its line instead of after the build); "" when fine.
std::string image_name_problem(std::string_view text) {
  if (text.find('@') != std::string_view::npos) return "a digest cannot name an image; use NAME:TAG";
  Result<ImageName> parsed = parse_image_name(text);
  return parsed ? std::string() : parsed.error();
}

CommandSpec read_command(TableReader& r, const std::string& key) {
  CommandSpec spec;
  const toml::node* n = r.node(key);
  if (!n) return spec;
  if (n->is_string()) {
    spec.script = *n->value<std::string>();
    if (trim(spec.script).empty()) r.error_at(*n, fmt::format("'{}' is empty", r.full_key(key)));
    return spec;
  }
  spec.argv = *r.strings(key);
  if (spec.argv.empty()) r.error_at(*n, fmt::format("'{}' is an empty array; give the command to run", r.full_key(key)));
  return spec;
}

constexpr long long k_max_timeout = 30LL * 24 * 3600;  // 30 days: beyond that it is a typo

std::chrono::seconds parse_duration(TableReader& r, const std::string& key) {
  const toml::node* n = r.node(key);
  if (n->is_integer()) {
    auto v = *n->value<long long>();
    if (v <= 0 || v > k_max_timeout)
      r.error_at(*n, fmt::format("'{}' must be between 1 and {} seconds", r.full_key(key), k_max_timeout));
    return std::chrono::seconds(v);
  }
  if (n->is_string()) {
    std::string s = *n->value<std::string>();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    std::string unit = end ? std::string(end) : "";
    long long mult = unit == "" || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
    if (end == s.c_str() || mult < 0 || v <= 0 || errno == ERANGE || v > k_max_timeout / mult)
      r.error_at(*n, fmt::format("'{}' must be a duration such as 90, \"90s\", \"30m\" or \"2h\" (got \"{}\")", r.full_key(key), s));
    return std::chrono::seconds(v * mult);
  }
  r.error_at(*n, fmt::format("'{}' must be seconds (integer) or a string such as \"30m\"", r.full_key(key)));
}

/// True for a size ccache takes as CCACHE_MAXSIZE: digits, then K, M, G or T (decimal) or
/// Ki, Mi, Gi, Ti (binary), as "2G", "500M", "10Gi"; "0" is no limit.
bool valid_cache_size(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i > 15) return false;
  std::string_view unit = s.substr(i);
  if (unit.empty()) return s == "0";  // a bare number's unit differs between ccache versions
  static const std::vector<std::string_view> k_units = {"K", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"};
  return std::find(k_units.begin(), k_units.end(), unit) != k_units.end();
}

void read_cache(TableReader& r, CacheSection& cache) {
  r.reject_unknown(k_cache_keys);
  if (auto v = r.boolean("enabled")) cache.enabled = *v;
  if (const toml::node* n = r.node("max_size")) {
    if (!n->is_string())
      r.error_at(*n, "'cache.max_size' must be a size string such as \"2G\" or \"500M\"");
    cache.max_size = *n->value<std::string>();
    if (!valid_cache_size(cache.max_size))
      r.error_at(*n, fmt::format("'cache.max_size' must be a size such as \"2G\", \"500M\" or \"10Gi\" (digits, then K, M, G "
                                 "or T, or Ki, Mi, Gi, Ti; \"0\" = no limit) (got \"{}\")", cache.max_size));
  }
  r.reject_unknown({});
}

void read_image(TableReader& r, ImageSection& image) {
  r.reject_unknown(k_image_keys);
  if (auto v = r.string("base")) image.base = *v;
  if (auto v = r.strings("entrypoint", true)) image.entrypoint = *v;
  if (auto v = r.strings("cmd", true)) image.cmd = *v;
  if (auto v = r.strings("env")) image.env = *v;
  if (auto v = r.string("workdir")) image.workdir = *v;
  if (auto v = r.string("user")) image.user = *v;
  if (auto v = r.string_map("labels")) image.labels = *v;
  if (auto v = r.strings("ports")) image.exposed_ports = *v;
  if (auto v = r.strings("tags")) {
    image.tags = *v;
    const toml::array& arr = *r.node("tags")->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      std::string why = image_name_problem(image.tags[i]);
      if (!why.empty())
        r.error_at(*arr.get(i), fmt::format("'image.tags': invalid image name \"{}\": {} (expected [REGISTRY/]REPOSITORY[:TAG], "
                                           "e.g. \"registry.example.com/team/hello:1.0\")", image.tags[i], why));
    }
  }
  if (auto c = r.string("compression")) {
    static const std::map<std::string, Compression, std::less<>> k_names = {
        {"gzip", Compression::gzip}, {"zstd", Compression::zstd}, {"none", Compression::none}};
    auto it = k_names.find(*c);
    if (it == k_names.end())
      r.error_at(*r.node("compression"), fmt::format("'image.compression' must be \"gzip\", \"zstd\" or \"none\" (got \"{}\")", *c));
    image.compression = it->second;
  }
  if (const toml::node* n = r.node("runtime")) {
    image.runtime = r.string("runtime").value();
    if (image.runtime != "auto" && image.runtime != "none")
      r.error_at(*n, fmt::format("'image.runtime' must be \"auto\" (add the loader and libraries dynamic programs need) or \"none\" (got \"{}\")", image.runtime));
  }
  if (auto v = r.boolean("sbom")) image.sbom = *v;
  if (auto files = r.string_map("files")) {
    for (const auto& [from, to] : *files) image.files.push_back(ImageFile{from, to});
  }
  for (const auto& e : image.env) {
    if (e.find('=') == std::string::npos)
      r.error_at(*r.node("env"), fmt::format("'image.env' entries must be KEY=VALUE (got \"{}\")", e));
  }
  r.reject_unknown({});
}

}  // namespace

std::string_view to_string(SourceMode m) { return m == SourceMode::copy ? "copy" : "shared"; }

const std::vector<std::string>& known_placeholders() {
  static const std::vector<std::string> k_names = {"src", "out", "build", "jobs", "platform", "os", "arch", "variant",
                                                    "triple", "rust_target", "cmake_toolchain", "meson_cross", "cc", "cxx"};
  return k_names;
}

bool valid_arg_name(std::string_view name) {
  return !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
         std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Project load_project(const std::filesystem::path& dir_in, const std::filesystem::path& file_in) {
  std::error_code ec;
  auto dir = std::filesystem::absolute(dir_in, ec).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  auto file = file_in.empty() ? dir / "xbuild.toml" : std::filesystem::absolute(file_in, ec).lexically_normal();
  if (!file_in.empty() && !std::filesystem::is_regular_file(file, ec)) {
    fail(Exit::usage, "-f {}: no such file ({} is not a regular file)", file_in.string(), file.string());
  }
  if (!std::filesystem::exists(file)) {
    fail(Exit::usage, "{} not found: run xbuild in a project directory or pass -C DIR (see README: \"xbuild.toml\")",
         file.string());
  }
  toml::table root = config::parse_toml_file(file);
  TableReader r(root, file);
  // Unknown keys first: `output = [...]` must say "did you mean 'outputs'?", not "missing 'outputs'".
  r.reject_unknown(k_root_keys);

  Project p;
  p.dir = dir;
  p.file = file;
  p.name = r.string("name").value_or(dir.filename().string());
  p.language = r.string("language").value_or("custom");
  if (std::find(k_languages.begin(), k_languages.end(), p.language) == k_languages.end()) {
    r.error_at(*r.node("language"), fmt::format("'language' must be one of {} (got \"{}\")", join(k_languages, ", "), p.language));
  }
  if (auto v = r.strings("platforms")) {
    try {
      p.platforms = parse_platforms(*v);
    } catch (const Error& e) {
      r.error_at(*r.node("platforms"), e.what());
    }
  }
  p.build = read_command(r, "build");
  if (p.build.empty()) {
    fail(Exit::usage, "{}: missing 'build': the command that builds the project, e.g. build = [\"make\", \"OUT={{out}}\"]",
         file.string());
  }
  p.test = read_command(r, "test");
  check_command_placeholders(r, "build", p.build);
  check_command_placeholders(r, "test", p.test);
  if (auto v = r.strings("outputs")) p.outputs = *v;
  if (p.outputs.empty()) {
    fail(Exit::usage, "{}: missing 'outputs': the files the build writes into {{out}}, e.g. outputs = [\"hello\"]",
         file.string());
  }
  for (const auto& o : p.outputs) {
    std::filesystem::path op(o);
    bool escapes = op.is_absolute() || std::any_of(op.begin(), op.end(), [](const auto& part) { return part == ".."; });
    if (escapes) r.error_at(*r.node("outputs"), fmt::format("output \"{}\" must be a path relative to {{out}} without \"..\"", o));
  }
  if (const toml::array* arr = r.node("outputs")->as_array())
    for (const auto& el : *arr) check_placeholders(r, el, "outputs", *el.value<std::string>());
  if (auto v = r.string_map("env")) {
    p.env = *v;
    for (const auto& [k, val] : p.env) check_placeholders(r, *r.table("env")->get(k), "env." + k, val);
  }
  if (auto v = r.string_map("args")) {
    for (const auto& [k, val] : *v) {
      if (!valid_arg_name(k))
        r.error_at(*r.table("args")->get(k), fmt::format("'args.{}': a build argument is named like an environment "
                                                         "variable, [A-Za-z_][A-Za-z0-9_]*", k));
    }
    p.args = *v;
  }
  if (auto v = r.string("toolchain")) p.toolchain = *v;
  if (auto v = r.string("source")) {
    if (*v == "copy") p.source = SourceMode::copy;
    else if (*v == "shared") p.source = SourceMode::shared;
    else r.error_at(*r.node("source"), fmt::format("'source' must be \"copy\" (each platform builds in its own snapshot of the "
                                                  "tree) or \"shared\" (out-of-tree builds only) (got \"{}\")", *v));
  }
  if (auto v = r.string_map("strategy")) {
    for (const auto& [plat, strat] : *v) {
      const toml::node* n = r.table("strategy")->get(plat);
      std::optional<Strategy> st;
      try {
        st = parse_strategy(strat);
      } catch (const Error&) {
        r.error_at(*n, fmt::format("strategy for {} must be one of auto, native, cross, emulate, runner (got \"{}\")", plat, strat));
      }
      std::string key = plat;
      if (plat != "all") {
        try {
          key = Platform::parse(plat).str();
        } catch (const Error& e) {
          r.error_at(*n, e.what());
        }
      }
      p.strategy[key] = st;
    }
  }
  if (const toml::table* t = r.table("image")) {
    TableReader ir(*t, file, "image");
    read_image(ir, p.image);
  }
  if (const toml::table* t = r.table("emulate")) {
    TableReader er(*t, file, "emulate");
    er.reject_unknown(k_emulate_keys);
    if (auto v = er.string("rootfs")) p.emulate.rootfs = *v;
    if (auto v = er.strings("packages")) p.emulate.packages = *v;
    if (er.node("timeout")) p.emulate.timeout = parse_duration(er, "timeout");
    if (const toml::node* n = er.node("accelerate")) {
      auto v = n->value<std::string>();
      if (!v || (*v != "auto" && *v != "off"))
        er.error_at(*n, fmt::format("emulate.accelerate must be \"auto\" or \"off\" (got {})",
                                    v ? "\"" + *v + "\"" : std::string("a value that is not a string")));
      p.emulate.accelerate = *v == "off" ? Accelerate::off : Accelerate::automatic;
    }
    er.reject_unknown({});
  }
  if (const toml::table* t = r.table("cache")) {
    TableReader cr(*t, file, "cache");
    read_cache(cr, p.cache);
  }
  for (const toml::table* t : r.tables("runner")) {
    TableReader rr(*t, file, "runner");
    rr.reject_unknown(k_runner_keys);
    RunnerSection s;
    auto plat = rr.string("platform");
    auto host = rr.string("host");
    if (!plat || !host) rr.error_at(*t, "each [[runner]] needs 'platform' and 'host'");
    try {
      s.platform = Platform::parse(*plat).str();
    } catch (const Error& e) {
      rr.error_at(*rr.node("platform"), e.what());
    }
    s.host = *host;
    if (auto v = rr.integer("port")) {
      if (*v < 1 || *v > 65535) rr.error_at(*rr.node("port"), fmt::format("'runner.port' must be 1-65535 (got {})", *v));
      s.port = static_cast<int>(*v);
    }
    if (auto v = rr.string("identity")) s.identity = *v;
    if (auto v = rr.string("workdir")) {
      s.workdir = *v;
      if (!std::filesystem::path(s.workdir).is_absolute())
        rr.error_at(*rr.node("workdir"), fmt::format("'runner.workdir' must be an absolute path on the runner (got \"{}\")", s.workdir));
    }
    rr.reject_unknown({});
    p.runners.push_back(std::move(s));
  }
  r.reject_unknown({});
  return p;
}

}  // namespace xb
