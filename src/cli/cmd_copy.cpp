// `xbuild copy SRC DST` (as crane copy): every platform of an image, with its digests kept,
// from a registry, an OCI layout or an oci-archive to a registry or an OCI layout. It is
// read by registry::read_image_source (the reader merge and the read verbs use) and sent
// by push_image (blob exists/mount/upload with retries, manifests, then the tag, last) or
// written by write_layout: nothing here moves bytes itself. The top manifest's bytes are
// sent as read, so the index digest at DST is SRC's.

#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "registry/merge.hpp"
#include "registry/push.hpp"
#include "registry/source.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <memory>

namespace xb::cli {

namespace {

struct CopyCmd {
  std::string src;
  std::string dst;
  registry::PushOptions options;
};

}  // namespace

void register_copy(CLI::App& app) {
  auto o = std::make_shared<CopyCmd>();
  auto* cmd = app.add_subcommand("copy", "Copy an image, all platforms, digests kept, between registries and OCI layouts "
                                         "(as crane copy)");
  cmd->add_option("src", o->src, "REGISTRY/REPO[:TAG|@sha256:...], oci:DIR[:TAG] or oci-archive:FILE.tar[:TAG]")
      ->required();
  cmd->add_option("dst", o->dst, "REGISTRY/REPO[:TAG] or oci:DIR[:TAG] (an OCI layout, created when missing)")
      ->required();
  cmd->add_flag("--json", o->options.json, "Print the result as JSON");
  add_push_flags(*cmd, o->options);
  cmd->callback([o] {
    o->options.verbose = globals().verbose;
    // DST first: a bad destination is found before anything is read.
    registry::ImageArg src = registry::parse_image_arg(o->src, "copy source");
    registry::ImageArg dst = registry::parse_image_arg(o->dst, "copy destination");
    if (dst.kind == registry::SourceKind::archive)
      fail(Exit::usage, "copy destination {}: copy writes to a registry or an OCI layout (oci:DIR[:TAG]), not to an "
                        "archive; write one with xbuild build -o type=oci-archive,dest=FILE.tar",
           o->dst);
    registry::ClientPool pool(o->options.client_options());
    registry::ImageSet image = registry::read_image_source(o->src, pool, "copy source");
    if (dst.kind == registry::SourceKind::registry) {
      auto result = registry::push_image(pool, image, dst.ref, o->options);
      registry::print_push_results({result}, o->options.json ? registry::ResultFormat::json : registry::ResultFormat::text);
      return;
    }
    // A layout: DST's tag, else SRC's, else "latest".
    std::string tag = !dst.tag.empty()                                                   ? dst.tag
                      : src.kind == registry::SourceKind::registry && !src.ref.tag.empty() ? src.ref.tag
                      : !src.tag.empty()                                                 ? src.tag
                                                                                         : "latest";
    registry::write_layout(image, dst.path, tag, pool);
    std::string digest = image.top.desc.digest.str();
    if (o->options.json) {
      fmt::print("{}\n", boost::json::serialize(boost::json::object{
                             {"layout", dst.path.string()}, {"tag", tag}, {"digest", digest}}));
    } else {
      fmt::print(stderr, "xbuild: copied {} to {}:{}\n", registry::redact_reference(o->src), dst.path.string(), tag);
      fmt::print("{}@{}\n", dst.path.string(), digest);
    }
  });
}

}  // namespace xb::cli
