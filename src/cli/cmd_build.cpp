// `xbuild build`: plan, build every platform in parallel, verify, then hand the outputs to
// the chosen exporter (a local directory per platform, an OCI layout or archive, a push).

#include "cli/build_flags.hpp"
#include "cli/build_run.hpp"
#include "cli/cache_transfer.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/image_spec.hpp"
#include "cli/registry_flags.hpp"
#include "oci/export.hpp"
#include "registry/reference.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
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
  std::string metadata_file;  ///< --metadata-file FILE
  std::string iidfile;        ///< --iidfile FILE
  bool sbom = true;           ///< --sbom[=false]
  std::string provenance;     ///< --provenance true|false|mode=min|mode=max
  std::string sbom_format;    ///< --sbom-format spdx|cyclonedx
  CLI::Option* sbom_option = nullptr;
  registry::PushOptions push_options;
  CacheFlags cache;           ///< --cache-to, --cache-from
};

/// Bytes as the summary shows them: "512 B", "3.4 KiB", "1.2 MiB".
std::string human_bytes(std::int64_t n) {
  if (n >= (1 << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1 << 20));
  if (n >= 1024) return fmt::format("{:.1f} KiB", static_cast<double>(n) / 1024);
  return fmt::format("{} B", n);
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
  check_writable(file, WriteTarget::file, "--image-refs", "path");
}

