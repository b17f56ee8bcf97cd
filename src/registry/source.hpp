#pragma once
// Where an image comes from, whatever the user typed: an OCI layout, an oci-archive or a
// registry reference. `parse_image_arg` is the one classifier of such arguments and
// `read_image_source` the one reader of an image from any of them (merge, copy, cluster
// check and the crane verbs: manifest, config, digest). `RegistrySource` is a registry
// reference seen through the OCI code's BlobSource interface, so `xbuild inspect` works on
// REGISTRY/REPO:TAG exactly as it does on a local layout.

#include "oci/layout.hpp"
#include "registry/client.hpp"
#include "registry/image_set.hpp"
#include "registry/reference.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace xb::registry {

/// What kind of store an image argument names.
enum class SourceKind { layout, archive, registry };

/// An image argument, classified.
struct ImageArg {
  SourceKind kind = SourceKind::layout;
  std::filesystem::path path;  ///< the layout dir or archive file (layout, archive)
  std::string tag;             ///< the layout/archive ref name after ':' ("" = none given)
  Reference ref;               ///< the registry reference (registry)
};

/// Classifies "oci:DIR[:TAG]", "oci-archive:FILE[:TAG]", an existing layout dir or archive
/// (with an optional :TAG), "docker://REF" or REGISTRY/REPO[:TAG|@sha256:...] (with its host:
/// a name that would be a Docker Hub short name, "nonexist", is a missing path, never a
/// network lookup; docker://alpine asks for Docker Hub). A local path is an archive when it
/// is a file, a layout otherwise; a text starting with '/' or '.' is always a path. Error
/// (Exit::usage) naming `what` ("copy source") and the text when it is none of these.
ImageArg parse_image_arg(const std::string& text, std::string_view what);

/// Reads one image from any source parse_image_arg accepts: manifests with their exact
/// bytes, blobs with where they are; a lone manifest's platform (top.desc.platform) comes
/// from its config. Depth::top leaves a registry index's children unread (read_remote_image).
/// Error/RegistryError when the image cannot be read.
ImageSet read_image_source(const std::string& text, ClientPool& pool, std::string_view what,
                           Depth depth = Depth::image);

/// The raw bytes of the config `manifest` (top or a child of `image`) names: read from the
/// layout (size capped at oci::k_max_config_bytes, digest checked) or fetched
/// (fetch_config). Throws Error naming the manifest.
std::string read_config(const ImageSet& image, const RawManifest& manifest, ClientPool& pool);

/// The tags of a registry repository, in the registry's order, every page of the tag list
/// read (each page capped like a manifest, a page that repeats is an error). Throws
/// RegistryError (404: the repository does not exist).
std::vector<std::string> list_tags(Client& client, HttpSession& session, const std::string& repository);

/// An image in a registry as a BlobSource: one entry, the manifest or index `ref` names.
class RegistrySource final : public oci::BlobSource {
public:
  /// Fetches the top manifest/index of `ref`; throws RegistryError when it is not there.
  RegistrySource(const Reference& ref, const ClientOptions& options);
  std::vector<oci::Descriptor> entries() override;
  std::string read_blob(const oci::Descriptor& d) override;
  void copy_blob(const oci::Descriptor& d, const std::filesystem::path& dest) override;
  std::string describe() const override { return "registry image " + m_ref.str(); }
  /// The entry entries() returns (ref.name = the tag, or the digest when none).
  const oci::Descriptor& top() const { return m_top; }

private:
  Reference m_ref;
  std::unique_ptr<Client> m_client;
  std::unique_ptr<HttpSession> m_session;
  oci::Descriptor m_top;
  std::map<std::string, std::string> m_manifests;  ///< digest -> exact bytes
};

}  // namespace xb::registry
