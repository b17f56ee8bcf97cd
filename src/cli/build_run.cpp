// The build+export+push path `xbuild build` and `xbuild resolve` share (build_run.hpp).

#include "cli/build_run.hpp"

#include "cli/commands.hpp"
#include "cli/image_spec.hpp"
#include "cli/progress.hpp"
#include "exec/cgroup.hpp"
#include "exec/subprocess.hpp"
#include "pipeline/verify.hpp"
#include "plan/cache.hpp"
#include "plan/probe.hpp"
#include "util/fd.hpp"
#include "util/host.hpp"
#include "util/interrupt.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

/// Copies one regular file with plain reads and writes (std::filesystem::copy reports a full
/// disk as EIO); throws Error(environment) with the errno of what failed.
void copy_file_to(const fs::path& from, const fs::path& to, const fs::path& shown) {
  auto bad = [&] {
    fail(Exit::environment, "--output type=local: cannot copy {} to {}: {} (nothing was left behind)", from.string(), shown.string(),
         std::strerror(errno));
  };
  struct stat st {};
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in || ::fstat(in.get(), &st) != 0) bad();
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777));
  if (!out || ::fchmod(out.get(), st.st_mode & 07777) != 0) bad();  // the source's mode, whatever the umask
  std::vector<char> buf(1 << 20);
  for (;;) {
    throw_if_interrupted("copying the outputs to " + shown.string());
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) bad();
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.get(), buf.data() + off, static_cast<std::size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) bad();
      off += w;
    }
  }
  if (::close(out.release()) != 0) bad();
}

/// Copies an output (a file, a symlink or a directory tree) to `to`.
void copy_output(const fs::path& from, const fs::path& to, const fs::path& shown) {
  std::error_code ec;
  auto one = [&](const fs::path& src, const fs::path& dst) {
    fs::file_status st = fs::symlink_status(src, ec);
    if (fs::is_symlink(st)) fs::copy_symlink(src, dst, ec);
    else if (fs::is_directory(st)) fs::create_directory(dst, src, ec);  // with src's attributes
    else if (!ec) return copy_file_to(src, dst, shown);
    if (ec)
      fail(Exit::environment, "--output type=local: cannot copy {} to {}: {} (nothing was left behind)", src.string(), shown.string(),
           ec.message());
  };
  one(from, to);
  if (!fs::is_directory(fs::symlink_status(from, ec))) return;
  for (auto it = fs::recursive_directory_iterator(from); it != fs::recursive_directory_iterator(); ++it)
    one(it->path(), to / it->path().lexically_relative(from));
}

/// Copies each platform's outputs to DEST/<os>_<arch>[_<variant>]/ as buildx's local exporter does.
/// Every platform is staged beside its directory first and swapped in only once all copies
/// succeeded, so a full disk or a signal leaves the previous outputs and no temps.
void export_local(const Project& project, const std::vector<PlatformResult>& results, const fs::path& dest) {
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) fail(Exit::environment, "--output type=local: cannot create {}: {}", dest.string(), ec.message());
  std::vector<std::pair<TempDirectory, fs::path>> staged;  // (scratch holding "out", final dir)
  for (const auto& r : results) {
    fs::path dir = dest / r.platform.dir_name();
    remove_stale_temps(dest, temp_prefix_beside(dir));
    TempDirectory scratch = TempDirectory::beside(dir);  // removed with whatever a failed copy left
    fs::path tmp = scratch.path() / "out";
    fs::create_directories(tmp, ec);
    for (const auto& o : project.outputs) {
      throw_if_interrupted("copying the outputs to " + dest.string());
      fs::create_directories((tmp / o).parent_path(), ec);
      if (ec) fail(Exit::environment, "--output type=local: cannot create {}: {}", (dir / o).parent_path().string(), ec.message());
      copy_output(r.out / o, tmp / o, dir / o);
    }
    staged.emplace_back(std::move(scratch), dir);
  }
  throw_if_interrupted("copying the outputs to " + dest.string());
  for (auto& [scratch, dir] : staged) {
    fs::path tmp = scratch.path() / "out";
    // Swapped atomically when DIR exists (the old outputs go with the scratch dir), else renamed.
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0 &&
        ::rename(tmp.c_str(), dir.c_str()) != 0)
      fail(Exit::environment, "--output type=local: cannot move {} to {}: {}", tmp.string(), dir.string(), std::strerror(errno));
  }
}

