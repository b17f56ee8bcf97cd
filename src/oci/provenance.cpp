// git is asked two questions; any failure (not a checkout, no git, no origin) just leaves
// the annotation out.

#include "oci/provenance.hpp"

#include "exec/subprocess.hpp"
#include "oci/image.hpp"
#include "util/error.hpp"
#include "util/host.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace xb::oci {

namespace {

std::string git(const std::filesystem::path& dir, std::vector<std::string> args) {
  std::vector<std::string> argv{"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Command cmd{argv, {{"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}}, {}};
  CaptureOptions quiet;
  quiet.err = OutputTo::discard;  // "not a git repository" is not news here
  Captured r = capture(cmd, quiet);
  if (!r.ok()) return "";
  std::string out = std::string(trim(r.output));
  if (out.find('\n') != std::string::npos) return "";
  return out;
}

}  // namespace

std::string strip_credentials(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto start = scheme + 3;
  auto slash = url.find('/', start);
  auto at = url.rfind('@', slash == std::string::npos ? url.size() : slash);
  if (at == std::string::npos || at < start) return url;
  return url.substr(0, start) + url.substr(at + 1);
}

Provenance read_provenance(const std::filesystem::path& project_dir) {
  Provenance p;
  std::string rev = git(project_dir, {"rev-parse", "--verify", "HEAD"});
  if (rev.size() != 40 || rev.find_first_not_of("0123456789abcdef") != std::string::npos) return p;
  p.revision = rev;
  p.source = strip_credentials(git(project_dir, {"config", "--get", "remote.origin.url"}));
  // Dirty: a tracked file differs from HEAD (status refreshes the stat cache, so a fresh copy
  // of a clean tree is clean). Untracked files do not count: .xbuild/ is one unless ignored.
  std::vector<std::string> argv{"git", "-C", project_dir.string(), "status", "--porcelain", "--untracked-files=no"};
  Command cmd{argv, {{"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}}, {}};
  CaptureOptions quiet;
  quiet.err = OutputTo::discard;
  Captured st = capture(cmd, quiet);
  p.dirty = !st.ok() || !trim(st.output).empty();
  return p;
}

ProvenanceMode parse_provenance_mode(std::string_view text, std::string_view flag) {
  if (text == "false" || text == "0") return ProvenanceMode::none;
  if (text == "true" || text == "1" || text == "mode=min" || text == "min") return ProvenanceMode::min;
  if (text == "mode=max" || text == "max") return ProvenanceMode::max;
  fail(Exit::usage, "{} {}: expected true, false, mode=min or mode=max", flag, text);
}

bool secret_looking(std::string_view name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view word : {"SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASS", "PWD", "KEY", "CREDENTIAL", "CREDS",
                                "AUTH", "COOKIE", "SESSION", "PRIVATE", "SIGNATURE", "CERT", "DSN"})
    if (up.find(word) != std::string::npos && up != "PWD" && up != "OLDPWD") return true;
  return false;
}

namespace {

namespace json = boost::json;

/// A value for the statement: a "user:password@" anywhere in a URL-like value is removed.
std::string clean(std::string_view value) { return strip_credentials(redact_userinfo(value)); }

}  // namespace

std::string make_provenance(const ProvenanceInput& in) {
  json::object external{{"platform", in.platform.str()}, {"strategy", in.build.strategy}, {"toolchain", in.build.tool.name}};
  json::array command;
  for (const auto& w : in.build.command) command.push_back(json::string(w));
  external["buildCommand"] = std::move(command);
  json::object args;
  for (const auto& [k, v] : in.build.args)
    if (!secret_looking(k)) args[k] = clean(v);
  if (!args.empty()) external["buildArgs"] = std::move(args);
  if (!in.base_name.empty() || !in.base_digest.empty()) external["base"] = in.base_name.empty() ? "(local layout)" : in.base_name;

  json::object internal{{"compilerVersion", in.build.tool.version}};
  if (in.mode == ProvenanceMode::max) {
    json::object env;
    for (const auto& [k, v] : in.build.env)
      if (!secret_looking(k)) env[k] = clean(v);
    internal["environment"] = std::move(env);
  }

  json::array deps;
  if (!in.source.revision.empty()) {
    json::object src{{"uri", in.source.source.empty() ? std::string("git") : "git+" + clean(in.source.source)},
                     {"digest", json::object{{"gitCommit", in.source.revision}}}};
    src["annotations"] = json::object{{"dirty", in.source.dirty}};
    deps.push_back(std::move(src));
  }
  if (!in.base_digest.empty()) {
    auto colon = in.base_digest.find(':');
    json::object base{{"uri", in.base_name.empty() ? std::string("oci-layout") : "docker://" + clean(in.base_name)},
                      {"digest", json::object{{in.base_digest.substr(0, colon), in.base_digest.substr(colon + 1)}}}};
    deps.push_back(std::move(base));
  }
  std::vector<SbomPackage> packages = in.packages;
  std::sort(packages.begin(), packages.end());
  packages.erase(std::unique(packages.begin(), packages.end()), packages.end());
  for (const auto& p : packages) {
    std::string uri = p.kind == "deb" ? fmt::format("pkg:deb/debian/{}@{}{}", p.name, p.version, p.arch.empty() ? "" : "?arch=" + p.arch)
                                      : fmt::format("pkg:{}/{}@{}", p.kind, p.name, p.version);
    deps.push_back(json::object{{"uri", uri}, {"annotations", json::object{{"source", p.source}}}});
  }

  json::object statement{
      {"_type", "https://in-toto.io/Statement/v1"},
      {"subject", json::array{json::object{{"name", in.image_name},
                                           {"digest", json::object{{in.manifest.digest.algorithm(), in.manifest.digest.hex()}}}}}},
      {"predicateType", "https://slsa.dev/provenance/v1"},
      {"predicate",
       json::object{{"buildDefinition", json::object{{"buildType", "https://xbuild.invalid/build/v1"},
                                                     {"externalParameters", std::move(external)},
                                                     {"internalParameters", std::move(internal)},
                                                     {"resolvedDependencies", std::move(deps)}}},
                    {"runDetails", json::object{{"builder", json::object{{"id", "https://xbuild.invalid/xbuild"},
                                                                         {"version", json::object{{"xbuild", XBUILD_VERSION}}}}},
                                                {"metadata", json::object{}}}}}}};
  return json::serialize(statement);
}

}  // namespace xb::oci
