// crane's read verbs on any image source: `xbuild manifest REF [--platform P]` (the raw
// manifest or index bytes, exactly as stored, so `xbuild manifest REF | sha256sum` is the
// digest), `xbuild config REF [--platform P]` (the raw config bytes) and `xbuild digest REF
// [--platform P]`. REF is whatever registry::read_image_source reads (a layout, an
// oci-archive or a registry reference), so the three verbs behave the same on all of them;
// only the choice of a platform manifest is done here.

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

std::string platforms_of(const registry::ImageSet& set) {
  std::vector<std::string> names;
  for (const auto& c : set.children)
    if (c.desc.platform && !is_attestation(c.desc)) names.push_back(c.desc.platform->str());
  return names.empty() ? "none" : join(names, ", ");
}

/// The manifest a verb works on: the top one when no platform is asked for (an index's
/// single platform manifest for `config`, which needs an image), else the one serving it.
const registry::RawManifest& choose(const registry::ImageSet& set, const std::optional<Platform>& want, Verb verb,
                                    const std::string& ref) {
  std::string name = registry::redact_reference(ref);
  if (!want) {
    if (verb != Verb::config || !set.is_index()) return set.top;
    const registry::RawManifest* only = nullptr;
    int n = 0;
    for (const auto& c : set.children)
      if (!is_attestation(c.desc)) {
        only = &c;
        ++n;
      }
    if (n == 1) return *only;
    fail(Exit::usage, "{} is an index of {} platforms ({}): choose one with --platform", name, n, platforms_of(set));
  }
  if (!set.is_index()) {
    if (set.top.desc.platform && set.top.desc.platform->serves(*want)) return set.top;
    fail(Exit::usage, "--platform {}: {} is a single-platform image for {}", want->str(), name,
         set.top.desc.platform ? set.top.desc.platform->str() : std::string("an unknown platform"));
  }
  for (const auto& c : set.children)
    if (c.desc.platform && !is_attestation(c.desc) && c.desc.platform->serves(*want)) return c;
  fail(Exit::usage, "--platform {}: {} has no image for it (it has: {})", want->str(), name, platforms_of(set));
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
    registry::ImageSet set = registry::read_image_source(o->ref, pool, "REF");
    const registry::RawManifest& m = choose(set, want, verb, o->ref);
    if (verb == Verb::digest) {
      fmt::print("{}\n", m.desc.digest.str());
      return;
    }
    std::string bytes = verb == Verb::manifest ? m.bytes : registry::read_config(set, m, pool);
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);  // as stored: no newline added
    if (std::fflush(stdout) != 0) fail(Exit::environment, "writing to stdout failed");
  });
}

}  // namespace

void register_manifest(CLI::App& app) {
  register_verb(app, Verb::manifest);
  register_verb(app, Verb::config);
  register_verb(app, Verb::digest);
}

}  // namespace xb::cli