/// The nearest existing ancestor of `path` (itself if it exists).
fs::path existing_ancestor(const fs::path& path) {
  std::error_code ec;
  fs::path dir = fs::absolute(path);
  while (!fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  return dir;
}

/// Why a directory cannot be made in `dir`, or "" if it can: access(2) says yes to root even
/// on a read-only mount, so only trying tells.
std::string probe_failure(const fs::path& dir) {
  try {
    TempDirectory probe = TempDirectory::in(dir, ".xbuild-probe-");  // removed again at once
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

/// Fails before building unless the project's state dir (.xbuild: sources, build dirs,
/// outputs, logs) can be written, wherever -o points: a read-only checkout cannot build.
void check_state_dir(const Project& project) {
  fs::path state = state_dir(project);
  if (std::string why = probe_failure(existing_ancestor(state)); !why.empty())
    fail(Exit::environment,
         "{} cannot be written ({}): xbuild keeps every platform's build directory and outputs there, whatever "
         "--output says; build a writable copy of the project",
         state.string(), why);
}

/// `xbuild push` with the flags that matter for the registry and the same refs, for a push
/// to retry after a build whose push failed. --creds is named, never repeated (a secret).
std::string retry_push_command(const fs::path& layout, const std::string& tag, const std::vector<std::string>& refs,
                               const registry::PushOptions& options) {
  std::vector<std::string> argv = {"xbuild", "push"};
  if (!options.ca_file.empty()) argv.insert(argv.end(), {"--ca-file", fs::absolute(options.ca_file).string()});
  for (const auto& h : options.insecure_registries) argv.insert(argv.end(), {"--insecure-registry", h});
  argv.push_back(fs::absolute(layout).string() + ":" + tag);
  argv.insert(argv.end(), refs.begin(), refs.end());
  std::string line = shell_display(argv);
  if (!options.creds.empty()) line += "  (with the same --creds)";
  return line;
}

/// What the plan's compiler says of its version (the first line of `CC --version`, `go version`,
/// `rustc --version`), "" for emulated and runner builds (their compilers are elsewhere) or
/// when it cannot be asked.
std::string tool_version(const Project& project, const PlatformPlan& plan) {
  if (!plan.toolchain || (plan.strategy != Strategy::native && plan.strategy != Strategy::cross)) return {};
  auto env = [&](const char* k) {
    auto it = plan.env.find(k);
    return it == plan.env.end() ? std::string() : it->second;
  };
  std::vector<std::string> argv;
  if (project.language == "go") argv = {"go", "version"};
  else if (project.language == "rust") argv = {env("RUSTC").empty() ? "rustc" : env("RUSTC"), "--version"};
  else if (!env(project.language == "cxx" ? "CXX" : "CC").empty()) {
    argv = split(env(project.language == "cxx" ? "CXX" : "CC"), ' ');
    argv.push_back("--version");
  }
  if (argv.empty()) return {};
  // Behind the compiler cache's masquerade links is the compiler plan_cache already asked
  // (probe.hpp keeps its answer): the same first line, without a process per platform.
  std::string masquerade = plan.cache.bin().string() + ":";
  if (plan.cache.uses_ccache() && argv.size() == 2 && env("PATH").rfind(masquerade, 0) == 0)
    return xb::tool_version(argv, env("PATH").substr(masquerade.size()));
  Command cmd{argv, plan.env, {}};
  CaptureOptions quiet;
  quiet.err = OutputTo::discard;
  quiet.limit = 4096;
  try {
    Captured r = capture(cmd, quiet);
    if (!r.ok()) return {};
    std::string_view out = r.output;
    return std::string(trim(out.substr(0, out.find('\n'))));
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

std::string toolchain_label(const PlatformPlan& plan) {
  if (plan.toolchain) return plan.toolchain->name;
  if (plan.strategy == Strategy::emulate) return "emulate";
  if (plan.strategy == Strategy::runner && plan.runner) return "runner " + redact_userinfo(plan.runner->host);
  return std::string(to_string(plan.strategy));
}

void check_writable(const fs::path& path, WriteTarget target, std::string_view what, std::string_view noun) {
  std::error_code ec;
  fs::path dir = existing_ancestor(target == WriteTarget::file ? fs::absolute(path).parent_path() : path);
  if (!fs::is_directory(dir, ec))
    fail(Exit::usage, "{} '{}': '{}' is not a directory; choose another {}", what, path.string(), dir.string(), noun);
  if (std::string why = probe_failure(dir); !why.empty())
    fail(Exit::environment, "{} '{}' cannot be written ({}); choose another {}", what, path.string(), why, noun);
}

BuildRun build_and_export(Project& project, const std::vector<Toolchain>& toolchains, BuildJob& job, Status& status) {
  oci::ExportOptions& eopts = job.exports;
  bool local = eopts.type == oci::OutputType::local;
  check_state_dir(project);
  if (local) check_writable(eopts.dest, WriteTarget::directory, "--output dest", "dest");
  std::vector<Platform> targets = job.plan.platforms.empty() ? project.platforms : job.plan.platforms;
  if (targets.empty()) targets = {host_platform()};
  if (!local && !project.image.base.empty() && project.image.base != "scratch")
    project.image.base = in_phase(status, Phase::cache, [&] {
      return registry::resolve_base(project.image.base, targets, job.push_options.client_options());
    });
  if (!local) oci::check_export(image_spec_of(project), targets, eopts);
  job.push_options.verbose = globals().verbose;
  if (job.push) {  // a registry that is down or refuses the credentials fails now, not after the build
    try {
      registry::check_push_access(job.refs, job.push_options);
    } catch (const Error& e) {
      if (e.code() != Exit::registry) throw;
      throw Error(fmt::format("{}\n  (checked before building: nothing was built)", e.what()), Exit::registry);
    }
  }

  BuildRun run;
  run.plans = make_plan(project, toolchains, job.plan);
  auto& plans = run.plans;
  if (globals().verbose) fmt::print(stderr, "xbuild: {}\n", describe_job_isolation());
  auto started = std::chrono::steady_clock::now();
  // Caches come in before the builds and go out after them; a cache problem only warns.
  import_caches(plans, job.cache_from, job.push_options, run.caches);
  BuildOptions build_options = job.build;
  build_options.cache_sealed = [&](std::size_t i, const PlatformPlan& plan) {  // emulated: its key needs the rootfs
    import_cache(plan, job.cache_from, job.push_options, run.caches[i]);
  };
  run.results = run_builds(project, plans, build_options, status);
  export_caches(plans, run.results, job.cache_to, job.push_options, run.caches);
  run.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // A build that failed outranks a setup problem: exit 1 if any platform's build failed,
  // else the code the failures share (3 for a missing toolchain or runner, 2 for bad input).
  for (const auto& r : run.results) {
    if (r.ok || r.cancelled) continue;
    run.failures.push_back(fmt::format("{}: {}", r.platform.str(), r.error));
    run.code = !run.code || *run.code == r.exit ? r.exit : Exit::build_failed;
  }
  if (!run.failures.empty()) return run;
  {
    // The export runs in this process: a signal unwinds it (removing its temps) instead
    // of killing xbuild halfway, and ends the run with exit 130.
    InterruptScope interrupts;
    if (local) {
      export_local(project, run.results, eopts.dest);
    } else {
      std::vector<oci::PlatformImageInput> inputs;
      for (const auto& r : run.results) inputs.push_back({r.platform, r.out});
      // Every platform's compiler is asked its version at once (a process each, unless
      // plan_cache asked it already), not one after another.
      bool name_tools = eopts.sbom || eopts.provenance != oci::ProvenanceMode::none;
      std::vector<std::string> versions(plans.size());
      if (name_tools)
        parallel_for(plans.size(), static_cast<int>(plans.size()), [&](std::size_t i) { versions[i] = tool_version(project, plans[i]); });
      for (std::size_t i = 0; i < plans.size(); ++i) {
        const PlatformPlan& plan = plans[i];
        eopts.sysroots[plan.platform] = runtime_sysroot(plan);
        if (!name_tools) continue;
        eopts.tools[plan.platform] = oci::BuildTool{toolchain_label(plan), versions[i]};
        if (plan.strategy == Strategy::emulate) eopts.rootfs[plan.platform] = runtime_sysroot(plan);
      }
      for (const auto& plan : plans) {
        if (eopts.provenance == oci::ProvenanceMode::none) break;
        oci::BuildRecord b;
        b.strategy = std::string(to_string(plan.strategy));
        b.tool.name = toolchain_label(plan);
        if (auto t = eopts.tools.find(plan.platform); t != eopts.tools.end()) b.tool = t->second;
        b.command = !project.build.argv.empty() ? project.build.argv : std::vector<std::string>{"sh", "-ec", project.build.script};
        b.args = plan.args;
        if (eopts.provenance == oci::ProvenanceMode::max) {  // the build's environment: ours, then the plan's
          for (char** e = environ; e && *e; ++e) {
            std::string_view kv(*e);
            auto eq = kv.find('=');
            if (eq != std::string_view::npos) b.env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
          }
          for (const auto& [k, v] : plan.env) b.env[k] = v;
        }
        eopts.builds[plan.platform] = std::move(b);
      }
      eopts.reuse_dir = state_dir(project) / "reuse";  // not under .xbuild/cache: --no-cache is about compilers
      run.image = in_phase(status, Phase::pack, [&] { return oci::export_images(image_spec_of(project), inputs, eopts); });
    }
    throw_if_interrupted("finishing the export to " + job.shown_dest);
  }
  if (local || !job.push) return run;
  // A registry failure does not undo the build: the caller prints the results first, then
  // this error with the command that retries only the push.
  const std::string& tag = run.image->ref_names.front();
  try {
    run.pushed = in_phase(status, Phase::push, [&] { return registry::push_layout(eopts.dest, tag, job.refs, job.push_options); });
  } catch (const Error& e) {
    if (e.code() != Exit::registry) throw;
    run.push_error = fmt::format("{}\n  the build succeeded and the image is in {} (tag {}); to retry only the push, run:\n"
                                 "  {}", e.what(), eopts.dest.string(), tag, retry_push_command(eopts.dest, tag, job.refs, job.push_options));
  }
  return run;
}

}  // namespace xb::cli
