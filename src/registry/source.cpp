// Manifests come through fetch_manifest (Accept for every manifest type, digest checked);
// other blobs through a plain GET whose bytes are hashed before they are handed out.
// Local arguments are split by oci::split_layout_ref, the one splitter of DIR[:TAG].

#include "registry/source.hpp"

#include "oci/archive_source.hpp"
#include "oci/media_types.hpp"
#include "registry/image_set.hpp"
#include "registry/remote.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/temp.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <set>

namespace xb::registry {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view k_docker_config = "application/vnd.docker.container.image.v1+json";

// The distribution spec's tag grammar, [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}: a registry's list
// is printed a tag a line, so nothing else (a newline, an escape) gets through.
bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t[0] == '.' || t[0] == '-') return false;
  for (char c : t)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

// A local lone manifest's platform, from its config in the layout.
oci::OciPlatform local_platform(const ImageSet& set, const RawManifest& m, const std::string& source) {
  auto blobs = manifest_blobs(m.bytes, source);
  const auto& loc = set.locations.at(blobs.front().digest.str());
  auto cfg = oci::parse_json_object(read_file(loc.file), fmt::format("{} config", source));
  oci::OciPlatform p;
  if (auto* v = cfg.if_contains("os"); v && v->is_string()) p.os = std::string(v->as_string());
  if (auto* v = cfg.if_contains("architecture"); v && v->is_string()) p.architecture = std::string(v->as_string());
  if (auto* v = cfg.if_contains("variant"); v && v->is_string()) p.variant = std::string(v->as_string());
  if (p.os.empty() || p.architecture.empty()) fail(Exit::usage, "{}: its config names no os/architecture", source);
  return p;
}

}  // namespace

ImageArg parse_image_arg(const std::string& text, std::string_view what) {
  ImageArg arg;
  // A reference never starts with '/' or '.': such a text is a path even when it does not
  // exist (or cannot be reached), and is reported as one.
  bool local = text.rfind("oci:", 0) == 0 || text.rfind("oci-archive:", 0) == 0 ||
               (!text.empty() && (text[0] == '/' || text[0] == '.'));
  if (!local && text.rfind("docker://", 0) != 0 && !text.empty()) {
    std::error_code ec;
    auto colon = text.rfind(':');
    local = fs::exists(text, ec) ||
            (colon != std::string::npos && colon > 0 && text.find('/', colon) == std::string::npos &&
             fs::exists(text.substr(0, colon), ec));
  }
  if (local) {
    try {
      std::tie(arg.path, arg.tag) = oci::split_layout_ref(text);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", what, e.what()), e.code());
    }
    std::error_code ec;
    bool archive = text.rfind("oci-archive:", 0) == 0 || fs::is_regular_file(arg.path, ec);
    arg.kind = archive ? SourceKind::archive : SourceKind::layout;
    return arg;
  }
  std::string s = text.rfind("docker://", 0) == 0 ? text.substr(9) : text;
  if (!Reference::valid(s)) {
    std::string why;
    try {
      Reference::parse(s);
    } catch (const Error& e) {
      why = e.what();
    }
    fail(Exit::usage, "{} '{}' is neither an OCI layout (oci:DIR[:TAG]), an oci-archive (oci-archive:FILE.tar[:TAG]) "
                      "nor a registry reference (REGISTRY/REPO[:TAG]): {}",
         what, redact_reference(text), why);
  }
  // Only a name that starts with a registry host is looked up on the network (or one given as
  // docker://REF): a mistyped layout path must not become a Docker Hub request.
  if (text.rfind("docker://", 0) != 0 && reference_host(s).empty())
    fail(Exit::usage, "{} '{}': no such OCI layout or oci-archive, and no registry host in it (a registry image is "
                      "named with its host: docker.io/library/alpine:3.19, localhost:5000/app:1.0, or "
                      "docker://alpine:3.19)", what, redact_reference(text));
  arg.kind = SourceKind::registry;
  arg.ref = Reference::parse(s);
  return arg;
}

ImageSet read_image_source(const std::string& text, ClientPool& pool, std::string_view what, Depth depth) {
  ImageArg arg = parse_image_arg(text, what);
  if (arg.kind == SourceKind::registry) {
    Client& client = pool.get(arg.ref.registry);
    auto session = client.new_session();
    return read_remote_image(client, *session, arg.ref, depth);
  }
  if (arg.kind == SourceKind::archive && !oci::ArchiveSource::is_archive(arg.path)) {
    std::error_code ec;
    if (!fs::exists(arg.path, ec))
      fail(Exit::usage, "{} {}: no such oci-archive (write one with xbuild build -o type=oci-archive,dest=FILE.tar)", what,
           arg.path.string());
    fail(Exit::usage, "{} {}: not an oci-archive (a tar holding oci-layout and index.json); an OCI layout is a "
                      "directory, named as oci:DIR", what, arg.path.string());
  }
  ImageSet set = arg.kind == SourceKind::archive ? read_archive_image(arg.path, arg.tag)
                                                 : read_layout_image(arg.path, arg.tag);
  if (!set.is_index()) set.top.desc.platform = local_platform(set, set.top, text);
  return set;
}

