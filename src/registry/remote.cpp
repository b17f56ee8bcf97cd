// Manifests are fetched with an Accept header naming all four manifest/index types (a GET
// without the OCI index type gets 404 from distribution 2.8) and kept as the exact bytes
// received. Blobs stream to a temp file beside their final path while being hashed, and
// are renamed into place only when digest and size match, so the cache never holds a
// partial or wrong blob.

#include "registry/remote.hpp"

#include "oci/base.hpp"
#include "oci/media_types.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/parallel.hpp"
#include "util/retry.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <set>

namespace xb::registry {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string media_type_of(const HttpResponse& resp, const std::string& bytes) {
  boost::system::error_code ec;
  auto v = json::parse(bytes, ec);
  if (!ec && v.is_object())
    if (auto* m = v.as_object().if_contains("mediaType"); m && m->is_string()) return std::string(m->as_string());
  std::string ct = resp.header("content-type");
  return std::string(trim(ct.substr(0, ct.find(';'))));
}

// A registry's document that does not parse is the registry's failure (exit 4), whatever
// code the shared OCI parser gives a bad local file.
template <typename F>
auto from_registry(F&& f) {
  try {
    return f();
  } catch (const RegistryError&) {
    throw;
  } catch (const Error& e) {
    if (e.code() == Exit::registry) throw;
    throw Error(e.what(), Exit::registry);
  }
}

std::vector<oci::Descriptor> remote_blobs(const std::string& bytes, const std::string& where) {
  return from_registry([&] { return manifest_blobs(bytes, where); });
}

oci::Descriptor remote_descriptor(const json::value& v, const std::string& where) {
  return from_registry([&] { return oci::descriptor_from_json(v, where); });
}

void ensure_layout(const fs::path& root) {
  fs::create_directories(root / "blobs" / "sha256");
  if (!fs::exists(root / "oci-layout")) write_file_atomic(root / "oci-layout", oci::media::k_layout_file);
}

void write_blob(const fs::path& root, const RawManifest& m) {
  fs::path p = root / m.desc.digest.blob_path();
  std::error_code ec;
  if (fs::exists(p, ec) && fs::file_size(p, ec) == m.bytes.size()) return;
  write_file_atomic(p, m.bytes);
}

// Adds (or replaces) the entry tagged `tag` in root/index.json, under an flock so that
// concurrent pulls into the same cache do not lose each other's entries.
void record_in_index(const fs::path& root, const oci::Descriptor& desc, const std::string& tag) {
  Fd lock = lock_file(root / "index.json.lock");
  json::object index;
  fs::path index_path = root / "index.json";
  if (fs::exists(index_path)) index = oci::parse_json_object(read_file(index_path), index_path.string());
  json::array kept;
  if (auto* m = index.if_contains("manifests"); m && m->is_array()) {
    for (const auto& e : m->as_array()) {
      bool same = false;
      if (auto* a = e.is_object() ? e.as_object().if_contains("annotations") : nullptr; a && a->is_object())
        if (auto* n = a->as_object().if_contains(oci::annotation::k_ref_name); n && n->is_string() && n->as_string() == tag)
          same = true;
      if (!same) kept.push_back(e);
    }
  }
  oci::Descriptor d = desc;
  d.platform.reset();
  d.annotations[std::string(oci::annotation::k_ref_name)] = tag;
  kept.push_back(oci::to_json(d));
  json::object out;
  out["schemaVersion"] = 2;
  out["mediaType"] = oci::media::k_index;
  out["manifests"] = std::move(kept);
  write_file_atomic(index_path, json::serialize(out));
}

std::string cache_tag(const Reference& ref, const std::vector<Platform>& platforms) {
  std::string s = ref.str();
  std::string key = s;
  for (const auto& p : platforms) {
    key += ' ';
    key += p.str();
  }
  std::string tag;
  for (char c : s) tag += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  if (tag.size() > 80) tag = tag.substr(0, 80);
  return tag + "-" + sha256_hex(key).substr(0, 12);
}

}  // namespace

