// `xbuild sbom TARGET [--platform P]`: the SPDX SBOM xbuild attached to one platform's manifest
// (printed as stored), or, without --platform, the list: platform, manifest, SBOM referrer.

#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "oci/media_types.hpp"
#include "platform/platform.hpp"
#include "registry/referrers.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::cli {

namespace {

struct SbomCmd {
  std::string target;
  std::string platform;
  bool json = false;
  registry::ClientOptions registry;
};

}  // namespace

void register_sbom(CLI::App& app) {
  auto o = std::make_shared<SbomCmd>();
  auto* cmd = app.add_subcommand("sbom", "Print the SPDX SBOM of one platform of an image (from an OCI layout, an oci-archive "
                                         "or a registry), or list each platform's");
  cmd->add_option("target", o->target,
                  "LAYOUT[:TAG], ARCHIVE.tar[:TAG] or REGISTRY/REPO[:TAG] (default: <project>/.xbuild/oci)");
  cmd->add_option("--platform", o->platform, "The platform whose SBOM to print, e.g. linux/arm64");
  cmd->add_flag("--json", o->json, "List the platforms as JSON");
  add_registry_flags(*cmd, o->registry);
  cmd->callback([o] {
    o->registry.verbose = globals().verbose;
    std::string target = o->target.empty() ? (globals().dir / ".xbuild" / "oci").string() : o->target;
    std::vector<registry::PlatformSbom> sboms = registry::find_sboms(target, o->registry);
    if (!o->platform.empty()) {
      Platform want = Platform::parse(o->platform);
      std::vector<std::string> have;
      for (const auto& s : sboms) {
        if (!s.manifest.platform) continue;
        have.push_back(s.manifest.platform->str());
        if (oci::OciPlatform::from(want) == *s.manifest.platform || s.manifest.platform->serves(want)) {
          if (!s.referrer)
            fail(Exit::usage, "{}: the {} image has no SBOM (built with --sbom=false or by another tool)", target, have.back());
          std::string doc = registry::read_sbom(target, s, o->registry);
          fmt::print("{}\n", doc);
          return;
        }
      }
      fail(Exit::usage, "--platform {}: {} has no image for it (it has: {})", o->platform, target, join(have, ", "));
    }
    if (o->json) {
      boost::json::array arr;
      for (const auto& s : sboms) {
        boost::json::object e{{"platform", s.manifest.platform ? s.manifest.platform->str() : std::string()},
                              {"manifest", s.manifest.digest.str()}};
        if (s.referrer) e["sbom"] = s.referrer->digest.str();
        arr.push_back(std::move(e));
      }
      fmt::print("{}\n", boost::json::serialize(arr));
      return;
    }
    for (const auto& s : sboms)
      fmt::print("{:<16} {}  sbom {}\n", s.manifest.platform ? s.manifest.platform->str() : "-", s.manifest.digest.str(),
                 s.referrer ? s.referrer->digest.str() : "(none)");
  });
}

}  // namespace xb::cli
