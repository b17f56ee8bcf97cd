// `xbuild inspect [TARGET]`: what an OCI layout, an oci-archive or a registry image holds,
// per image and per platform. TARGET is classified by registry::parse_image_arg, as every
// image argument is; fetching (a BlobSource) and printing (oci/inspect.hpp) are separate.
// Also the hidden developer command `xbuild pack-layer`, which runs the layer writer alone
// on a directory (scripts/bench_layer.py measures it against tar | gzip).

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/registry_flags.hpp"
#include "oci/archive_source.hpp"
#include "oci/inspect.hpp"
#include "oci/layer.hpp"
#include "oci/layout.hpp"
#include "oci/lint.hpp"
#include "oci/media_types.hpp"
#include "registry/push.hpp"
#include "registry/source.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::cli {

namespace {

struct InspectCmd {
  std::string target;
  bool json = false;
  bool lint = false;                  ///< --lint: check that every platform's image would run
  registry::ClientOptions registry;  ///< --creds, --insecure-registry, --ca-file for REGISTRY/REPO:TAG
};

struct PackLayerCmd {
  std::string source;
  std::string dest = "/";
  std::string output;
  std::string compression = "gzip";
  long long epoch = 0;
  unsigned threads = 0;
};

void register_pack_layer(CLI::App& app) {
  auto o = std::make_shared<PackLayerCmd>();
  auto* cmd = app.add_subcommand("pack-layer", "Developer: write one deterministic layer from a directory");
  cmd->group("");  // hidden from --help
  cmd->add_option("source", o->source, "File or directory to package")->required();
  cmd->add_option("output", o->output, "Layer file to write")->required();
  cmd->add_option("--dest", o->dest, "Where the source goes in the image")->capture_default_str();
  cmd->add_option("--compression", o->compression, "gzip|zstd|none")->capture_default_str();
  cmd->add_option("--epoch", o->epoch, "mtime of every entry")->capture_default_str();
  cmd->add_option("--threads", o->threads, "gzip threads (0 = CPUs)")->capture_default_str();
  cmd->callback([o] {
    auto c = oci::parse_compression(o->compression, "--compression");
    auto info = oci::write_layer({{o->source, o->dest}}, c, o->epoch, o->output, o->threads);
    fmt::print("{}\n", boost::json::serialize(boost::json::object{
                           {"digest", info.descriptor.digest.str()}, {"size", info.descriptor.size}, {"diff_id", info.diff_id.str()},
                           {"tar_size", info.tar_size}, {"entries", info.entries}}));
  });
}

/// `--lint`: every problem of every image, then exit 1 when there were any.
/// With --json, stdout carries only {"target","ok","problems"} (valid UTF-8) and the human text goes to stderr.
void lint_and_report(oci::BlobSource& src, const std::vector<oci::Descriptor>& tops, const std::string& where,
                     bool json) {
  std::vector<std::string> problems;
  for (const auto& t : tops)
    for (auto& p : oci::lint_image(src, t)) problems.push_back(std::move(p));
  if (json) {
    boost::json::array list;
    for (const auto& p : problems) list.emplace_back(to_valid_utf8(p));
    fmt::print("{}\n", boost::json::serialize(boost::json::object{
                           {"target", to_valid_utf8(where)}, {"ok", problems.empty()}, {"problems", std::move(list)}}));
    std::fflush(stdout);
    if (problems.empty()) fmt::print(stderr, "{}: lint ok\n", where);
    if (problems.empty()) return;
  }
  if (!problems.empty()) fail(Exit::build_failed, "{}: the image would not run:\n  {}", where, join(problems, "\n  "));
  fmt::print("{}: lint ok\n", where);
}

}  // namespace

void register_inspect(CLI::App& app) {
  register_pack_layer(app);
  auto o = std::make_shared<InspectCmd>();
  auto* cmd = app.add_subcommand("inspect",
                                 "Show an image from an OCI layout, an oci-archive or a registry: the index, and per platform "
                                 "the manifest digest, layer count and size, and the config's os/arch/variant");
  cmd->add_option("target", o->target,
                  "LAYOUT[:TAG], ARCHIVE.tar[:TAG] (oci: / oci-archive: prefixes are accepted) or REGISTRY/REPO[:TAG] "
                  "(with its host, e.g. localhost:5000/app:1.0). Default: <project>/.xbuild/oci, where `xbuild build` "
                  "writes when no --output is given");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->add_flag("--lint", o->lint, "Check that each platform's image would run: ELF machines, loader and libraries, entrypoint "
                "(exit 1 and one line per problem when not)");
  add_registry_flags(*cmd, o->registry);
  cmd->callback([o] {
    std::filesystem::path dir;
    std::string tag;
    bool archive = false;
    if (o->target.empty()) {
      dir = globals().dir / ".xbuild" / "oci";
    } else {
      registry::ImageArg arg = registry::parse_image_arg(o->target, "inspect");
      if (arg.kind == registry::SourceKind::registry) {
        o->registry.verbose = globals().verbose;
        registry::RegistrySource src(arg.ref, o->registry);
        if (o->lint) return lint_and_report(src, {src.top()}, o->target, o->json);
        std::vector<oci::ImageSummary> images{oci::summarize(src, src.top())};
        if (o->json) fmt::print("{}\n", boost::json::serialize(oci::format_json(o->target, images)));
        else fmt::print("{}", oci::format_text(o->target, images));
        return;
      }
      dir = arg.path;
      tag = arg.tag;
      archive = arg.kind == registry::SourceKind::archive;
    }
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec))
      fail(Exit::usage, "{}: no such OCI layout or oci-archive{} (a registry image is named with its host: "
           "registry.example.com/repo:tag, localhost:5000/repo:tag)", registry::redact_reference(dir.string()),
           o->target.empty() ? " (the default output of xbuild build in this project; build first or pass a path)" : "");
    std::unique_ptr<oci::BlobSource> source;
    if (archive || oci::ArchiveSource::is_archive(dir)) source = std::make_unique<oci::ArchiveSource>(dir);
    else source = std::make_unique<oci::LayoutSource>(dir);
    auto& src = *source;
    std::vector<oci::ImageSummary> images;
    std::vector<std::string> refs;
    for (const auto& e : src.entries()) {
      auto r = e.annotations.find(std::string(oci::annotation::k_ref_name));
      std::string ref = r == e.annotations.end() ? "" : r->second;
      refs.push_back(ref.empty() ? e.digest.str() : ref);
      if (!tag.empty() && ref != tag) continue;
      images.push_back(oci::summarize(src, e));
    }
    if (!tag.empty() && images.empty())
      fail(Exit::usage, "{}: no image tagged '{}' (it has: {})", dir.string(), tag, refs.empty() ? "nothing" : join(refs, ", "));
    if (o->lint) {
      std::vector<oci::Descriptor> tops;
      for (const auto& i : images) tops.push_back(i.top);
      return lint_and_report(src, tops, dir.string(), o->json);
    }
    if (o->json) fmt::print("{}\n", boost::json::serialize(oci::format_json(dir.string(), images)));
    else fmt::print("{}", oci::format_text(dir.string(), images));
  });
}

}  // namespace xb::cli