std::string manifest_accept() {
  return fmt::format("{}, {}, {}, {}", oci::media::k_index, oci::media::k_manifest, oci::media::k_docker_list,
                     oci::media::k_docker_manifest);
}

fs::path cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "xbuild";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "xbuild";
  fail(Exit::environment, "neither XDG_CACHE_HOME nor HOME is set: cannot place the image cache");
}

RawManifest fetch_manifest(Client& client, HttpSession& session, const std::string& repository, const std::string& ref) {
  HttpRequest req;
  req.url = fmt::format("/v2/{}/manifests/{}", repository, ref);
  req.set_header("Accept", manifest_accept());
  req.limit = BodyLimit{static_cast<std::uint64_t>(oci::k_max_manifest_bytes), "a manifest or index",
                        "the cap the distribution spec suggests for manifests"};
  HttpResponse resp = client.send_idempotent(session, req, {repo_scope(repository, Access::pull)});
  std::string name = fmt::format("{}/{}{}{}", client.registry(), repository, valid_digest(ref) ? "@" : ":", ref);
  if (resp.status == 404)
    throw RegistryError(fmt::format("{} does not exist: {}", name, error_from_response("GET", req, resp).what()), 404,
                        parse_errors(resp.body), req.method, redact_url(req.url), Retryable::no);
  if (resp.status != 200) throw error_from_response(fmt::format("fetching the manifest of {}", name), req, resp);
  RawManifest m;
  m.bytes = std::move(resp.body);
  m.desc.media_type = media_type_of(resp, m.bytes);
  m.desc.digest = oci::Digest::of(m.bytes);
  m.desc.size = static_cast<std::int64_t>(m.bytes.size());
  if (valid_digest(ref) && m.desc.digest.str() != ref)
    throw RegistryError(fmt::format("{}: the registry sent a manifest whose digest is {}", name, m.desc.digest.str()),
                        200, {}, req.method, redact_url(req.url), Retryable::no);
  std::string header = resp.header("docker-content-digest");
  if (!header.empty() && header != m.desc.digest.str())
    throw RegistryError(fmt::format("{}: Docker-Content-Digest {} does not match the bytes received ({})", name, header,
                                    m.desc.digest.str()),
                        200, {}, req.method, redact_url(req.url), Retryable::no);
  if (!oci::media::is_index(m.desc.media_type) && !oci::media::is_manifest(m.desc.media_type))
    throw RegistryError(fmt::format("{} has media type '{}', not an image index or manifest", name, m.desc.media_type),
                        200, {}, req.method, redact_url(req.url), Retryable::no);
  return m;
}

fs::path fetch_blob(Client& client, HttpSession& session, const std::string& repository, const oci::Descriptor& blob,
                    const fs::path& root) {
  ensure_layout(root);
  fs::path final_path = root / blob.digest.blob_path();
  std::error_code ec;
  if (fs::exists(final_path, ec) && static_cast<std::int64_t>(fs::file_size(final_path, ec)) == blob.size) return final_path;
  fs::create_directories(final_path.parent_path());
  HttpRequest req;
  req.url = fmt::format("/v2/{}/blobs/{}", repository, blob.digest.str());
  // The stream stops at the descriptor's size: a byte more aborts it before it is written.
  req.limit = BodyLimit{static_cast<std::uint64_t>(blob.size), fmt::format("blob {}", blob.digest.str()),
                        "the size its descriptor gives"};
  // One attempt: a fresh temp file, streamed and hashed; renamed into place only when the
  // digest and size match. A failed attempt's temp is removed by its destructor.
  auto attempt = [&] {
    TempFile tmp = TempFile::beside(final_path);
    Sha256 hash;
    std::uint64_t got = 0;
    req.sink = [&](std::string_view chunk) {
      tmp.write(chunk);
      hash.update(chunk);
      got += chunk.size();
    };
    HttpResponse resp = client.send(session, req, {repo_scope(repository, Access::pull)});
    if (resp.status != 200)
      throw error_from_response(fmt::format("downloading blob {} from {}/{}", blob.digest.str(), client.registry(), repository), req, resp);
    std::string hex = hash.hex();
    if (static_cast<std::int64_t>(got) != blob.size || oci::Digest::from_sha256_hex(hex) != blob.digest)
      throw RegistryError(fmt::format("blob {} from {}/{} arrived with {} bytes and digest sha256:{} (expected {} bytes)",
                                      blob.digest.str(), client.registry(), repository, got, hex, blob.size),
                          200, {}, "GET", redact_url(req.url), Retryable::yes);
    tmp.commit(final_path);
    return final_path;
  };
  return retry<RegistryError>(client.backoff(), attempt, [](const RegistryError& e, int) { return e.retryable(); });
}

