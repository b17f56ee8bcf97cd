// crane's read verbs on any image source: `xbuild manifest REF [--platform P]` (the raw
// manifest or index bytes, exactly as stored, so `xbuild manifest REF | sha256sum` is the
// digest), `xbuild config REF [--platform P]` (the raw config bytes) and `xbuild digest REF
// [--platform P]`. REF is whatever registry::read_image_source reads (a layout, an
// oci-archive or a registry reference), so the three verbs behave the same on all of them;
// only the choice of a platform manifest is done here. From a registry they fetch what they
// print and no more: `digest REF` and `manifest REF` one GET of the top manifest (registries
// such as Docker Hub count manifest GETs), --platform then the one platform manifest.

#include "cli/build_flags.hpp"
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "oci/media_types.hpp"
#include "platform/platform.hpp"
#include "registry/source.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>

namespace xb::cli {

namespace {

enum class Verb { manifest, config, digest };

struct ImageVerbCmd {
  std::string ref;
  std::string platform;
  registry::ClientOptions registry;
};

bool is_attestation(const oci::Descriptor& d) { return d.annotations.count("vnd.docker.reference.type") > 0; }

std::string platforms_of(const std::vector<oci::Descriptor>& entries) {
  std::vector<std::string> names;
  for (const auto& d : entries)
    if (d.platform && !is_attestation(d)) names.push_back(d.platform->str());
  return names.empty() ? "none" : join(names, ", ");
}

/// The index entry a verb works on: the one serving `want`, or without --platform the
/// index's only image (for `config`, which needs one image).
const oci::Descriptor& choose_entry(const std::vector<oci::Descriptor>& entries, const std::optional<Platform>& want,
                                    const std::string& name) {
  if (!want) {
    const oci::Descriptor* only = nullptr;
    int n = 0;
    for (const auto& d : entries)
      if (!is_attestation(d)) {
        only = &d;
        ++n;
      }
    if (n == 1) return *only;
    fail(Exit::usage, "{} is an index of {} platforms ({}): choose one with --platform", name, n, platforms_of(entries));
  }
  for (const auto& d : entries)
    if (d.platform && !is_attestation(d) && d.platform->serves(*want)) return d;
  fail(Exit::usage, "--platform {}: {} has no image for it (it has: {})", want->str(), name, platforms_of(entries));
}

void register_verb(CLI::App& app, Verb verb) {
  auto o = std::make_shared<ImageVerbCmd>();
  const char* name = verb == Verb::manifest ? "manifest" : verb == Verb::config ? "config" : "digest";
  const char* help = verb == Verb::manifest ? "Print an image's manifest or index, the raw bytes as stored (as crane manifest)"
                     : verb == Verb::config ? "Print an image's config, the raw bytes (as crane config)"
                                            : "Print the digest of what REF names (as crane digest)";
  auto* cmd = app.add_subcommand(name, help);
  cmd->add_option("ref", o->ref,
                  "REGISTRY/REPO[:TAG|@sha256:...], oci:DIR[:TAG] (or an existing layout dir) or "
                  "oci-archive:FILE.tar[:TAG]")
      ->required();
  cmd->add_option("--platform", o->platform,
                  verb == Verb::manifest ? "The platform manifest of an index instead of the index"
                  : verb == Verb::config ? "Which platform's config (needed for an index of several platforms)"
                                         : "The platform manifest's digest instead of the index's")
      ->check(platform_list_check());
  add_registry_flags(*cmd, o->registry);
  cmd->callback([o, verb] {
    std::optional<Platform> want;
    if (!o->platform.empty()) {
      try {
        want = Platform::parse(o->platform);
      } catch (const Error& e) {
        fail(Exit::usage, "--platform {}: {}", o->platform, e.what());
      }
    }
    o->registry.verbose = globals().verbose;
    registry::ClientPool pool(o->registry);
    std::string name = registry::redact_reference(o->ref);
    // The top manifest first (one GET from a registry, as crane): an index's children are
    // read only when a platform's manifest is asked for, and then only that one.
    registry::ImageSet set = registry::read_image_source(o->ref, pool, "REF", registry::Depth::top);
    auto print = [&](const registry::ImageSet& image, const registry::RawManifest& m) {
      if (verb == Verb::digest) return fmt::print("{}\n", m.desc.digest.str());
      std::string bytes = verb == Verb::manifest ? m.bytes : registry::read_config(image, m, pool);
      std::fwrite(bytes.data(), 1, bytes.size(), stdout);  // as stored: no newline added
      if (std::fflush(stdout) != 0) fail(Exit::environment, "writing to stdout failed");
    };
    if (!want && verb != Verb::config) return print(set, set.top);
    if (!set.is_index()) {
      if (want && !(set.top.desc.platform && set.top.desc.platform->serves(*want)))
        fail(Exit::usage, "--platform {}: {} is a single-platform image for {}", want->str(), name,
             set.top.desc.platform ? set.top.desc.platform->str() : std::string("an unknown platform"));
      return print(set, set.top);
    }
    registry::ImageArg arg = registry::parse_image_arg(o->ref, "REF");
    bool remote = arg.kind == registry::SourceKind::registry;
    std::vector<oci::Descriptor> entries;
    try {
      entries = registry::index_manifests(set.top.bytes, fmt::format("{} index", name));
    } catch (const Error& e) {
      throw Error(e.what(), remote ? Exit::registry : e.code());  // a registry's bad index is its failure
    }
    const oci::Descriptor& entry = choose_entry(entries, want, name);
    if (verb == Verb::digest) return fmt::print("{}\n", entry.digest.str());  // the index says it; nothing to fetch
    for (const auto& child : set.children)  // a local source was read whole
      if (child.desc.digest == entry.digest) return print(set, child);
    if (!remote)
      fail(Exit::usage, "{}: the index lists manifest {} that the layout does not hold", name, entry.digest.str());
    registry::ImageSet child = registry::read_image_source(arg.ref.with_digest(entry.digest.str()), pool, "REF");
    print(child, child.top);
  });
}

}  // namespace

void register_manifest(CLI::App& app) {
  register_verb(app, Verb::manifest);
  register_verb(app, Verb::config);
  register_verb(app, Verb::digest);
}

}  // namespace xb::cli
