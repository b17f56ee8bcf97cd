// git is asked two questions; any failure (not a checkout, no git, no origin) just leaves
// the annotation out.

#include "oci/provenance.hpp"

#include "exec/subprocess.hpp"
#include "util/strings.hpp"

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
  return p;
}

}  // namespace xb::oci