std::string fetch_config(Client& client, HttpSession& session, const std::string& repository,
                         const oci::Descriptor& config) {
  std::string name = fmt::format("config {} of {}/{}", config.digest.str(), client.registry(), repository);
  if (config.size > oci::k_max_config_bytes)
    fail(Exit::registry, "{}: its descriptor says {} bytes, over {}, the cap for image configs", name, config.size,
         format_cap(oci::k_max_config_bytes));
  HttpRequest req;
  req.url = fmt::format("/v2/{}/blobs/{}", repository, config.digest.str());
  req.limit = BodyLimit{static_cast<std::uint64_t>(config.size), name, "the size its descriptor gives"};
  HttpResponse resp = client.send_idempotent(session, req, {repo_scope(repository, Access::pull)});
  if (resp.status != 200) throw error_from_response(fmt::format("fetching the {}", name), req, resp);
  if (static_cast<std::int64_t>(resp.body.size()) != config.size || oci::Digest::of(resp.body) != config.digest)
    throw RegistryError(fmt::format("{}: the registry sent {} bytes with digest {} (expected {} bytes)", name,
                                    resp.body.size(), oci::Digest::of(resp.body).str(), config.size),
                        200, {}, req.method, redact_url(resp.url.empty() ? req.url : resp.url), Retryable::no);
  return std::move(resp.body);
}

oci::OciPlatform config_platform(const std::string& bytes, std::string_view where) {
  auto cfg = from_registry([&] { return oci::parse_json_object(bytes, where); });
  oci::OciPlatform p;
  if (auto* v = cfg.if_contains("os"); v && v->is_string()) p.os = std::string(v->as_string());
  if (auto* v = cfg.if_contains("architecture"); v && v->is_string()) p.architecture = std::string(v->as_string());
  if (auto* v = cfg.if_contains("variant"); v && v->is_string()) p.variant = std::string(v->as_string());
  if (p.os.empty() || p.architecture.empty()) fail(Exit::registry, "{} names no os/architecture", where);
  return p;
}

oci::OciPlatform manifest_platform(Client& client, HttpSession& session, const std::string& repository,
                                   const RawManifest& manifest) {
  auto blobs = remote_blobs(manifest.bytes, fmt::format("manifest {}", manifest.desc.digest.str()));
  const auto& config = blobs.front();
  return config_platform(fetch_config(client, session, repository, config),
                         fmt::format("config {} of {}/{}", config.digest.str(), client.registry(), repository));
}

RawManifest fetch_child_manifest(Client& client, HttpSession& session, const std::string& repository,
                                 const oci::Descriptor& desc) {
  RawManifest child = fetch_manifest(client, session, repository, desc.digest.str());
  if (child.desc.size != desc.size)
    fail(Exit::registry, "{}/{}: manifest {} is {} bytes but its index entry says {}", client.registry(), repository,
         desc.digest.str(), child.desc.size, desc.size);
  child.desc = desc;
  return child;
}

