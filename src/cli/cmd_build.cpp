// `xbuild build`: plan, build every platform in parallel, verify, then hand the outputs to
// the chosen exporter (a local directory per platform, an OCI layout or archive, a push).

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "exec/cgroup.hpp"
#include "cli/image_spec.hpp"
#include "cli/registry_flags.hpp"
#include "oci/export.hpp"
#include "pipeline/build.hpp"
#include "pipeline/verify.hpp"
#include "registry/push.hpp"
#include "registry/reference.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

struct BuildCmd {
  PlanFlags flags;
  std::vector<std::string> tags;
  std::string output;
  bool push = false;
  bool keep_going = false;
  bool clean = false;
  bool json = false;
  bool no_image_checks = false;  ///< hidden --no-image-checks (scripts/bench_runtime.py)
  std::string progress = "auto";
  int timeout = 0;
  std::string compression;
  std::string rootfs;
  std::string image_refs;  ///< --image-refs FILE
  registry::PushOptions push_options;
};

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

/// What check_writable checks: a directory to create or write into, or a file to create or replace.
enum class Target { directory, file };

/// Fails before building unless `path` could be created or written: `what` names the flag
/// and `noun` what to choose instead ("dest", "path").
void check_writable(const fs::path& path, Target target, std::string_view what, std::string_view noun) {
  std::error_code ec;
  fs::path dir = existing_ancestor(target == Target::file ? fs::absolute(path).parent_path() : path);
  if (!fs::is_directory(dir, ec))
    fail(Exit::usage, "{} '{}': '{}' is not a directory; choose another {}", what, path.string(), dir.string(), noun);
  if (std::string why = probe_failure(dir); !why.empty())
    fail(Exit::environment, "{} '{}' cannot be written ({}); choose another {}", what, path.string(), why, noun);
}

/// The one platform a docker archive holds: the only one asked for, else the host's when it
/// is among them (`note` then says so), else Error(usage) asking for --platform. `from`
/// says where the list came from (--platform, or the project file).
Platform docker_platform(const std::vector<Platform>& targets, const std::string& from, std::string& note) {
  if (targets.size() == 1) return targets.front();
  Platform host = host_platform();
  std::vector<std::string> names;
  for (const auto& t : targets) names.push_back(t.str());
  if (std::find(targets.begin(), targets.end(), host) != targets.end()) {
    note = fmt::format("xbuild: --output type=docker holds one platform: building {} (the host's) of {}; pass --platform to "
                       "choose another\n", host.str(), join(names, ", "));
    return host;
  }
  fail(Exit::usage, "--output type=docker holds one platform, and {} names {} ({}), none of them the host's ({}); pass --platform "
                    "with one, e.g. --platform {}", from, targets.size(), join(names, ", "), host.str(), names.front());
}

/// --image-refs FILE, checked before building: it lists registry references (--push) or an
/// OCI layout's, and its directory must take a new file.
void check_image_refs(const fs::path& file, bool push, oci::OutputType type) {
  if (file == "-") fail(Exit::usage, "--image-refs -: name a file (with --push the references are printed on stdout too)");
  if (!push && type != oci::OutputType::oci)
    fail(Exit::usage, "--image-refs lists the image's references: it needs --push, or an OCI layout output (-o type=oci,dest=DIR, "
                      "or no -o); an -o type={} has none", oci::to_string(type));
  std::error_code ec;
  if (fs::is_directory(file, ec)) fail(Exit::usage, "--image-refs '{}' is a directory; name a file", file.string());
  check_writable(file, Target::file, "--image-refs", "path");
}

