#include "exec/scheduler.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace xb {

std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, CommandRunner& runner, bool keep_going) {
  std::vector<JobResult> results(jobs.size());
  std::vector<bool> started(jobs.size(), false);
  bool stopping = false;
  auto settled = [&](std::size_t i) { return results[i].status != JobStatus::pending; };

  while (true) {
    // Cancel jobs whose dependencies did not succeed.
    bool changed = true;
    while (changed) {
      changed = false;
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (started[i] || settled(i)) continue;
        for (std::size_t d : jobs[i].deps) {
          if (settled(d) && results[d].status != JobStatus::ok) {
            results[i].status = JobStatus::cancelled;
            results[i].message = fmt::format("not run: {} did not succeed", jobs[d].name);
            changed = true;
            break;
          }
        }
      }
    }
    if (!stopping) {
      for (std::size_t i = 0; i < jobs.size() && runner.can_run_more(); ++i) {
        if (started[i] || settled(i)) continue;
        bool ready = std::all_of(jobs[i].deps.begin(), jobs[i].deps.end(),
                                 [&](std::size_t d) { return results[d].status == JobStatus::ok; });
        if (!ready) continue;
        started[i] = true;
        runner.start(i, jobs[i]);
      }
    }
    if (runner.running() == 0) break;
    auto [id, result] = runner.wait_for_one();
    results[id] = std::move(result);
    JobStatus st = results[id].status;
    if (st == JobStatus::interrupted || (st != JobStatus::ok && !keep_going)) {
      if (!stopping) runner.abort_all();
      stopping = true;
    }
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!settled(i)) {
      results[i].status = JobStatus::cancelled;
      results[i].message = "not run: the build stopped after a failure (use --keep-going to finish the others)";
    }
  }
  return results;
}

namespace {

std::atomic<int> g_signal{0};
int g_signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
  g_signal = sig;
  if (g_signal_pipe[1] >= 0) {
    char c = 1;
    [[maybe_unused]] auto n = ::write(g_signal_pipe[1], &c, 1);
  }
}

// Runners may live at the same time (`xbuild resolve` builds its projects in parallel): the
// first installs the handlers and the last restores what was there before, so the actions
// come back in order whatever order the runners end in.
std::mutex g_handlers_mutex;
int g_runners = 0;
SignalHandlers g_handlers;

void acquire_handlers() {
  std::lock_guard lock(g_handlers_mutex);
  if (g_runners++ > 0) return;
  g_signal = 0;
  if (g_signal_pipe[0] < 0) ::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK);
  // As make and ninja do: a signal that was ignored when xbuild started (nohup) stays ignored,
  // and the previous actions come back when the last runner goes.
  g_handlers.install(on_signal);
}

void release_handlers() {
  std::lock_guard lock(g_handlers_mutex);
  if (--g_runners == 0) g_handlers.restore();
}

}  // namespace

struct SubprocessRunner::Running {
  std::size_t id;
  const Job* job;
  std::unique_ptr<Cgroup> cgroup;         // destroyed after proc: killed, emptied, removed
  Subprocess proc;
  std::FILE* log = nullptr;
  std::string partial;
  std::chrono::steady_clock::time_point started;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  JobStatus forced = JobStatus::pending;  // set when we killed it
  std::string forced_message;
};

SubprocessRunner::SubprocessRunner(int slots, LineSink sink) : m_slots(std::max(1, slots)), m_sink(std::move(sink)) {
  acquire_handlers();
  if (const CgroupSupport& cg = cgroup_support(); cg.usable) {
    try {
      m_cgroup = Cgroup::create_unique(cg.parent, "xbuild");
    } catch (const Error& e) {
      fmt::print(stderr, "xbuild: warning: {}; jobs are isolated by process group only\n", e.what());
    }
  }
  m_watchdog = std::make_unique<Watchdog>(m_cgroup.get());
}

SubprocessRunner::~SubprocessRunner() {
  kill_all(JobStatus::cancelled, "");
  for (auto& r : m_running) {
    r->proc.wait();
    m_watchdog->untrack(r->proc.pid());
    if (r->log) std::fclose(r->log);
  }
  m_running.clear();  // removes the job cgroups
  m_cgroup.reset();
  m_watchdog.reset();
  release_handlers();
}

bool SubprocessRunner::can_run_more() const {
  return static_cast<int>(m_running.size()) < m_slots && g_signal == 0;
}

std::size_t SubprocessRunner::running() const { return m_running.size(); }

bool SubprocessRunner::interrupted() const { return g_signal != 0; }

void SubprocessRunner::start(std::size_t id, const Job& job) {
  auto r = std::make_unique<Running>();
  r->id = id;
  r->job = &job;
  SpawnOptions options;  // own group, stdin /dev/null, stdout+stderr in one pipe
  if (m_cgroup) {
    r->cgroup = Cgroup::create(m_cgroup->path(), fmt::format("job-{}", m_started++));
    options.cgroup = r->cgroup.get();
  }
  r->proc = Subprocess::start(job.command, options);
  m_watchdog->track(r->proc.pid());
  ::fcntl(r->proc.stdout_fd(), F_SETFL, O_NONBLOCK);
  if (!job.log.empty()) {
    std::filesystem::create_directories(job.log.parent_path());
    r->log = std::fopen(job.log.c_str(), "we");  // never inherited by later jobs
    if (r->log) std::fprintf(r->log, "$ %s\n", job.command.display().c_str());
  }
  r->started = std::chrono::steady_clock::now();
  if (job.timeout) r->deadline = r->started + *job.timeout;
  m_running.push_back(std::move(r));
}

