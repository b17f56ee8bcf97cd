// Root filesystems are expensive to make (minutes under qemu) and cheap to keep, so every
// source ends up as a directory in one cache. Creation runs in a temp dir beside the final
// one and is renamed into place under an flock: a crash leaves no half rootfs that a later
// build would trust, and two builds racing for the same rootfs create it once.
// mmdebstrap and tar run in a process group of their own that a SIGINT/SIGTERM to xbuild is
// forwarded to (so a CI cancel that signals xbuild alone stops them and they unmount what
// they mounted); the scratch dir and a dead xbuild's leftovers are removed without ever
// descending into a mount (util/temp.hpp remove_tree).

#include "emulate/rootfs.hpp"

#include "emulate/binfmt.hpp"
#include "emulate/qemu.hpp"
#include "exec/subprocess.hpp"
#include "emulate/tool_packages.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/host.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace xb::emulate {

namespace {

/// Runs argv, its stdout and stderr going to our stderr. Returns the exit code (127 not
/// found, 128+sig when killed). A SIGINT or SIGTERM to xbuild is passed on to the tool's
/// whole process group and, once the tool has cleaned up (mmdebstrap unmounts what it
/// mounted), thrown, so create_once removes the half-made rootfs. If xbuild dies, the tool
/// gets SIGTERM, not SIGKILL, for the same reason.
int run_in_foreground(const std::vector<std::string>& argv) {
  SpawnOptions o;
  o.out = OutputTo::fd;
  o.out_fd = 2;
  o.err = OutputTo::inherit;
  o.death_signal = SIGTERM;
  return run_interruptible(Command{argv, {}, {}}, o);
}

/// The rootfs cache, created when missing, with the stale temps of dead xbuilds removed.
fs::path make_cache_dir() {
  fs::path dir = rootfs_cache_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(Exit::environment, "cannot create the rootfs cache {}: {} (set XBUILD_ROOTFS_CACHE to a writable dir)", dir.string(), ec.message());
  // What a killed xbuild left (a half-made rootfs, hundreds of MB): only its own temps whose
  // process is gone, with whatever its mmdebstrap left mounted there detached first.
  remove_stale_temps_beside(dir, "tmp");
  return dir;
}

/// Fills `final_dir` by running `make(tmp)`, atomically, under a lock; no-op when present.
template <typename Make>
fs::path create_once(const fs::path& final_dir, bool force, Make make) {
  Fd lock = lock_file(final_dir.string() + ".lock");  // held until the entry is complete
  std::error_code ec;
  if (fs::is_directory(final_dir, ec)) {
    if (!force) return final_dir;
    fs::remove_all(final_dir, ec);
  }
  // A private scratch dir beside the entry; the tools get a path inside it that does not
  // exist yet, as they expect, and whatever they leave goes with the scratch dir.
  TempDirectory scratch = TempDirectory::beside(final_dir);
  fs::path tmp = scratch.path() / "rootfs";
  make(tmp);
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    fail(Exit::environment, "cannot move the new rootfs into {}: {}", final_dir.string(), ec.message());
  }
  return final_dir;
}

bool is_tarball(const std::string& s) {
  for (const char* ext : {".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.bz2"})
    if (s.size() > std::strlen(ext) && s.compare(s.size() - std::strlen(ext), std::string::npos, ext) == 0) return true;
  return false;
}

/// Unpacks an OCI image for `p` (oci:LAYOUT[:TAG] or docker://REF) with skopeo + umoci.
void unpack_image(const std::string& source, const Platform& p, const fs::path& dest) {
  for (const char* tool : {"skopeo", "umoci"})
    if (!which(tool)) fail(Exit::environment, "rootfs {} needs {}: apt-get install skopeo umoci", source, tool);
  fs::path layout = dest.string() + ".layout";
  std::error_code ec;
  fs::remove_all(layout, ec);
  std::vector<std::string> copy = {"skopeo", "copy", "--quiet", "--override-os", p.os, "--override-arch", p.arch};
  if (!p.variant.empty()) {
    copy.push_back("--override-variant");
    copy.push_back(p.variant);
  }
  // Plain http only for a registry on loopback (as the registry client allows): the
  // reference's host compared exactly, so localhost.attacker.example is verified.
  if (source.rfind("docker://", 0) == 0 &&
      is_loopback_host(host_without_port(reference_host(std::string_view(source).substr(9)))))
    copy.push_back("--src-tls-verify=false");
  copy.push_back(source);
  copy.push_back("oci:" + layout.string() + ":rootfs");
  int rc = run_in_foreground(copy);
  if (rc != 0) {
    fs::remove_all(layout, ec);
    fail(Exit::environment, "rootfs {}: skopeo could not fetch the {} image (exit {})", source, p.str(), rc);
  }
  rc = run_in_foreground({"umoci", "raw", "unpack", "--image", layout.string() + ":rootfs", dest.string()});
  fs::remove_all(layout, ec);
  if (rc != 0) fail(Exit::environment, "rootfs {}: umoci could not unpack the {} image (exit {})", source, p.str(), rc);
}

}  // namespace

