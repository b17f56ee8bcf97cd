// `xbuild ls REPO` (as crane ls): the tags of a registry repository, one per line, every
// page of the registry's list read; for an OCI layout or an oci-archive, the ref names its
// index.json holds (untagged entries have none and are left out).

#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "oci/archive_source.hpp"
#include "oci/media_types.hpp"
#include "registry/source.hpp"

#include <fmt/format.h>

#include <memory>

namespace xb::cli {

namespace {

struct LsCmd {
  std::string repo;
  registry::ClientOptions registry;
};

}  // namespace

void register_ls(CLI::App& app) {
  auto o = std::make_shared<LsCmd>();
  auto* cmd = app.add_subcommand("ls", "List the tags of a registry repository, or the ref names of an OCI layout or "
                                       "oci-archive, one per line (as crane ls)");
  cmd->add_option("repo", o->repo, "REGISTRY/REPO (no tag), oci:DIR (or an existing layout dir) or oci-archive:FILE.tar")
      ->required();
  add_registry_flags(*cmd, o->registry);
  cmd->callback([o] {
    registry::ImageArg arg = registry::parse_image_arg(o->repo, "ls");
    if (arg.kind != registry::SourceKind::registry) {
      if (!arg.tag.empty())
        fail(Exit::usage, "ls {}: name the layout or archive alone; ':{}' is one of its tags", o->repo, arg.tag);
      std::error_code ec;
      if (!std::filesystem::exists(arg.path, ec))
        fail(Exit::usage, "ls {}: no such OCI layout or oci-archive", arg.path.string());
      std::unique_ptr<oci::BlobSource> src;
      if (arg.kind == registry::SourceKind::archive) src = std::make_unique<oci::ArchiveSource>(arg.path);
      else src = std::make_unique<oci::LayoutSource>(arg.path);
      for (const auto& e : src->entries())
        if (auto r = e.annotations.find(std::string(oci::annotation::k_ref_name)); r != e.annotations.end())
          fmt::print("{}\n", r->second);
      return;
    }
    // crane ls takes a repository: a tag or digest given with it is a mistake, not ignored.
    std::string text = o->repo.rfind("docker://", 0) == 0 ? o->repo.substr(9) : o->repo;
    auto last = text.rfind('/');
    if (text.find('@') != std::string::npos ||
        (last != std::string::npos && text.find(':', last) != std::string::npos))
      fail(Exit::usage, "ls {}: give a repository (REGISTRY/REPO), without :TAG or @DIGEST; try xbuild ls {}",
           registry::redact_reference(o->repo), arg.ref.name());
    o->registry.verbose = globals().verbose;
    registry::Client client(arg.ref.registry, o->registry);
    auto session = client.new_session();
    for (const auto& t : registry::list_tags(client, *session, arg.ref.repository)) fmt::print("{}\n", t);
  });
}

}  // namespace xb::cli