/// Removes an earlier --image-refs, --metadata-file or --iidfile FILE (a file or symlink,
/// never a directory) when the run ends without writing a new one: after the build, FILE
/// exists exactly when the build (and push) succeeded, so a script never takes an old run's
/// digests for this run's.
class ResultFileGuard {
public:
  explicit ResultFileGuard(fs::path path) : m_path(std::move(path)) {}
  ResultFileGuard(const ResultFileGuard&) = delete;
  ResultFileGuard& operator=(const ResultFileGuard&) = delete;
  ~ResultFileGuard() {
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

/// --metadata-file FILE or --iidfile FILE, checked before building like --image-refs.
void check_result_file(const fs::path& file, std::string_view flag) {
  if (file == "-") fail(Exit::usage, "{} -: name a file (--json prints the summary on stdout)", flag);
  std::error_code ec;
  if (fs::is_directory(file, ec)) fail(Exit::usage, "{} '{}' is a directory; name a file", flag, file.string());
  check_writable(file, WriteTarget::file, flag, "path");
}

/// Writes a result file atomically (its directory was checked creatable before building).
void write_result_file(const fs::path& file, const std::string& text) {
  std::error_code ec;
  fs::create_directories(fs::absolute(file).parent_path(), ec);
  write_file_atomic(file, text);
}

/// The --metadata-file JSON: buildx's keys where they apply (containerimage.digest, the pushed
/// digest when pushed; containerimage.descriptor, the index's descriptor; image.name, the
/// names, comma-separated as buildx writes them), then xbuild's own under "xbuild.platforms":
/// per platform its manifest digest, strategy, toolchain, wall and CPU time.
std::string metadata_text(const BuildRun& run, const std::vector<std::string>& names) {
  boost::json::object root;
  if (run.image) {
    std::string digest = run.pushed.empty() ? run.image->index_digest : run.pushed.front().digest;
    root["containerimage.digest"] = digest;
    boost::json::object desc{{"mediaType", "application/vnd.oci.image.index.v1+json"}, {"digest", run.image->index_digest},
                             {"size", run.image->index_size}};
    root["containerimage.descriptor"] = desc;
    root["image.name"] = join(names, ",");
  }
  boost::json::array platforms;
  for (std::size_t i = 0; i < run.results.size(); ++i) {
    const auto& r = run.results[i];
    boost::json::object po{{"platform", r.platform.str()}, {"strategy", std::string(to_string(r.strategy))}};
    if (i < run.plans.size()) po["toolchain"] = toolchain_label(run.plans[i]);
    if (run.image) {
      for (const auto& [p, d] : run.image->manifests)
        if (p == r.platform) po["manifest"] = d;
      for (const auto& [p, d] : run.image->sboms)
        if (p == r.platform) po["sbom"] = d;
      for (const auto& [p, d] : run.image->provenances)
        if (p == r.platform) po["provenance"] = d;
    }
    po["wall_seconds"] = r.wall_seconds;
    po["cpu_seconds"] = r.cpu_seconds;
    platforms.push_back(std::move(po));
  }
  root["xbuild.platforms"] = std::move(platforms);
  return boost::json::serialize(root) + "\n";
}

/// The lines of --image-refs: each pushed reference (REPO@sha256:..., as ko writes them), once;
/// without a push, the layout's (oci:DIR@sha256:..., as [image] base reads it).
std::string image_refs_text(const std::vector<registry::PushResult>& pushed, const fs::path& layout, const std::string& digest) {
  std::vector<std::string> lines;
  for (const auto& p : pushed)
    if (std::find(lines.begin(), lines.end(), p.reference) == lines.end()) lines.push_back(p.reference);
  if (pushed.empty()) lines.push_back("oci:" + fs::absolute(layout).lexically_normal().string() + "@" + digest);
  return join(lines, "\n") + "\n";
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
  cmd->add_option("--metadata-file", o->metadata_file,
                  "After a successful build (and push), write JSON to FILE: containerimage.digest, containerimage.descriptor, "
                  "image.name (as buildx) and xbuild.platforms (manifest, strategy, toolchain, wall/CPU seconds per platform)");
  o->sbom_option = cmd->add_flag("--sbom", o->sbom,
                                 "Attach an SPDX 2.3 SBOM to each platform's manifest as an OCI referrer (default; "
                                 "--sbom=false or [image] sbom = false: none)");
  cmd->add_option("--sbom-format", o->sbom_format, "The SBOM's format: spdx (SPDX 2.3 JSON, default) or cyclonedx (CycloneDX 1.5 JSON)");
  cmd->add_option("--provenance", o->provenance,
                  "SLSA provenance v1 per platform as an OCI referrer: mode=min (default), mode=max (adds the build's "
                  "environment without secret-looking variables) or false");
  cmd->add_option("--iidfile", o->iidfile, "After a successful build (and push), write the image index digest to FILE");
  cmd->add_option("--compression", o->compression, "Layer compression: gzip (default), zstd or none");
  cmd->add_option("--rootfs", o->rootfs,
                  "Root filesystem for emulated builds: DIR, TARBALL, oci:LAYOUT[:TAG] or docker://REF ({arch} expands); "
                  "overrides [emulate] rootfs");
  add_push_flags(*cmd, o->push_options);
  add_cache_flags(*cmd, o->cache);
  cmd->add_flag("--keep-going", o->keep_going, "Finish the other platforms when one fails");
  cmd->add_flag("--clean", o->clean, "Remove each platform's build directory first");
  cmd->add_option("--progress", o->progress, "auto|plain|tty|json|quiet")->capture_default_str();
  cmd->add_option("--timeout", o->timeout, "Per-platform build timeout in seconds")->check(CLI::Range(1, 7 * 24 * 3600));
  cmd->add_flag("--json", o->json, "Print a JSON summary on stdout");
  cmd->add_flag("--no-image-checks", o->no_image_checks, "Developer: skip runtime libraries and the image lint (to measure them)")->group("");
  cmd->callback([o] {
    ResultFileGuard refs_guard(o->image_refs);
    ResultFileGuard metadata_guard(o->metadata_file);
    ResultFileGuard iid_guard(o->iidfile);
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
    // stdout carries one format: with dest=- the archive, with --json the summary. Every status
    // line (and a --progress json event stream) then goes to stderr.
    std::FILE* status_out = to_stdout || o->json ? stderr : stdout;
    Terminal term = detect_terminal(status_out, globals().no_color);
    ProgressView view = parse_progress(o->progress, term);
    // --json in a pipe stays quiet unless a view was asked for; on a terminal stderr shows the build.
    if (o->json && o->progress == "auto" && !term.is_tty) view = ProgressView::quiet;
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
    eopts.sbom = o->sbom_option->count() > 0 ? o->sbom : project.image.sbom;
    if (!o->sbom_format.empty()) eopts.sbom_format = oci::parse_sbom_format(o->sbom_format, "--sbom-format");
    eopts.provenance = o->provenance.empty() ? oci::ProvenanceMode::min : oci::parse_provenance_mode(o->provenance, "--provenance");
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
    if (!o->image_refs.empty()) check_image_refs(o->image_refs, o->push, out.type);
    if (!o->metadata_file.empty()) check_result_file(o->metadata_file, "--metadata-file");
    if (!o->iidfile.empty()) {
      if (local) fail(Exit::usage, "--iidfile writes the image's digest, and --output type=local makes no image");
      check_result_file(o->iidfile, "--iidfile");
    }
    std::string docker_note;
    if (out.type == oci::OutputType::docker) {
      std::vector<Platform> targets = popts.platforms.empty() ? project.platforms : popts.platforms;
      if (targets.empty()) targets = {host_platform()};
      popts.platforms = {docker_platform(targets, popts.platforms.empty() ? "platforms in " + project.file.string() : std::string("--platform"),
                                         docker_note)};
    }
    std::fputs(docker_note.c_str(), stderr);
    auto status = make_status(view, term, status_out);
    BuildJob job;
    job.plan = popts;
    job.build = bopts;
    job.exports = eopts;
    job.shown_dest = shown_dest.string();
    job.push = o->push;
    job.refs = o->tags.empty() ? project.image.tags : o->tags;
    job.push_options = o->push_options;
    for (const auto& t : o->cache.to) job.cache_to.push_back(parse_cache_target(t, "--cache-to"));
    for (const auto& t : o->cache.from) job.cache_from.push_back(parse_cache_target(t, "--cache-from"));
    const bool transfers = !job.cache_to.empty() || !job.cache_from.empty();
    BuildRun run = build_and_export(project, toolchains, job, *status);
    const auto& results = run.results;
    const auto& failures = run.failures;
    const auto& image = run.image;
    const auto& pushed = run.pushed;
    const std::string& push_error = run.push_error;
    double wall = run.wall_seconds;
    if (failures.empty() && to_stdout) stream_to_stdout(out.dest);
    if (!o->image_refs.empty() && image && failures.empty() && push_error.empty()) {
      fs::create_directories(fs::absolute(o->image_refs).parent_path(), ec);  // checked creatable before building
      write_file_atomic(o->image_refs, image_refs_text(pushed, out.dest, image->index_digest));
      refs_guard.written();
    }
    if (failures.empty() && push_error.empty()) {
      if (!o->metadata_file.empty()) {
        write_result_file(o->metadata_file, metadata_text(run, !job.refs.empty() ? job.refs
                                                      : std::vector<std::string>{(project.name.empty() ? "image" : project.name) + ":latest"}));
        metadata_guard.written();
      }
      if (!o->iidfile.empty() && image) {
        write_result_file(o->iidfile, pushed.empty() ? image->index_digest : pushed.front().digest);
        iid_guard.written();
      }
    }
    fs::path dest = local ? out.dest : fs::path();

    // What each platform's image took from the last build (oci/reuse.hpp); nullptr without an image.
    auto reuse_of = [&](const Platform& p) -> const oci::PlatformReuse* {
      if (!image) return nullptr;
      for (const auto& [q, r] : image->reused)
        if (q == p) return &r;
      return nullptr;
    };

    if (o->json) {
      boost::json::array arr;
      for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        boost::json::object ro{{"platform", r.platform.str()}, {"strategy", std::string(to_string(r.strategy))},
                               {"accelerated", r.accelerated}, {"ok", r.ok}, {"cancelled", r.cancelled}, {"wall_seconds", r.wall_seconds},
                               {"cpu_seconds", r.cpu_seconds}, {"out", r.out.string()}, {"log", r.log.string()}};
        if (r.cache) {
          boost::json::object co{{"kind", r.cache->kind}, {"dir", r.cache->dir.string()}};
          if (r.cache->measured) {
            co["hits"] = r.cache->hits;
            co["misses"] = r.cache->misses;
            co["hit_rate"] = r.cache->hit_rate();
          }
          if (r.cache->go_measured)
            co["go"] = boost::json::object{
                {"hits", r.cache->go_hits}, {"misses", r.cache->go_misses}, {"hit_rate", r.cache->go_hit_rate()}};
          if (transfers && i < run.caches.size()) {
            const CacheTransfer& t = run.caches[i];
            co["imported"] = t.imported;
            co["exported"] = t.exported;
            co["bytes_imported"] = t.bytes_imported;
            co["bytes_exported"] = t.bytes_exported;
            co["chunks_reused"] = t.chunks_reused;
            co["chunks_moved"] = t.chunks_moved;
          }
          ro["cache"] = co;
        }
        if (const oci::PlatformReuse* reuse = reuse_of(r.platform)) {
          ro["layer_reused"] = reuse->layer;
          ro["image_reused"] = reuse->image;
        }
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
      for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        // Nothing is exported unless every platform built: then the outputs stay in .xbuild/out.
        bool exported = failures.empty() && !dest.empty();
        std::string cached;
        if (r.cache && r.cache->measured && r.cache->hits + r.cache->misses > 0)  // no "0/0" for a build that compiled no C
          cached = fmt::format(", ccache {}/{} hits", r.cache->hits, r.cache->hits + r.cache->misses);
        if (r.cache && r.cache->go_measured && r.cache->go_hits + r.cache->go_misses > 0)
          cached += fmt::format(", go cache {}/{} hits", r.cache->go_hits, r.cache->go_hits + r.cache->go_misses);
        if (transfers && r.cache && i < run.caches.size()) {
          const CacheTransfer& t = run.caches[i];
          if (!job.cache_from.empty())
            cached += t.imported ? fmt::format(", cache imported {}", human_bytes(t.bytes_imported)) : ", no cache imported";
          if (!job.cache_to.empty())
            cached += t.exported ? fmt::format(", cache exported {}", human_bytes(t.bytes_exported)) : ", cache not exported";
        }
        if (const oci::PlatformReuse* reuse = reuse_of(r.platform); reuse && reuse->layer)
          cached.insert(0, reuse->image ? ", image unchanged: reused" : ", layer reused");
        if (r.ok) fmt::print(stderr, "xbuild: {} ok ({}, {:.1f}s{}) -> {}\n", r.platform.str(), strategy_label(r.strategy, r.accelerated), r.wall_seconds,
                             cached, exported ? (dest / r.platform.dir_name()).string() : r.out.string());
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
                  run.code.value_or(Exit::build_failed));
    }
  });
}

}  // namespace xb::cli