/// Removes an earlier --image-refs FILE (a file or symlink, never a directory) when the run
/// ends without writing a new one: after `build --image-refs FILE`, FILE exists exactly when
/// the build (and push) succeeded, so a script never takes old references for this run's.
class ImageRefsGuard {
public:
  explicit ImageRefsGuard(fs::path path) : m_path(std::move(path)) {}
  ImageRefsGuard(const ImageRefsGuard&) = delete;
  ImageRefsGuard& operator=(const ImageRefsGuard&) = delete;
  ~ImageRefsGuard() {
    if (m_path.empty() || m_path == "-" || m_written) return;
    std::error_code ec;
    fs::file_status st = fs::symlink_status(m_path, ec);
    if (fs::is_regular_file(st) || fs::is_symlink(st)) fs::remove(m_path, ec);
  }
  /// The new FILE is in place: keep it.
  void written() { m_written = true; }

private:
  fs::path m_path;
  bool m_written = false;
};

/// The lines of --image-refs: each pushed reference (REPO@sha256:..., as ko writes them), once;
/// without a push, the layout's (oci:DIR@sha256:..., as [image] base reads it).
std::string image_refs_text(const std::vector<registry::PushResult>& pushed, const fs::path& layout, const std::string& digest) {
  std::vector<std::string> lines;
  for (const auto& p : pushed)
    if (std::find(lines.begin(), lines.end(), p.reference) == lines.end()) lines.push_back(p.reference);
  if (pushed.empty()) lines.push_back("oci:" + fs::absolute(layout).lexically_normal().string() + "@" + digest);
  return join(lines, "\n") + "\n";
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

/// Copies the finished archive at `from` to stdout (-o type=oci-archive,dest=-).
void stream_to_stdout(const fs::path& from) {
  std::fflush(stdout);
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) fail(Exit::environment, "cannot read the archive {}: {}", from.string(), std::strerror(errno));
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(Exit::environment, "cannot read the archive {}: {}", from.string(), std::strerror(errno));
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(STDOUT_FILENO, buf.data() + off, static_cast<std::size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail(Exit::environment, "--output dest=-: cannot write the archive to stdout: {}", std::strerror(errno));
      off += w;
    }
  }
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

}  // namespace

