// The probe looks for the cgroup2 mount in mountinfo instead of assuming /sys/fs/cgroup:
// hybrid hosts and containers mount it at /sys/fs/cgroup/unified, and a cgroup namespace or
// a bind mount may show a subtree whose root is not "/". cgroup.kill exists only below the
// root cgroup, so the probe makes (and removes) one cgroup to see it.

#include "exec/cgroup.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace xb {

namespace {

/// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount(std::string_view s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

CgroupSupport probe() {
  CgroupSupport s;
  if (const char* off = std::getenv("XBUILD_NO_CGROUPS"); off && *off && std::string_view(off) != "0") {
    s.reason = "XBUILD_NO_CGROUPS is set";
    return s;
  }
  // Our own cgroup in the v2 hierarchy: the "0::" line.
  std::string self;
  {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0) self = line.substr(3);
  }
  fs::path mount, root;
  {
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
      auto dash = line.find(" - ");
      if (dash == std::string::npos) continue;
      std::istringstream after(line.substr(dash + 3));
      std::string fstype;
      after >> fstype;
      if (fstype != "cgroup2") continue;
      std::istringstream before(line.substr(0, dash));
      std::string id, parent, dev, r, point;
      before >> id >> parent >> dev >> r >> point;
      mount = unescape_mount(point);
      root = unescape_mount(r);
      break;
    }
  }
  if (mount.empty()) {
    s.reason = "no cgroup2 file system is mounted";
    return s;
  }
  if (self.empty()) {
    s.reason = fmt::format("/proc/self/cgroup names no cgroup v2 path (cgroup2 is mounted at {})", mount.string());
    return s;
  }
  // Our path is relative to the hierarchy's root; the mount shows the subtree at `root`.
  std::string rel = self;
  std::string r = root.string();
  if (r != "/") {
    if (rel.rfind(r, 0) != 0) {
      s.reason = fmt::format("xbuild's cgroup {} is outside the cgroup2 mount at {} (root {})", self, mount.string(), r);
      return s;
    }
    rel = rel.substr(r.size());
  }
  fs::path rel_dir = fs::path(rel).relative_path();
  fs::path dir = rel_dir.empty() ? mount : mount / rel_dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    s.reason = fmt::format("xbuild's cgroup {} is not visible at {}", self, dir.string());
    return s;
  }
  try {
    auto test = Cgroup::create_unique(dir, "xbuild-probe");
    if (::access((test->path() / "cgroup.kill").c_str(), W_OK) != 0) {
      s.reason = "the kernel has no cgroup.kill (Linux 5.14 or later is needed)";
      return s;
    }
  } catch (const Error& e) {
    s.reason = e.what();
    return s;
  }
  s.usable = true;
  s.parent = dir;
  return s;
}

}  // namespace

const CgroupSupport& cgroup_support() {
  static const CgroupSupport s = probe();
  return s;
}

std::string describe_job_isolation() {
  const CgroupSupport& s = cgroup_support();
  if (s.usable)
    return fmt::format("each job runs in its own cgroup below {} and is ended with cgroup.kill (processes that call setsid "
                       "are ended too)", s.parent.string());
  return fmt::format("jobs are isolated by process group only, not by cgroup ({}): a process that calls setsid can outlive "
                     "its job", s.reason);
}

std::unique_ptr<Cgroup> Cgroup::create(const fs::path& parent, const std::string& name) {
  std::unique_ptr<Cgroup> g(new Cgroup);
  fs::path dir = parent / name;
  if (::mkdir(dir.c_str(), 0755) != 0)
    fail(Exit::environment, "cannot create the cgroup {}: {}", dir.string(), std::strerror(errno));
  g->m_path = dir;
  g->m_procs = ::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  g->m_events = ::open((dir / "cgroup.events").c_str(), O_RDONLY | O_CLOEXEC);
  if (g->m_procs < 0 || g->m_events < 0)
    fail(Exit::environment, "cannot open the cgroup {}: {}", dir.string(), std::strerror(errno));  // ~Cgroup removes it
  return g;
}

std::unique_ptr<Cgroup> Cgroup::create_unique(const fs::path& parent, const std::string& prefix) {
  for (int attempt = 0;; ++attempt) {
    unsigned char r[4] = {};
    if (::getrandom(r, sizeof r, 0) != sizeof r) fail(Exit::environment, "getrandom failed: {}", std::strerror(errno));
    std::string name = fmt::format("{}-{}-{:02x}{:02x}{:02x}{:02x}", prefix, ::getpid(), r[0], r[1], r[2], r[3]);
    std::error_code ec;
    if (fs::exists(parent / name, ec) && attempt < 8) continue;
    return create(parent, name);
  }
}

Cgroup::~Cgroup() {
  if (!m_path.empty()) {
    if (m_events >= 0 && populated()) {
      kill();
      wait_empty(std::chrono::seconds(10));
    }
    // The last exit can lag the populated flag by a moment: retry a busy rmdir briefly.
    for (int i = 0; i < 100 && ::rmdir(m_path.c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (m_procs >= 0) ::close(m_procs);
  if (m_events >= 0) ::close(m_events);
}

void Cgroup::kill() const {
  int fd = ::open((m_path / "cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] auto n = ::write(fd, "1", 1);
  ::close(fd);
}

bool Cgroup::populated() const {
  char buf[256];
  ssize_t n = ::pread(m_events, buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  buf[n] = '\0';
  return std::strstr(buf, "populated 1") != nullptr;
}

bool Cgroup::wait_empty(std::chrono::milliseconds limit) const {
  auto until = std::chrono::steady_clock::now() + limit;
  while (populated()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    // cgroup.events signals a change with POLLPRI; the short timeout covers a missed one.
    pollfd p{m_events, POLLPRI, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 20)));
  }
  return true;
}

}  // namespace xb