namespace {

// The manifests an index lists, as descriptors (platforms included); a registry's index that
// does not parse is the registry's failure (exit 4).
std::vector<oci::Descriptor> index_entries(const RawManifest& top, const Reference& ref) {
  return from_registry([&] { return index_manifests(top.bytes, fmt::format("the index of {}", ref.str())); });
}

}  // namespace

ImageSet read_remote_image(Client& client, HttpSession& session, const Reference& ref, Depth depth) {
  ImageSet set;
  set.top = fetch_manifest(client, session, ref.repository, ref.manifest_ref());
  if (set.is_index() && depth == Depth::top) return set;
  BlobLocation remote{"", ref.registry, ref.repository};
  auto add_blobs = [&](const RawManifest& m) {
    for (const auto& b : remote_blobs(m.bytes, fmt::format("{} manifest {}", ref.str(), m.desc.digest.str())))
      set.add_blob(b, remote);
  };
  if (set.is_index()) {
    for (const auto& desc : index_entries(set.top, ref)) {
      if (oci::media::is_index(desc.media_type)) fail(Exit::registry, "{}: a nested index is not supported", ref.str());
      RawManifest child = fetch_child_manifest(client, session, ref.repository, desc);
      add_blobs(child);
      set.children.push_back(std::move(child));
    }
  } else {
    set.top.desc.platform = manifest_platform(client, session, ref.repository, set.top);
    add_blobs(set.top);
  }
  return set;
}

RemoteImageInfo remote_image_info(Client& client, HttpSession& session, const Reference& ref) {
  RawManifest top = fetch_manifest(client, session, ref.repository, ref.manifest_ref());
  RemoteImageInfo info;
  info.digest = top.desc.digest.str();
  if (!oci::media::is_index(top.desc.media_type)) {
    info.platforms.push_back(manifest_platform(client, session, ref.repository, top));
    return info;
  }
  for (const auto& desc : index_entries(top, ref)) {
    if (!desc.platform || desc.platform->os == "unknown" || desc.platform->architecture == "unknown") continue;
    info.platforms.push_back(*desc.platform);
  }
  return info;
}