void register_build(CLI::App& app) {
  auto o = std::make_shared<BuildCmd>();
  auto* cmd = app.add_subcommand("build", "Build the project for every platform in parallel and export the result");
  add_plan_flags(*cmd, o->flags);
  cmd->add_option("-t,--tag", o->tags, "Image name and tag (repeatable), e.g. registry.example.com/team/app:1.0")
      ->allow_extra_args(false);
  cmd->add_option("-o,--output", o->output,
                  "type=oci,dest=DIR | type=oci-archive,dest=FILE.tar|- | type=docker,dest=FILE.tar|- (one platform) | "
                  "type=local,dest=DIR | type=registry | "
                  "type=image[,push=true]; compression=gzip|zstd|none (default: type=oci,dest=<project>/.xbuild/oci)");
  cmd->add_flag("--push", o->push, "Push the image to the registry named by -t");
  cmd->add_option("--image-refs", o->image_refs,
                  "After a successful build (and push), write the image's references with digests to FILE, one per line: "
                  "REPO@sha256:... per pushed repository (as ko), else oci:LAYOUT@sha256:...");
  cmd->add_option("--compression", o->compression, "Layer compression: gzip (default), zstd or none");
  cmd->add_option("--rootfs", o->rootfs,
                  "Root filesystem for emulated builds: DIR, TARBALL, oci:LAYOUT[:TAG] or docker://REF ({arch} expands); "
                  "overrides [emulate] rootfs");
  add_push_flags(*cmd, o->push_options);
  cmd->add_flag("--keep-going", o->keep_going, "Finish the other platforms when one fails");
  cmd->add_flag("--clean", o->clean, "Remove each platform's build directory first");
  cmd->add_option("--progress", o->progress, "auto|plain|tty|json|quiet")->capture_default_str();
  cmd->add_option("--timeout", o->timeout, "Per-platform build timeout in seconds")->check(CLI::Range(1, 7 * 24 * 3600));
  cmd->add_flag("--json", o->json, "Print a JSON summary on stdout");
  cmd->add_flag("--no-image-checks", o->no_image_checks, "Developer: skip runtime libraries and the image lint (to measure them)")->group("");
  cmd->callback([o] {
    ImageRefsGuard refs_guard(o->image_refs);
    // Not a structured binding: lambdas below use `project`, which clang 14 cannot capture.
    auto loaded = load_project_and_toolchains();
    Project& project = loaded.first;
    const std::vector<Toolchain>& toolchains = loaded.second;
    if (!o->rootfs.empty()) {
      project.emulate.rootfs = o->rootfs;
      project.emulate.rootfs_origin = "--rootfs " + o->rootfs;
    }
    PlanOptions popts = to_plan_options(o->flags);
    BuildOptions bopts;
    bopts.slots = popts.slots;
    bopts.keep_going = o->keep_going;
    bopts.clean = o->clean;
    BuildOutput parsed = o->output.empty() ? BuildOutput{} : parse_build_output(o->output);
    bool to_stdout = parsed.sink == OutputSink::stdout_stream;
    if (to_stdout && o->json) fail(Exit::usage, "--output {}: stdout carries the archive; drop --json", o->output);
    if (to_stdout && ::isatty(STDOUT_FILENO))
      fail(Exit::usage, "--output {}: refusing to write an archive to a terminal; redirect stdout to a file or a pipe", o->output);
    if (parsed.push == Pushing::yes) o->push = true;
    o->tags = resolve_tags(o->tags, project, o->push ? Pushing::yes : Pushing::no);  // -t :TAG, $XBUILD_REPO
    // With dest=- every status line goes to stderr, so stdout holds the archive alone.
    std::FILE* status_out = to_stdout ? stderr : stdout;
    Terminal term = detect_terminal(status_out, globals().no_color);
    ProgressView view = parse_progress(o->progress, term);
    if (o->json && view != ProgressView::json) view = ProgressView::quiet;
    if (o->timeout > 0) bopts.timeout = std::chrono::seconds(o->timeout);

    // Check the output, tags and base before building: bad flags should fail in a second,
    // not after the builds.
    oci::OutputSpec out = parsed.spec;
    if (out.dest.empty()) out.dest = state_dir(project) / "oci";  // no -o, type=registry, type=image
    std::optional<TempDirectory> stdout_scratch;  // dest=-: the archive is written here, then streamed
    if (to_stdout) {
      stdout_scratch.emplace(TempDirectory::scratch("xbuild-stdout-"));
      out.dest = stdout_scratch->path() / "image.tar";
    }
    fs::path shown_dest = to_stdout ? fs::path("- (stdout)") : out.dest;
    bool local = out.type == oci::OutputType::local;
    if (o->push && local) fail(Exit::usage, "--push needs an image: drop --output type=local, or push later with `xbuild push`");
    oci::ExportOptions eopts;
    eopts.type = out.type;
    eopts.dest = out.dest;
    eopts.tags = o->tags;
    if (!o->compression.empty()) eopts.compression = oci::parse_compression(o->compression, "--compression");
    if (parsed.compression) {
      if (eopts.compression && *eopts.compression != *parsed.compression)
        fail(Exit::usage, "--output {} and --compression {} disagree; give one", o->output, o->compression);
      eopts.compression = parsed.compression;
    }
    if (o->no_image_checks) eopts.checks = oci::ImageChecks::skip;
    if (o->push && o->tags.empty() && project.image.tags.empty())
      fail(Exit::usage, "--push needs -t REGISTRY/REPOSITORY:TAG (or tags in [image] of {}, or XBUILD_REPO set)", project.file.string());
    if (o->push && (out.type == oci::OutputType::oci_archive || out.type == oci::OutputType::docker))
      fail(Exit::usage, "--push pushes from an OCI layout: use --output type=oci,dest=DIR (or none) with --push");
    for (const auto& t : o->tags) {
      try {
        registry::Reference::parse(t);
      } catch (const Error& e) {
        fail(Exit::usage, "-t {}: {}", t, e.what());
      }
    }
    if (!o->push_options.creds.empty() && o->push_options.creds.find(':') == std::string::npos)
      fail(Exit::usage, "--creds must be USER:PASSWORD (the password may be a token)");
    std::error_code ec;
    if (local && fs::exists(out.dest, ec) && !fs::is_directory(out.dest, ec))
      fail(Exit::usage, "--output {}: dest {} exists and is not a directory", o->output, out.dest.string());
    check_state_dir(project);
    if (local) check_writable(out.dest, Target::directory, "--output dest", "dest");
    if (!o->image_refs.empty()) check_image_refs(o->image_refs, o->push, out.type);
    std::vector<Platform> targets = popts.platforms.empty() ? project.platforms : popts.platforms;
    if (targets.empty()) targets = {host_platform()};
    std::string docker_note;  // printed once every check passed
    if (out.type == oci::OutputType::docker) {
      targets = {docker_platform(targets, popts.platforms.empty() ? "platforms in " + project.file.string() : std::string("--platform"),
                                 docker_note)};
      popts.platforms = targets;
    }
    auto status = make_status(view, term, status_out);
    if (!local && !project.image.base.empty() && project.image.base != "scratch")
      project.image.base = in_phase(*status, Phase::cache, [&] {
        return registry::resolve_base(project.image.base, targets, o->push_options.client_options());
      });
    if (!local) oci::check_export(image_spec_of(project), targets, eopts);
    if (o->push) {  // a registry that is down or refuses the credentials fails now, not after the build
      o->push_options.verbose = globals().verbose;
      try {
        registry::check_push_access(o->tags.empty() ? project.image.tags : o->tags, o->push_options);
      } catch (const Error& e) {
        if (e.code() != Exit::registry) throw;
        throw Error(fmt::format("{}\n  (checked before building: nothing was built)", e.what()), Exit::registry);
      }
    }
    fs::path dest = local ? out.dest : fs::path();
    std::fputs(docker_note.c_str(), stderr);

    auto plans = make_plan(project, toolchains, popts);
    if (globals().verbose) fmt::print(stderr, "xbuild: {}\n", describe_job_isolation());
    auto started = std::chrono::steady_clock::now();
    auto results = run_builds(project, plans, bopts, *status);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    // A build that failed outranks a setup problem: exit 1 if any platform's build failed,
    // else the code the failures share (3 for a missing toolchain or runner, 2 for bad input).
    std::vector<std::string> failures;
    std::optional<Exit> code;
    for (const auto& r : results) {
      if (r.ok || r.cancelled) continue;
      failures.push_back(fmt::format("{}: {}", r.platform.str(), r.error));
      code = !code || *code == r.exit ? r.exit : Exit::build_failed;
    }
    std::optional<oci::ExportResult> image;
    std::vector<registry::PushResult> pushed;
    std::string push_error;  ///< a failed push, reported after the build's results
    if (failures.empty()) {
      {
        // The export runs in this process: a signal unwinds it (removing its temps) instead
        // of killing xbuild halfway, and ends the run with exit 130.
        InterruptScope interrupts;
        if (local) {
          export_local(project, results, dest);
        } else {
          std::vector<oci::PlatformImageInput> inputs;
          for (const auto& r : results) inputs.push_back({r.platform, r.out});
          for (const auto& plan : plans) eopts.sysroots[plan.platform] = runtime_sysroot(plan);
          image = in_phase(*status, Phase::pack, [&] { return oci::export_images(image_spec_of(project), inputs, eopts); });
        }
        throw_if_interrupted("finishing the export to " + shown_dest.string());
      }
      if (to_stdout) stream_to_stdout(out.dest);
      if (!local) {
        if (o->push) {
          std::vector<std::string> refs = o->tags.empty() ? project.image.tags : o->tags;
          o->push_options.verbose = globals().verbose;
          // A registry failure does not undo the build: the results are printed first, then
          // this error with the command that retries only the push.
          try {
            pushed = in_phase(*status, Phase::push, [&] { return registry::push_layout(out.dest, image->ref_names.front(), refs, o->push_options); });
          } catch (const Error& e) {
            if (e.code() != Exit::registry) throw;
            push_error = fmt::format("{}\n  the build succeeded and the image is in {} (tag {}); to retry only the push, run:\n"
                                     "  {}", e.what(), out.dest.string(), image->ref_names.front(),
                                     retry_push_command(out.dest, image->ref_names.front(), refs, o->push_options));
          }
        }
        if (!o->image_refs.empty() && push_error.empty()) {
          fs::create_directories(fs::absolute(o->image_refs).parent_path(), ec);  // checked creatable before building
          write_file_atomic(o->image_refs, image_refs_text(pushed, out.dest, image->index_digest));
          refs_guard.written();
        }
      }
    }

    if (o->json) {
      boost::json::array arr;
      for (const auto& r : results) {
        boost::json::object ro{{"platform", r.platform.str()}, {"strategy", std::string(to_string(r.strategy))},
                               {"ok", r.ok}, {"cancelled", r.cancelled}, {"wall_seconds", r.wall_seconds},
                               {"cpu_seconds", r.cpu_seconds}, {"out", r.out.string()}, {"log", r.log.string()}};
        if (!r.error.empty()) ro["error"] = r.error;
        if (!r.ok && !r.cancelled && r.exit_status >= 0) {  // its build ran and failed: the log's last lines
          boost::json::array tail;
          for (auto& l : log_tail(r.log, k_tail_lines)) tail.push_back(boost::json::string(to_valid_utf8(l)));
          ro["log_tail"] = std::move(tail);
        }
        arr.push_back(ro);
      }
      boost::json::object root{{"ok", failures.empty()}, {"wall_seconds", wall}, {"platforms", arr}};
      if (image) {
        boost::json::object io{{"type", std::string(oci::to_string(out.type))}, {"dest", out.dest.string()}, {"digest", image->index_digest}};
        boost::json::array ms;
        for (const auto& [p, d] : image->manifests) ms.push_back(boost::json::object{{"platform", p.str()}, {"digest", d}});
        io["manifests"] = ms;
        root["image"] = io;
      }
      if (!push_error.empty()) root["push_error"] = push_error;
      if (!pushed.empty()) {
        boost::json::array pa;
        for (const auto& p : pushed) pa.push_back(boost::json::object{{"reference", p.reference}, {"digest", p.digest},
                                                                      {"blobs_uploaded", p.blobs_uploaded}, {"blobs_existing", p.blobs_existing}});
        root["pushed"] = pa;
      }
      fmt::print("{}\n", boost::json::serialize(root));
    } else {
      for (const auto& r : results) {
        // Nothing is exported unless every platform built: then the outputs stay in .xbuild/out.
        bool exported = failures.empty() && !dest.empty();
        if (r.ok) fmt::print(stderr, "xbuild: {} ok ({}, {:.1f}s) -> {}\n", r.platform.str(), to_string(r.strategy), r.wall_seconds,
                             exported ? (dest / r.platform.dir_name()).string() : r.out.string());
        else if (r.cancelled) fmt::print(stderr, "xbuild: {} {}\n", r.platform.str(), r.error);
      }
      if (image) fmt::print(stderr, "xbuild: image {} -> {} ({})\n", image->index_digest, shown_dest.string(), join(image->ref_names, ", "));
      // With --progress json, stdout is the event stream and nothing else: the refs go to stderr.
      if (!pushed.empty() && view == ProgressView::json)
        for (const auto& p : pushed) fmt::print(stderr, "xbuild: pushed {}@{}\n", p.reference, p.digest);
      else if (!pushed.empty()) registry::print_push_results(pushed, registry::ResultFormat::text);
    }
    if (!push_error.empty()) throw Error(push_error, Exit::registry);
    if (!failures.empty()) {
      throw Error(fmt::format("{} of {} platforms failed:\n  {}", failures.size(), results.size(), join(failures, "\n  ")),
                  code.value_or(Exit::build_failed));
    }
  });
}

}  // namespace xb::cli
