#pragma once
// A registry reference seen through the OCI code's BlobSource interface, so `xbuild inspect`
// (and anything else that reads through BlobSource) works on REGISTRY/REPO:TAG exactly as it
// does on a local layout. Manifests and configs are fetched on demand and kept in memory.

#include "oci/layout.hpp"
#include "registry/client.hpp"
#include "registry/reference.hpp"

#include <map>
#include <memory>
#include <string>

namespace xb::registry {

/// True when `target` names a registry image: no oci: prefix, not an existing path (with or
/// without a :TAG suffix), and a valid reference. Lets commands accept both forms.
bool is_registry_target(const std::string& target);

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
