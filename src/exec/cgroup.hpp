#pragma once
// cgroup v2 as a job boundary. A process group ends where a process calls setsid; a cgroup
// does not: every descendant stays in it, and writing "1" to its cgroup.kill (Linux 5.14)
// SIGKILLs them all at once. The scheduler makes one cgroup per xbuild run below xbuild's
// own cgroup and one child per job; where that is impossible (no cgroup2 mount, not root,
// an old kernel) it falls back to process groups and cgroup_support() says why.
//
// Everything here is plain filesystem calls on the cgroup2 mount; no controller is enabled,
// so the "no internal processes" rule never applies to the cgroups made here.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace xb {

/// Whether jobs can run in cgroups on this machine.
struct CgroupSupport {
  bool usable = false;
  std::filesystem::path parent;  ///< xbuild's own cgroup in the cgroup2 mount, when usable
  std::string reason;            ///< why not, when !usable
};
/// Probed once per process: the cgroup2 mount (from /proc/self/mountinfo, wherever it is
/// mounted), xbuild's own cgroup (/proc/self/cgroup), cgroup.kill, and whether a cgroup can
/// be made there. XBUILD_NO_CGROUPS=1 turns it off (tests of the fallback).
const CgroupSupport& cgroup_support();
/// One line for -v: how jobs are isolated here, and what that does not catch.
std::string describe_job_isolation();

/// A cgroup made by xbuild. The destructor kills what is left in it, waits for it to be
/// empty and removes it.
class Cgroup {
public:
  /// Makes `parent/name` (name must not exist yet); throws Error(environment) when the
  /// directory or its cgroup.procs cannot be opened.
  static std::unique_ptr<Cgroup> create(const std::filesystem::path& parent, const std::string& name);
  /// Makes a child of `parent` named "<prefix>-<pid>-<random>".
  static std::unique_ptr<Cgroup> create_unique(const std::filesystem::path& parent, const std::string& prefix);
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  /// Its directory in the cgroup2 mount.
  const std::filesystem::path& path() const { return m_path; }
  /// Its cgroup.procs, open for writing (O_CLOEXEC): a child writes "0" to it to join.
  int procs_fd() const { return m_procs; }
  /// SIGKILLs every process in it and in the cgroups below it (cgroup.kill).
  void kill() const;
  /// True while a process is in it or below it (cgroup.events "populated 1").
  bool populated() const;
  /// Waits until populated() is false or `limit` passed; returns !populated().
  bool wait_empty(std::chrono::milliseconds limit) const;

private:
  Cgroup() = default;
  std::filesystem::path m_path;
  int m_procs = -1;
  int m_events = -1;
};

}  // namespace xb
