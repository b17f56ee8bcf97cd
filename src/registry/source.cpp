// Manifests come through fetch_manifest (Accept for every manifest type, digest checked);
// other blobs through a plain GET whose bytes are hashed before they are handed out.

#include "registry/source.hpp"

#include "oci/media_types.hpp"
#include "registry/image_set.hpp"
#include "registry/remote.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/temp.hpp"

#include <fmt/format.h>

namespace xb::registry {
namespace {

constexpr std::string_view k_docker_config = "application/vnd.docker.container.image.v1+json";

}  // namespace

bool is_registry_target(const std::string& target) {
  if (target.empty() || target.rfind("oci:", 0) == 0) return false;
  std::error_code ec;
  if (std::filesystem::exists(target, ec) || std::filesystem::exists(split_layout_arg(target).first, ec)) return false;
  // Only a name that starts with a registry host (a dot, a port or localhost before the first
  // slash) is looked up on the network: a mistyped layout path must not become a Docker Hub
  // request. Docker Hub images are named in full (docker.io/library/alpine).
  auto slash = target.find('/');
  if (slash == std::string::npos) return false;
  std::string host = target.substr(0, slash);
  bool looks_like_host = host.find('.') != std::string::npos || host.find(':') != std::string::npos || host == "localhost";
  return looks_like_host && Reference::valid(target);
}

RegistrySource::RegistrySource(const Reference& ref, const ClientOptions& options)
  : m_ref(ref), m_client(std::make_unique<Client>(ref.registry, options)), m_session(m_client->new_session()) {
  RawManifest top = fetch_manifest(*m_client, *m_session, ref.repository, ref.manifest_ref());
  m_top = top.desc;
  m_top.annotations[std::string(oci::annotation::k_ref_name)] = ref.tag.empty() ? ref.digest : ref.tag;
  m_manifests[top.desc.digest.str()] = std::move(top.bytes);
}

std::vector<oci::Descriptor> RegistrySource::entries() { return {m_top}; }

std::string RegistrySource::read_blob(const oci::Descriptor& d) {
  if (auto it = m_manifests.find(d.digest.str()); it != m_manifests.end()) return it->second;
  if (oci::media::is_index(d.media_type) || oci::media::is_manifest(d.media_type)) {
    RawManifest m = fetch_manifest(*m_client, *m_session, m_ref.repository, d.digest.str());
    return m_manifests[d.digest.str()] = std::move(m.bytes);
  }
  if (d.media_type == oci::media::k_config || d.media_type == k_docker_config)
    return fetch_config(*m_client, *m_session, m_ref.repository, d);
  // Any other blob (a layer read for --lint) is held in memory whole: at most its size.
  HttpRequest req;
  req.url = fmt::format("/v2/{}/blobs/{}", m_ref.repository, d.digest.str());
  req.limit = BodyLimit{static_cast<std::uint64_t>(d.size), fmt::format("blob {}", d.digest.str()),
                        "the size its descriptor gives"};
  HttpResponse resp = m_client->send_idempotent(*m_session, req, {repo_scope(m_ref.repository, Access::pull)});
  if (resp.status != 200)
    throw error_from_response(fmt::format("fetching blob {} of {}", d.digest.str(), m_ref.str()), req, resp);
  if (static_cast<std::int64_t>(resp.body.size()) != d.size || oci::Digest::of(resp.body) != d.digest)
    fail(Exit::registry, "blob {} of {} arrived with {} bytes (expected {}) or does not hash to its digest",
         d.digest.str(), m_ref.str(), resp.body.size(), d.size);
  return std::move(resp.body);
}

void RegistrySource::copy_blob(const oci::Descriptor& d, const std::filesystem::path& dest) {
  // Download into a scratch layout beside dest, then move the verified file into place.
  TempDirectory scratch = TempDirectory::beside(dest);
  std::filesystem::path got = fetch_blob(*m_client, *m_session, m_ref.repository, d, scratch.path());
  std::filesystem::rename(got, dest);
}

}  // namespace xb::registry
