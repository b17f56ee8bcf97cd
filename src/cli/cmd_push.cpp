// `xbuild push LAYOUT[:TAG] REF...`: pushes an image from an OCI layout to one or more
// registry references, and `xbuild pull`. The registry flags come from registry_flags.hpp,
// so `xbuild build --push` and `xbuild merge` accept exactly the same ones.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "oci/archive_source.hpp"
#include "oci/layout.hpp"
#include "registry/push.hpp"
#include "registry/remote.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <memory>

namespace xb::cli {

namespace {

struct PullCmd {
  std::string ref;
  std::vector<std::string> platforms;
  registry::ClientOptions options;
  bool json = false;
};

// Hidden `xbuild pull REF [--platform P]...`: what a registry [image] base does, on its own
// (fetch into the cache layout and print the oci: form the OCI code reads).
void register_pull(CLI::App& app) {
  auto o = std::make_shared<PullCmd>();
  auto* cmd = app.add_subcommand("pull", "Pull an image into xbuild's cache layout and print it as oci:DIR@DIGEST");
  cmd->group("");  // hidden: the user-facing way is [image] base = "REGISTRY/REPO:TAG"
  cmd->add_option("ref", o->ref, "REGISTRY/REPO:TAG or @sha256:...")->required();
  cmd->add_option("--platform", o->platforms, "Platforms to pull (repeatable or comma list; default all)")
      ->allow_extra_args(false)
      ->check(platform_list_check());
  cmd->add_flag("--json", o->json, "Print JSON");
  add_registry_flags(*cmd, o->options);
  cmd->callback([o] {
    registry::PullOptions po;
    po.creds = o->options.creds;
    po.insecure_registries = o->options.insecure_registries;
    po.ca_file = o->options.ca_file;
    po.verbose = globals().verbose;
    auto pulled = registry::pull_to_layout(o->ref, parse_platforms(o->platforms), po);
    if (o->json)
      fmt::print("{}\n", boost::json::serialize(boost::json::object{{"layout", pulled.layout.string()},
                                                                   {"tag", pulled.tag},
                                                                   {"digest", pulled.digest},
                                                                   {"source_digest", pulled.source_digest},
                                                                   {"oci_ref", pulled.oci_ref()}}));
    else
      fmt::print("{}\n", pulled.oci_ref());
  });
}

struct PushCmd {
  std::string layout;
  std::vector<std::string> refs;
  registry::PushOptions options;
};

}  // namespace

void register_push(CLI::App& app) {
  register_pull(app);
  auto o = std::make_shared<PushCmd>();
  auto* cmd = app.add_subcommand("push", "Push an image from an OCI layout or oci-archive to registry references");
  cmd->add_option("layout", o->layout, "OCI layout directory or oci-archive FILE.tar, optionally with :TAG (oci:DIR[:TAG], oci-archive:FILE[:TAG] work too)")->required();
  cmd->add_option("refs", o->refs, "REGISTRY/REPO:TAG to push to (one or more)")->required();
  cmd->add_flag("--json", o->options.json, "Print the result as JSON");
  add_push_flags(*cmd, o->options);
  cmd->callback([o] {
    o->options.verbose = globals().verbose;
    auto [dir, tag] = oci::split_layout_ref(o->layout);
    if (!std::filesystem::is_directory(dir) && !oci::ArchiveSource::is_archive(dir))
      fail(Exit::usage, "{} is neither an OCI layout directory nor an oci-archive file: give one, e.g. xbuild build "
                        "--output type=oci,dest=DIR (or type=oci-archive,dest=FILE.tar)", dir.string());
    // A corrupt index.json is bad input (exit 2 naming the file), found before any connection.
    if (std::filesystem::is_directory(dir) && std::filesystem::exists(dir / "oci-layout")) oci::LayoutSource(dir).entries();
    auto results = registry::push_layout(dir, tag, o->refs, o->options);
    registry::print_push_results(results, o->options.json ? registry::ResultFormat::json : registry::ResultFormat::text);
  });
}

}  // namespace xb::cli