void SubprocessRunner::end_job(Running& r, int sig) {
  r.proc.signal_group(sig);
  if (sig == SIGKILL && r.cgroup) r.cgroup->kill();
}

void SubprocessRunner::kill_all(JobStatus status, const std::string& message) {
  for (auto& r : m_running) {
    if (r->forced == JobStatus::pending) {
      r->forced = status;
      r->forced_message = message;
    }
    end_job(*r, SIGTERM);
  }
  // Give groups a moment to exit cleanly, then make sure. Wait for each leader to exit
  // without reaping it: a zombie leader keeps its group id, so the KILL still reaches
  // whatever it left in the group.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& r : m_running) {
    while (std::chrono::steady_clock::now() < until && !r->proc.exited()) ::usleep(20000);
    end_job(*r, SIGKILL);
  }
}

void SubprocessRunner::abort_all() {
  kill_all(JobStatus::cancelled, "cancelled: another platform failed (use --keep-going to finish the others)");
}

std::pair<std::size_t, JobResult> SubprocessRunner::wait_for_one() {
  // Lines go to the sink as they are, blank or indented; only the newline is taken off.
  auto emit = [&](Running& r, std::string_view data, bool flush) {
    if (r.log) std::fwrite(data.data(), 1, data.size(), r.log);
    r.partial.append(data);
    std::size_t pos;
    while ((pos = r.partial.find('\n')) != std::string::npos) {
      m_sink(*r.job, std::string_view(r.partial).substr(0, pos));
      r.partial.erase(0, pos + 1);
    }
    if (flush && !r.partial.empty()) {
      m_sink(*r.job, r.partial);
      r.partial.clear();
    }
  };
  // At most ~1 MiB per call: a job that writes faster than the sink prints must not keep
  // the loop from checking deadlines and signals. Returns true when it stopped at EAGAIN
  // or EOF (nothing more to read now).
  auto drain = [&](Running& r) {
    char buf[16384];
    for (int reads = 0; r.proc.stdout_fd() >= 0 && reads < 64; ++reads) {
      ssize_t n = ::read(r.proc.stdout_fd(), buf, sizeof buf);
      if (n > 0) {
        emit(r, std::string_view(buf, static_cast<std::size_t>(n)), false);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || errno != EAGAIN) r.proc.close_stdout();
      return true;
    }
    return r.proc.stdout_fd() < 0;
  };

  while (true) {
    if (g_signal != 0 && !m_interrupt_handled) {
      m_interrupt_handled = true;
      char c;
      while (::read(g_signal_pipe[0], &c, 1) > 0) {}
      kill_all(JobStatus::interrupted, fmt::format("interrupted by {}", sigabbrev_np(g_signal) ? std::string("SIG") + sigabbrev_np(g_signal) : "a signal"));
    }
    auto now = std::chrono::steady_clock::now();
    for (auto& r : m_running) {
      if (r->deadline && now >= *r->deadline && r->forced == JobStatus::pending) {
        r->forced = JobStatus::timed_out;
        r->forced_message = fmt::format("timed out after {}s; its process group{} was killed", r->job->timeout->count(),
                                        r->cgroup ? " and cgroup" : "");
        end_job(*r, SIGKILL);
      }
    }
    for (std::size_t i = 0; i < m_running.size(); ++i) {
      Running& r = *m_running[i];
      drain(r);
      if (!r.proc.exited()) continue;
      // The job's process exited: the job is over. Kill what it left behind (its group id
      // is still reserved by the unreaped leader; the cgroup catches what left the group),
      // take the output already written, and do not wait for anyone still holding the pipe.
      end_job(r, SIGKILL);
      for (int rounds = 0; rounds < 64 && !drain(r); ++rounds) {}
      emit(r, "", true);
      r.proc.close_stdout();
      JobResult res;
      res.exit = r.proc.wait();
      m_watchdog->untrack(r.proc.pid());
      res.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
      if (r.forced != JobStatus::pending) {
        res.status = r.forced;
        res.message = r.forced_message;
      } else if (res.exit.ok()) {
        res.status = JobStatus::ok;
      } else {
        res.status = JobStatus::failed;
        res.message = fmt::format("`{}` failed ({})", r.job->command.display(), res.exit.describe());
        if (res.exit.exit_code == 127) res.message += "; command not found? check PATH and the toolchain (xbuild toolchains)";
        if (res.exit.exit_code == 126) res.message += "; permission denied: is it executable (chmod +x)?";
      }
      if (r.log) {
        std::fprintf(r.log, "# %s after %.1fs\n", res.status == JobStatus::ok ? "ok" : res.message.c_str(), res.wall_seconds);
        std::fclose(r.log);
      }
      std::size_t id = r.id;
      m_running.erase(m_running.begin() + static_cast<std::ptrdiff_t>(i));  // ~Cgroup: emptied and removed
      return {id, std::move(res)};
    }
    std::vector<pollfd> fds;
    for (auto& r : m_running) {
      if (r->proc.stdout_fd() >= 0) fds.push_back(pollfd{r->proc.stdout_fd(), POLLIN, 0});
      if (r->proc.pidfd() >= 0) fds.push_back(pollfd{r->proc.pidfd(), POLLIN, 0});
    }
    fds.push_back(pollfd{g_signal_pipe[0], POLLIN, 0});
    ::poll(fds.data(), fds.size(), 100);
  }
}

}  // namespace xb