std::string read_config(const ImageSet& image, const RawManifest& manifest, ClientPool& pool) {
  std::string where = fmt::format("manifest {}", manifest.desc.digest.str());
  oci::Descriptor config = manifest_blobs(manifest.bytes, where).front();
  const BlobLocation& loc = image.locations.at(config.digest.str());
  if (loc.file.empty()) {
    Client& client = pool.get(loc.registry);
    auto session = client.new_session();
    return fetch_config(client, *session, loc.repository, config);
  }
  if (config.size > oci::k_max_config_bytes)
    fail(Exit::usage, "{}: its config {} is {} bytes, over {}, the cap for image configs", where, config.digest.str(),
         config.size, format_cap(oci::k_max_config_bytes));
  std::string bytes = read_file(loc.file);
  if (static_cast<std::int64_t>(bytes.size()) != config.size || oci::Digest::of(bytes) != config.digest)
    fail(Exit::usage, "{} does not hold config {} of {} ({} bytes, expected {}; the layout is corrupt)",
         loc.file.string(), config.digest.str(), where, bytes.size(), config.size);
  return bytes;
}

std::vector<std::string> list_tags(Client& client, HttpSession& session, const std::string& repository) {
  std::vector<std::string> tags;
  std::set<std::string> pages;
  std::string url = fmt::format("/v2/{}/tags/list", repository);
  while (!url.empty()) {
    if (!pages.insert(url).second)
      throw RegistryError(fmt::format("{}/{}: the tag list links back to a page already read ({})", client.registry(),
                                      repository, redact_url(url)),
                          200, {}, "GET", redact_url(url), Retryable::no);
    HttpRequest req;
    req.url = url;
    req.limit = BodyLimit{static_cast<std::uint64_t>(oci::k_max_manifest_bytes), "a page of the tag list",
                          "the cap for manifests"};
    HttpResponse resp = client.send_idempotent(session, req, {repo_scope(repository, Access::pull)});
    std::string name = fmt::format("{}/{}", client.registry(), repository);
    if (resp.status == 404)
      throw RegistryError(fmt::format("repository {} does not exist: {}", name, error_from_response("GET", req, resp).what()),
                          404, parse_errors(resp.body), req.method, redact_url(req.url), Retryable::no);
    if (resp.status != 200) throw error_from_response(fmt::format("listing the tags of {}", name), req, resp);
    boost::system::error_code ec;
    json::value v = json::parse(resp.body, ec);
    const json::value* list = (!ec && v.is_object()) ? v.as_object().if_contains("tags") : nullptr;
    if (ec || !v.is_object() || (list && !list->is_array() && !list->is_null()))
      throw RegistryError(fmt::format("{}: the tag list is not {{\"tags\": [...]}} JSON", name), 200, {}, "GET",
                          redact_url(req.url), Retryable::no);
    if (list && list->is_array())
      for (const auto& t : list->as_array()) {
        if (!t.is_string() || !valid_tag(t.as_string()))
          throw RegistryError(fmt::format("{}: the tag list holds an entry that is not a valid tag", name), 200, {},
                              "GET", redact_url(req.url), Retryable::no);
        tags.emplace_back(t.as_string());
      }
    url.clear();
    // RFC 5988: Link: </v2/repo/tags/list?n=100&last=x>; rel="next"
    // Only a path on this registry is followed, so a page never sends us (or a token) elsewhere.
    std::string link = resp.header("link");
    if (auto lt = link.find('<'), gt = link.find('>'); lt != std::string::npos && gt != std::string::npos && gt > lt &&
                                                    link.find("rel=\"next\"", gt) != std::string::npos) {
      url = link.substr(lt + 1, gt - lt - 1);
      if (url.rfind(fmt::format("/v2/{}/tags/list", repository), 0) != 0)
        throw RegistryError(fmt::format("{}: the tag list's next page ({}) is not a path of this repository's tag list",
                                        name, redact_url(url)),
                            200, {}, "GET", redact_url(req.url), Retryable::no);
    }
  }
  return tags;
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