PulledImage pull_to_layout(const std::string& ref_text, const std::vector<Platform>& platforms, const PullOptions& options) {
  Reference ref = Reference::parse(ref_text);
  ClientOptions co;
  co.creds = options.creds;
  co.insecure_registries = options.insecure_registries;
  co.ca_file = options.ca_file;
  co.verbose = options.verbose;
  Client client(ref.registry, co);
  auto session = client.new_session();
  fs::path root = options.cache.empty() ? cache_dir() : options.cache;
  ensure_layout(root);

  RawManifest top = fetch_manifest(client, *session, ref.repository, ref.manifest_ref());
  std::vector<RawManifest> chosen;
  RawManifest recorded = top;  // what index.json will point at
  if (oci::media::is_index(top.desc.media_type)) {
    auto index = oci::parse_json_object(top.bytes, fmt::format("index of {}", ref.str()));
    auto* children = index.if_contains("manifests");
    if (!children || !children->is_array()) fail(Exit::registry, "the index of {} has no manifests", ref.str());
    std::vector<std::pair<oci::Descriptor, json::value>> entries;
    int i = 0;
    for (const auto& c : children->as_array())
      entries.emplace_back(remote_descriptor(c, fmt::format("{} index manifests[{}]", ref.str(), i++)), c);
    std::vector<std::size_t> picked;
    if (platforms.empty()) {
      for (std::size_t k = 0; k < entries.size(); ++k) picked.push_back(k);
    } else {
      for (const auto& want : platforms) {
        std::size_t found = entries.size();
        for (std::size_t k = 0; k < entries.size(); ++k)
          if (entries[k].first.platform && entries[k].first.platform->serves(want)) {
            found = k;
            break;
          }
        if (found == entries.size()) {
          std::vector<std::string> has;
          for (const auto& e : entries)
            if (e.first.platform) has.push_back(e.first.platform->str());
          fail(Exit::usage, "{} has no image for {} (it has: {})", ref.str(), want.str(), join(has, ", "));
        }
        if (std::find(picked.begin(), picked.end(), found) == picked.end()) picked.push_back(found);
      }
    }
    json::array kept;
    for (auto k : picked) {
      chosen.push_back(fetch_child_manifest(client, *session, ref.repository, entries[k].first));
      kept.push_back(entries[k].second);
    }
    if (picked.size() != entries.size()) {
      // A subset: record a new index listing only what was pulled (serialised once here).
      json::object sub;
      sub["schemaVersion"] = 2;
      sub["mediaType"] = oci::media::k_index;
      sub["manifests"] = std::move(kept);
      recorded.bytes = json::serialize(sub);
      recorded.desc = oci::Descriptor::of(oci::media::k_index, recorded.bytes);
    }
  } else {
    // The config is fetched once, verified, and those bytes are both what the platform is
    // read from and what the cache stores (the blob loop below then finds it in place).
    auto config = remote_blobs(top.bytes, fmt::format("{} manifest {}", ref.str(), top.desc.digest.str())).front();
    std::string config_bytes = fetch_config(client, *session, ref.repository, config);
    oci::OciPlatform p = config_platform(config_bytes, fmt::format("config {} of {}", config.digest.str(), ref.str()));
    write_file_atomic(root / config.digest.blob_path(), config_bytes);
    if (platforms.size() > 1 || (platforms.size() == 1 && !p.serves(platforms.front())))
      fail(Exit::usage, "{} is a single-platform image for {}; it cannot serve {}", ref.str(), p.str(),
           platforms.size() == 1 ? platforms.front().str() : std::string("several platforms"));
    chosen.push_back(top);
  }

  std::vector<oci::Descriptor> blobs;
  std::set<std::string> seen;
  for (const auto& m : chosen)
    for (const auto& b : remote_blobs(m.bytes, fmt::format("{} manifest {}", ref.str(), m.desc.digest.str())))
      if (seen.insert(b.digest.str()).second) blobs.push_back(b);
  parallel_for(
      blobs.size(), options.jobs, [&] { return client.new_session(); },
      [&](std::unique_ptr<HttpSession>& s, std::size_t i) { fetch_blob(client, *s, ref.repository, blobs[i], root); });
  for (const auto& m : chosen) write_blob(root, m);
  write_blob(root, recorded);
  PulledImage out;
  out.layout = root;
  out.tag = cache_tag(ref, platforms);
  out.digest = recorded.desc.digest.str();
  out.source_digest = top.desc.digest.str();
  record_in_index(root, recorded.desc, out.tag);
  return out;
}

std::string resolve_base(const std::string& base, const std::vector<Platform>& platforms, const ClientOptions& options) {
  if (base.empty() || base == "scratch" || base.rfind("oci:", 0) == 0 || base.rfind("oci-archive:", 0) == 0) return base;
  std::string ref = base.rfind("docker://", 0) == 0 ? base.substr(9) : base;  // skopeo's spelling of a registry image
  if (!Reference::valid(ref)) return base;  // the OCI code reports what is wrong with it
  PullOptions po;
  po.creds = options.creds;
  po.insecure_registries = options.insecure_registries;
  po.ca_file = options.ca_file;
  po.verbose = options.verbose;
  PulledImage pulled = pull_to_layout(ref, platforms, po);
  if (options.verbose) fmt::print(stderr, "xbuild: base {} -> {}\n", base, pulled.oci_ref());
  return oci::pulled_base_text(pulled.layout, pulled.digest, ref);  // base.name records `ref`, not the cache path
}

}  // namespace xb::registry