fs::path rootfs_cache_dir() {
  if (const char* env = std::getenv("XBUILD_ROOTFS_CACHE"); env && *env) return env;
  if (::geteuid() == 0) return "/var/cache/xbuild/rootfs";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "xbuild" / "rootfs";
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : "/tmp") / ".cache" / "xbuild" / "rootfs";
}

std::string host_suite() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VERSION_CODENAME=", 0) == 0) {
      std::string v = line.substr(17);
      v.erase(std::remove(v.begin(), v.end(), '"'), v.end());
      if (!v.empty()) return v;
    }
  }
  return "stable";
}

std::string rootfs_key(const Platform& p, std::vector<std::string> packages, const std::string& suite,
                       const std::vector<std::string>& mirrors, const std::vector<std::string>& apt_options) {
  std::sort(packages.begin(), packages.end());
  packages.erase(std::unique(packages.begin(), packages.end()), packages.end());
  std::string material = suite + "\n" + join(packages, ",");
  // Extra inputs change the key only when given, so default keys stay stable.
  if (!mirrors.empty() || !apt_options.empty()) material += "\n" + join(mirrors, "\n") + "\n" + join(apt_options, "\n");
  std::string digest = sha256_hex(material);
  return fmt::format("{}-{}-{}", p.dir_name(), suite, digest.substr(0, 12));
}

fs::path ensure_rootfs(const Platform& p, const std::vector<std::string>& packages, const CreateOptions& options) {
  for (const auto& pkg : packages) {
    if (pkg.empty() || pkg.find_first_of(" ,/'\"") != std::string::npos)
      fail(Exit::usage, "bad package name '{}' for the {} rootfs", pkg, p.str());
  }
  std::string suite = options.suite.empty() ? host_suite() : options.suite;
  fs::path cache = make_cache_dir();
  fs::path final_dir = cache / rootfs_key(p, packages, suite, options.mirrors, options.apt_options);
  std::error_code ec;
  if (!options.force && fs::is_directory(final_dir, ec)) return final_dir;

  if (!which("mmdebstrap"))
    fail(Exit::environment, "creating a {} rootfs needs mmdebstrap: apt-get install mmdebstrap arch-test", p.str());
  if (p != host_platform()) {
    if (!which("arch-test"))
      fail(Exit::environment, "mmdebstrap needs arch-test to build a foreign ({}) rootfs: apt-get install arch-test", p.str());
    BinfmtStatus st = check_binfmt(p);
    if (!st.usable())
      fail(Exit::environment, "creating a {} rootfs runs its package scripts under qemu, and binfmt_misc is not usable:{}",
           p.str(), st.advice());
  }
  return create_once(final_dir, options.force, [&](const fs::path& tmp) {
    std::vector<std::string> argv = {"mmdebstrap", "--quiet", fmt::format("--arch={}", p.traits().debian_arch),
                                     "--variant=apt", "--format=directory"};
    if (!packages.empty()) argv.push_back("--include=" + join(packages, ","));
    for (const auto& opt : options.apt_options) argv.push_back("--aptopt=" + opt);
    argv.push_back(suite);
    argv.push_back(tmp.string());
    for (const auto& m : options.mirrors) argv.push_back(m);
    fmt::print(stderr, "xbuild: creating the {} rootfs ({}; {}) in {}\n", p.str(), suite,
               packages.empty() ? "no extra packages" : join(packages, ","), final_dir.string());
    int rc = run_in_foreground(argv);
    if (rc != 0)
      fail(Exit::environment,
           "mmdebstrap failed (exit {}) creating the {} rootfs; its output is above. Command: {}\n"
           "  check that suite '{}' has architecture {} (riscv64 is in Debian from trixie on: --suite trixie) and that "
           "its apt sources are reachable (--mirror 'deb URL SUITE main')",
           rc, p.str(), join(argv, " "), suite, p.traits().debian_arch);
  });
}

std::optional<fs::path> find_cached_rootfs(const Platform& p) {
  std::error_code ec;
  fs::path cache = rootfs_cache_dir();
  if (!fs::is_directory(cache, ec)) return std::nullopt;
  std::vector<fs::path> found;
  std::string prefix = p.dir_name() + "-";
  for (const auto& e : fs::directory_iterator(cache, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind(prefix, 0) == 0 && name.find(".tmp-") == std::string::npos &&
        name.find(".layout") == std::string::npos)
      found.push_back(e.path());
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end());
  return found.front();
}

