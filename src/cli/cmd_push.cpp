// `xbuild push LAYOUT[:TAG] REF...`: pushes an image from an OCI layout to one or more
// registry references. The registry flags are defined here once (add_push_flags) so that
// `xbuild build --push` and `xbuild merge` accept exactly the same ones.

#include "cli/commands.hpp"
#include "registry/push.hpp"
#include "registry/remote.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <memory>

namespace xb::registry {

namespace {

/// --creds, --insecure-registry and --ca-file, for any options type that has those fields.
template <typename Options>
void add_connection_flags(CLI::App& cmd, Options& options) {
  cmd.add_option("--creds", options.creds,
                 "USER:PASSWORD for the registry (default: docker's config.json and credential helpers)");
  cmd.add_option("--insecure-registry", options.insecure_registries,
                 "Allow plain http and unverified TLS for this registry host (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--ca-file", options.ca_file, "Extra CA certificates (PEM) to trust for registries")
      ->check(CLI::ExistingFile);
}

}  // namespace

void add_registry_flags(CLI::App& cmd, ClientOptions& options) { add_connection_flags(cmd, options); }

void add_push_flags(CLI::App& cmd, PushOptions& options) {
  add_connection_flags(cmd, options);
  cmd.add_option("--push-jobs", options.jobs, "Parallel blob uploads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd.add_option("--chunk-size", options.chunk_size, "Upload blobs larger than this many bytes in chunks of this size")
      ->capture_default_str()
      ->check(CLI::Range(static_cast<std::uint64_t>(1024), static_cast<std::uint64_t>(1ull << 40)));
  cmd.add_flag("--docker-manifest-list-fallback", options.docker_fallback,
               "If the registry rejects the OCI index (MANIFEST_INVALID), push a Docker manifest list with "
               "converted platform manifests instead (new digests)");
  cmd.add_option("--retries", options.max_attempts, "Attempts per blob or manifest on 5xx and broken connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
}

}  // namespace xb::registry

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
      ->allow_extra_args(false);
  cmd->add_flag("--json", o->json, "Print JSON");
  registry::add_registry_flags(*cmd, o->options);
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
  auto* cmd = app.add_subcommand("push", "Push an image from an OCI layout to registry references");
  cmd->add_option("layout", o->layout, "OCI layout directory, optionally with :TAG (oci:DIR[:TAG] works too)")->required();
  cmd->add_option("refs", o->refs, "REGISTRY/REPO:TAG to push to (one or more)")->required();
  cmd->add_flag("--json", o->options.json, "Print the result as JSON");
  registry::add_push_flags(*cmd, o->options);
  cmd->callback([o] {
    o->options.verbose = globals().verbose;
    std::string arg = o->layout.rfind("oci:", 0) == 0 ? o->layout.substr(4) : o->layout;
    auto [dir, tag] = registry::split_layout_arg(arg);
    if (!std::filesystem::is_directory(dir))
      fail(Exit::usage, "{} is not a directory: give an OCI layout, e.g. xbuild build --output type=oci,dest=DIR",
           dir.string());
    auto results = registry::push_layout(dir, tag, o->refs, o->options);
    registry::print_push_results(results, o->options.json);
  });
}

}  // namespace xb::cli
