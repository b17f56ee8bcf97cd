#pragma once
// The scheduler runs a DAG of jobs within a number of slots, the way ninja's Builder does:
// start every ready job the runner has room for, then reap the next one that finishes.
// Planning what is ready lives here; running processes lives behind CommandRunner, so the
// scheduler is tested with a fake runner and no processes at all.

#include "exec/cgroup.hpp"
#include "exec/command.hpp"
#include "exec/subprocess.hpp"
#include "exec/watchdog.hpp"
#include "util/interrupt.hpp"

#include <signal.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xb {

/// One unit of work.
struct Job {
  std::string name;                              ///< shown as the output prefix, e.g. linux/arm64
  Command command;                               ///< what to run
  std::vector<std::size_t> deps;                 ///< indices of jobs that must succeed first
  std::filesystem::path log;                     ///< full output goes here ("" = none)
  std::optional<std::chrono::seconds> timeout;   ///< kill the job's group after this long
};

enum class JobStatus { pending, ok, failed, timed_out, cancelled, interrupted };

/// What happened to one job.
struct JobResult {
  JobStatus status = JobStatus::pending;
  ExitInfo exit;                                 ///< valid for ok/failed/timed_out
  double wall_seconds = 0;
  std::string message;                           ///< why it failed or was cancelled
};

/// Runs commands for the scheduler.
class CommandRunner {
public:
  virtual ~CommandRunner() = default;
  /// True when another job may start now.
  virtual bool can_run_more() const = 0;
  /// Starts job `id`.
  virtual void start(std::size_t id, const Job& job) = 0;
  /// Blocks until a started job finishes; returns its id and result.
  virtual std::pair<std::size_t, JobResult> wait_for_one() = 0;
  /// Kills every running job; they are then returned by wait_for_one as cancelled.
  virtual void abort_all() = 0;
  /// Number of jobs started and not yet returned.
  virtual std::size_t running() const = 0;
};

/// Runs `jobs` through `runner`. On a failure, cancels the rest unless `keep_going` (jobs
/// that depend on a failed job are cancelled either way). An interrupted job stops
/// everything. Returns one result per job, in order.
std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, CommandRunner& runner, bool keep_going);

/// Where job output lines go (besides the job's log file).
using LineSink = std::function<void(const Job& job, std::string_view line)>;

/// The real runner: each job is a Subprocess in its own process group and, where cgroup v2
/// allows (cgroup_support()), in its own cgroup below one cgroup per runner; a watchdog
/// process ends them all if xbuild dies without doing it. Output is read with poll(), split
/// into lines (blank lines and indentation kept), written to the job's log and passed to the
/// sink. A job ends when its process exits: what it left running is killed (group and
/// cgroup), the output already written is taken, and nothing later holds the job open.
/// SIGINT, SIGTERM and SIGHUP (unless ignored when xbuild started) are caught while it
/// lives: every job is killed and the running jobs come back as interrupted.
class SubprocessRunner : public CommandRunner {
public:
  SubprocessRunner(int slots, LineSink sink);
  ~SubprocessRunner() override;
  bool can_run_more() const override;
  void start(std::size_t id, const Job& job) override;
  std::pair<std::size_t, JobResult> wait_for_one() override;
  void abort_all() override;
  std::size_t running() const override;
  /// True once SIGINT or SIGTERM arrived.
  bool interrupted() const;

private:
  struct Running;
  void kill_all(JobStatus status, const std::string& message);
  /// Sends `sig` to the job's group; SIGKILL also empties its cgroup.
  static void end_job(Running& r, int sig);
  bool m_interrupt_handled = false;                    ///< the groups were killed once already
  int m_slots;
  LineSink m_sink;
  std::vector<std::unique_ptr<Running>> m_running;
  std::unique_ptr<Cgroup> m_cgroup;                    ///< the run's cgroup, when usable
  std::unique_ptr<Watchdog> m_watchdog;                ///< ends the jobs if xbuild dies
  std::size_t m_started = 0;                           ///< names the job cgroups
};

}  // namespace xb