fs::path resolve_rootfs(const Project& project, const Platform& p) {
  std::string source = project.emulate.rootfs;
  std::string origin = project.emulate.rootfs_origin.empty() ? fmt::format("[emulate] rootfs in {}", project.file.string())
                                                             : project.emulate.rootfs_origin;
  if (const char* env = std::getenv("XBUILD_ROOTFS"); env && *env) {
    source = env;
    origin = "XBUILD_ROOTFS";
  }
  if (source.empty()) return ensure_rootfs(p, rootfs_packages(project));

  source = replace_all(source, "{arch}", p.arch);
  source = replace_all(source, "{debian_arch}", std::string(p.traits().debian_arch));
  source = replace_all(source, "{platform_dir}", p.dir_name());
  std::error_code ec;

  if (source.rfind("oci:", 0) == 0 || source.rfind("docker://", 0) == 0) {
    std::string id = source;
    if (source.rfind("oci:", 0) == 0) {
      // Key on the layout's index too, so a rebuilt image is unpacked again.
      std::string rest = source.substr(4);
      fs::path layout = rest.substr(0, rest.find(':'));
      if (layout.is_relative()) {
        layout = project.dir / layout;
        source = "oci:" + layout.string() + (rest.find(':') == std::string::npos ? "" : rest.substr(rest.find(':')));
      }
      if (!fs::exists(layout / "index.json", ec))
        fail(Exit::usage, "{}: '{}' is not an OCI image layout (no index.json)", origin, layout.string());
      id += sha256_file(layout / "index.json");
    }
    fs::path dest = make_cache_dir() / fmt::format("{}-image-{}", p.dir_name(), sha256_hex(id).substr(0, 12));
    return create_once(dest, false, [&](const fs::path& tmp) { unpack_image(source, p, tmp); });
  }

  fs::path path = source;
  if (path.is_relative()) path = project.dir / path;
  if (fs::is_directory(path, ec)) {
    if (!path_in_root(path, "/bin/sh"))
      fail(Exit::usage, "{}: {} has no /bin/sh, so it is not a usable root filesystem", origin, path.string());
    return fs::canonical(path);
  }
  if (fs::is_regular_file(path, ec) && is_tarball(path.string())) {
    std::string digest = sha256_file(path);
    fs::path dest = make_cache_dir() / fmt::format("{}-tar-{}", p.dir_name(), digest.substr(0, 12));
    return create_once(dest, false, [&](const fs::path& tmp) {
      fs::create_directories(tmp);
      int rc = run_in_foreground({"tar", "--numeric-owner", "-xpf", path.string(), "-C", tmp.string()});
      if (rc != 0) fail(Exit::environment, "{}: cannot unpack {} (tar exit {})", origin, path.string(), rc);
    });
  }
  fail(Exit::usage, "{}: '{}' is neither a directory, a tarball (.tar, .tar.gz, .tar.zst, ...), oci:LAYOUT[:TAG] nor docker://REF",
       origin, source);
}

std::optional<fs::path> existing_rootfs(const Project& project, const Platform& p) {
  std::error_code ec;
  if (rootfs_is_created(project)) {
    fs::path dir = rootfs_cache_dir() / rootfs_key(p, rootfs_packages(project), host_suite());
    if (fs::is_directory(dir, ec)) return dir;
    return std::nullopt;
  }
  std::string source = project.emulate.rootfs;
  if (const char* env = std::getenv("XBUILD_ROOTFS"); env && *env) source = env;
  source = replace_all(source, "{arch}", p.arch);
  source = replace_all(source, "{debian_arch}", std::string(p.traits().debian_arch));
  source = replace_all(source, "{platform_dir}", p.dir_name());
  if (source.rfind("oci:", 0) == 0 || source.rfind("docker://", 0) == 0 || is_tarball(source)) return std::nullopt;
  fs::path path = source;
  if (path.is_relative()) path = project.dir / path;
  if (fs::is_directory(path, ec)) return fs::canonical(path, ec);
  return std::nullopt;
}

bool rootfs_is_created(const Project& project) {
  const char* env = std::getenv("XBUILD_ROOTFS");
  return (!env || !*env) && project.emulate.rootfs.empty();
}

std::optional<fs::path> path_in_root(const fs::path& root, const fs::path& inside) {
  std::deque<std::string> todo;
  for (const auto& c : inside.relative_path()) todo.push_back(c.string());
  fs::path cur = "/";
  int hops = 0;
  while (!todo.empty()) {
    std::string c = todo.front();
    todo.pop_front();
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      cur = cur.parent_path();
      continue;
    }
    fs::path cand = cur / c;
    fs::path host = root / cand.relative_path();
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) return std::nullopt;
    if (S_ISLNK(st.st_mode)) {
      if (++hops > 40) return std::nullopt;
      std::error_code ec;
      fs::path target = fs::read_symlink(host, ec);
      if (ec) return std::nullopt;
      std::deque<std::string> more;
      for (const auto& t : target.relative_path()) more.push_back(t.string());
      todo.insert(todo.begin(), more.begin(), more.end());
      if (target.is_absolute()) cur = "/";
      continue;
    }
    cur = cand;
  }
  return root / cur.relative_path();
}

std::optional<fs::path> find_program_in_root(const fs::path& root, const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.front() == '/') return path_in_root(root, name);
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"}) {
    if (auto p = path_in_root(root, fs::path(dir) / name)) {
      if (!fs::is_directory(*p) && ::access(p->c_str(), X_OK) == 0) return p;
    }
  }
  return std::nullopt;
}

}  // namespace xb::emulate
