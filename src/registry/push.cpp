// Per blob, inside a bounded retry: HEAD (skip when present), cross-repository mount when
// the blob is known in another repository of the same registry, else an upload: a single
// POST ?digest= for small blobs (falling back to PUT when the registry answers 202, and
// remembering that), POST + PUT for the rest, or POST + PATCH chunks + PUT above the chunk
// size. A retry always starts again from HEAD, and a failed PATCH asks the upload's status
// (GET, Range) and resumes from there, so no non-idempotent step is ever repeated blindly.

#include "registry/push.hpp"

#include "oci/archive_source.hpp"
#include "oci/media_types.hpp"
#include "registry/remote.hpp"
#include "util/parallel.hpp"
#include "util/retry.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <atomic>
#include <set>
#include <map>
#include <mutex>

namespace xb::registry {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::uint64_t k_single_post_limit = 1ull << 20;

enum class Outcome { existed, mounted, uploaded };

struct PushContext {
  ClientPool& pool;
  Client& client;
  const Reference& target;
  const PushOptions& options;
  std::atomic<int>& single_post;  ///< see Client::single_post
  std::atomic<bool> stop{false};
  std::atomic<int> uploaded{0}, existing{0}, mounted{0};
  std::atomic<std::uint64_t> bytes{0};
};

std::string location_of(const HttpResponse& resp, const HttpRequest& req, std::string_view what) {
  std::string loc = resp.header("location");
  if (loc.empty())
    throw RegistryError(fmt::format("{}: {} {} answered {} without a Location header", what, req.method,
                                    redact_url(req.url), resp.status),
                        resp.status, {}, req.method, redact_url(req.url), Retryable::no);
  return resolve_url(resp.url, loc);
}

void check_digest_header(const HttpResponse& resp, const HttpRequest& req, const std::string& expected,
                         std::string_view what) {
  std::string got = resp.header("docker-content-digest");
  if (!got.empty() && got != expected)
    throw RegistryError(fmt::format("{}: the registry answered Docker-Content-Digest {} but the content's digest is {} "
                                    "({} {})", what, got, expected, req.method, redact_url(req.url)),
                        resp.status, {}, req.method, redact_url(req.url), Retryable::no);
}

// "0-1234" or "bytes=0-1234" -> bytes received (1235); "0-0" counts as none.
std::uint64_t received_from_range(const std::string& range) {
  auto dash = range.rfind('-');
  if (dash == std::string::npos) return 0;
  std::uint64_t end = std::strtoull(range.c_str() + dash + 1, nullptr, 10);
  return end == 0 ? 0 : end + 1;
}

// The Range of a PATCH's answer: its end + 1, the bytes held once something was sent.
std::uint64_t received_after_patch(const std::string& range) {
  auto dash = range.rfind('-');
  if (dash == std::string::npos) return 0;
  return std::strtoull(range.c_str() + dash + 1, nullptr, 10) + 1;
}

fs::path local_file_for(PushContext& ctx, HttpSession& /*session*/, const oci::Descriptor& blob, const BlobLocation& loc) {
  if (!loc.file.empty()) return loc.file;
  // Only remote: fetch it into the cache first, then upload from there.
  Client& src = ctx.pool.get(loc.registry);
  auto session = src.new_session();
  return fetch_blob(src, *session, loc.repository, blob, cache_dir());
}

void upload_chunked(PushContext& ctx, HttpSession& session, std::string location, const fs::path& file,
                    const oci::Descriptor& blob, const Scopes& scopes) {
  const std::uint64_t size = static_cast<std::uint64_t>(blob.size);
  const std::uint64_t chunk = std::max<std::uint64_t>(ctx.options.chunk_size, 1);
  std::uint64_t offset = 0;
  int resumes = 0;
  while (offset < size) {
    std::uint64_t len = std::min(chunk, size - offset);
    HttpRequest req;
    req.method = "PATCH";
    req.url = location;
    req.set_header("Content-Type", "application/octet-stream");
    req.set_header("Content-Range", fmt::format("{}-{}", offset, offset + len - 1));
    req.body = Body::file_range(file, offset, len);
    bool resume = false;
    std::string why;
    try {
      HttpResponse resp = ctx.client.send(session, req, scopes);
      if (resp.status == 202 || resp.status == 204) {
        location = location_of(resp, req, "chunk upload");
        std::string range = resp.header("range");
        // After a PATCH the Range's end is the last byte held ("0-0" after bytes 0-0 is one
        // byte). A registry must take the whole chunk; one that answers 202 but holds less
        // (Range: 0-0 to every PATCH) is not advancing, and each such answer counts against
        // the same bound as a failed chunk, so the push ends instead of looping.
        std::uint64_t held = range.empty() ? offset + len : received_after_patch(range);
        if (held > offset + len)
          throw RegistryError(fmt::format("uploading blob {} to {}: after bytes {}-{} the registry says it holds {} "
                                          "(Range: {}), more than was sent", blob.digest.str(), ctx.target.name(),
                                          offset, offset + len - 1, held, range),
                              resp.status, {}, req.method, redact_url(req.url), Retryable::no);
        if (held == offset + len) {
          offset = held;
          ctx.bytes += len;
          continue;
        }
        if (++resumes >= ctx.client.backoff().max_attempts)
          throw RegistryError(fmt::format("uploading blob {} to {}: the upload does not advance: the registry answered "
                                          "{} to bytes {}-{} but says it holds only {} (Range: {}); gave up after {} "
                                          "chunks that failed or did not advance", blob.digest.str(),
                                          ctx.target.name(), resp.status, offset, offset + len - 1, held, range,
                                          resumes),
                              resp.status, {}, req.method, redact_url(req.url), Retryable::no);
        if (ctx.options.verbose)
          fmt::print(stderr, "xbuild: registry: chunk {}-{} answered Range: {}; resending from byte {}\n", offset,
                     offset + len - 1, range, held);
        ctx.client.backoff().wait(resumes);
        offset = held;
        continue;
      }
      if (resp.status != 416 && resp.status < 500) throw error_from_response(fmt::format("uploading a chunk of blob {}", blob.digest.str()), req, resp);
      why = fmt::format("{} answered {}", req.method, resp.status);
      resume = true;
    } catch (const RegistryError& e) {
      if (!e.retryable()) throw;
      why = e.what();
      resume = true;
    }
    if (resume) {
      if (++resumes >= ctx.client.backoff().max_attempts)
        throw RegistryError(fmt::format("uploading blob {} to {}: giving up after {} failed chunks (last: {})",
                                        blob.digest.str(), ctx.target.name(), resumes, why),
                            0, {}, "PATCH", redact_url(location), Retryable::no);
      if (ctx.options.verbose) fmt::print(stderr, "xbuild: registry: chunk failed ({}); asking the upload's status\n", why);
      ctx.client.backoff().wait(resumes);
      HttpRequest status;
      status.url = location;
      HttpResponse st = ctx.client.send_idempotent(session, status, scopes);
      if (st.status != 204 && st.status != 200)
        throw error_from_response(fmt::format("asking the status of the upload of blob {}", blob.digest.str()), status, st);
      location = location_of(st, status, "upload status");
      offset = received_from_range(st.header("range"));
    }
  }
  HttpRequest put;
  put.method = "PUT";
  put.url = append_query(location, "digest", blob.digest.str());
  put.body = Body::of("");
  HttpResponse resp = ctx.client.send(session, put, scopes);
  if (resp.status != 201 && resp.status != 204)
    throw error_from_response(fmt::format("completing the upload of blob {}", blob.digest.str()), put, resp);
  check_digest_header(resp, put, blob.digest.str(), fmt::format("uploading blob {}", blob.digest.str()));
}

Outcome push_blob_once(PushContext& ctx, HttpSession& session, const oci::Descriptor& blob, const BlobLocation& loc) {
  const std::string repo = ctx.target.repository;
  const std::string digest = blob.digest.str();
  bool can_mount = !loc.registry.empty() && loc.registry == ctx.target.registry && loc.repository != repo;
  Scopes scopes = {repo_scope(repo, Access::push)};
  if (can_mount) scopes.push_back(repo_scope(loc.repository, Access::pull));

  HttpRequest head;
  head.method = "HEAD";
  head.url = fmt::format("/v2/{}/blobs/{}", repo, digest);
  HttpResponse h = ctx.client.send(session, head, scopes);
  if (h.status == 200) return Outcome::existed;
  if (h.status != 404) throw error_from_response(fmt::format("checking for blob {}", digest), head, h);

  std::string location;
  if (can_mount) {
    HttpRequest m;
    m.method = "POST";
    m.url = append_query(append_query(fmt::format("/v2/{}/blobs/uploads/", repo), "mount", digest), "from", loc.repository);
    HttpResponse r = ctx.client.send(session, m, scopes);
    if (r.status == 201) return Outcome::mounted;
    if (r.status != 202) throw error_from_response(fmt::format("mounting blob {} from {}", digest, loc.repository), m, r);
    location = location_of(r, m, "mount");  // not mountable: the answer opened an upload
  }

  fs::path file = local_file_for(ctx, session, blob, loc);
  const std::uint64_t size = static_cast<std::uint64_t>(blob.size);
  if (location.empty()) {
    // Whether one POST ?digest= completes an upload is learnt once per registry: while it is
    // unknown, one worker probes (state 2) and the others use POST + PUT.
    bool small = size <= k_single_post_limit && size <= ctx.options.chunk_size;
    int state = ctx.single_post.load();
    bool probe = small && state == 0 && ctx.single_post.compare_exchange_strong(state, 2);
    if (small && (state == 1 || probe)) {
      HttpRequest p;
      p.method = "POST";
      p.url = append_query(fmt::format("/v2/{}/blobs/uploads/", repo), "digest", digest);
      p.set_header("Content-Type", "application/octet-stream");
      p.body = Body::file_range(file, 0, size);
      HttpResponse r = ctx.client.send(session, p, scopes);
      if (r.status == 201) {
        check_digest_header(r, p, digest, fmt::format("uploading blob {}", digest));
        ctx.single_post = 1;
        ctx.bytes += size;
        return Outcome::uploaded;
      }
      if (r.status != 202) throw error_from_response(fmt::format("uploading blob {}", digest), p, r);
      // The registry opened an upload instead of taking the body: PUT it there.
      ctx.single_post = -1;
      location = location_of(r, p, "upload");
    } else {
      HttpRequest p;
      p.method = "POST";
      p.url = fmt::format("/v2/{}/blobs/uploads/", repo);
      HttpResponse r = ctx.client.send(session, p, scopes);
      if (r.status != 202) throw error_from_response(fmt::format("starting the upload of blob {}", digest), p, r);
      location = location_of(r, p, "upload");
    }
  }

  if (size > ctx.options.chunk_size) {
    upload_chunked(ctx, session, location, file, blob, scopes);
    return Outcome::uploaded;
  }
  HttpRequest put;
  put.method = "PUT";
  put.url = append_query(location, "digest", digest);
  put.set_header("Content-Type", "application/octet-stream");
  put.body = Body::file_range(file, 0, size);
  HttpResponse r = ctx.client.send(session, put, scopes);
  if (r.status != 201 && r.status != 204) throw error_from_response(fmt::format("uploading blob {}", digest), put, r);
  check_digest_header(r, put, digest, fmt::format("uploading blob {}", digest));
  ctx.bytes += size;
  return Outcome::uploaded;
}

Outcome push_blob(PushContext& ctx, HttpSession& session, const oci::Descriptor& blob, const BlobLocation& loc) {
  Backoff backoff = ctx.client.backoff();
  try {
    return retry<RegistryError>(
        backoff, [&] { return push_blob_once(ctx, session, blob, loc); },
        [&](const RegistryError& e, int attempt) {
          if (!e.retryable() || ctx.stop) return false;
          if (ctx.options.verbose)
            fmt::print(stderr, "xbuild: registry: blob {}: {}; retrying from HEAD ({}/{})\n", blob.digest.short_hex(),
                       e.what(), attempt, backoff.max_attempts);
          return true;
        });
  } catch (const RegistryError& e) {
    if (!e.retryable() || ctx.stop) throw;
    RegistryError final_error(fmt::format("{} (gave up after {} attempts)", e.what(), backoff.max_attempts),
                              e.status(), e.errors(), e.method(), e.url(), Retryable::no);
    final_error.set_cause(e.cause() == e.what() ? std::string(final_error.what())
                                                : fmt::format("{} (gave up after {} attempts)", e.cause(),
                                                              backoff.max_attempts));
    throw final_error;
  }
}

// True when the registry already serves exactly these bytes under `ref` (HEAD answers
// 200 with our digest), so a repeat push sends no manifest at all.
bool manifest_present(PushContext& ctx, HttpSession& session, const RawManifest& m, const std::string& ref) {
  HttpRequest head;
  head.method = "HEAD";
  head.url = fmt::format("/v2/{}/manifests/{}", ctx.target.repository, ref);
  head.set_header("Accept", manifest_accept());
  HttpResponse r = ctx.client.send_idempotent(session, head, {repo_scope(ctx.target.repository, Access::push)});
  return r.status == 200 && r.header("docker-content-digest") == m.desc.digest.str();
}

bool put_manifest(PushContext& ctx, HttpSession& session, const RawManifest& m, const std::string& ref) {
  if (manifest_present(ctx, session, m, ref)) return false;
  HttpRequest req;
  req.method = "PUT";
  req.url = fmt::format("/v2/{}/manifests/{}", ctx.target.repository, ref);
  req.set_header("Content-Type", m.desc.media_type);
  req.body = Body::of(m.bytes);
  HttpResponse r = ctx.client.send_idempotent(session, req, {repo_scope(ctx.target.repository, Access::push)});
  if (r.status != 201 && r.status != 200 && r.status != 204) {
    RegistryError e = error_from_response(
        fmt::format("pushing {} {} to {}", oci::media::is_index(m.desc.media_type) ? "index" : "manifest",
                    m.desc.digest.str(), ctx.target.name()),
        req, r);
    if (e.has_code("MANIFEST_INVALID") && m.desc.media_type == oci::media::k_index)
      throw RegistryError(fmt::format("{} (this registry does not accept OCI image indexes ({}); push to a registry "
                                      "that supports the OCI image spec, such as distribution 2.7+)",
                                      e.what(), oci::media::k_index),
                          e.status(), e.errors(), e.method(), e.url(), Retryable::no);
    throw e;
  }
  check_digest_header(r, req, m.desc.digest.str(), fmt::format("pushing manifest to {}", ctx.target.name()));
  return true;
}

/// The referrers tag of the OCI 1.1 fallback ("sha256-<hex>" for a sha256 subject).
std::string referrers_tag(const oci::Digest& subject) { return subject.algorithm() + "-" + subject.hex(); }

/// Pushes the referrers (SBOMs) after the image: each artifact manifest by digest; when the
/// registry's answer has no OCI-Subject header it keeps no referrers index of its own
/// (docker-registry 2.8), so, as the OCI 1.1 distribution spec says, the referrers tag schema:
/// the index at tag sha256-<subject hex> gets each new descriptor (read, extended, PUT;
/// other tools' entries kept). Returns the manifests PUT.
int push_referrers(PushContext& ctx, HttpSession& session, const std::vector<Referrer>& referrers) {
  int put = 0;
  std::map<oci::Digest, std::vector<const Referrer*>> fallback;  // per subject, the ones to list by tag
  for (const auto& r : referrers) {
    HttpRequest req;
    req.method = "PUT";
    req.url = fmt::format("/v2/{}/manifests/{}", ctx.target.repository, r.manifest.desc.digest.str());
    req.set_header("Content-Type", r.manifest.desc.media_type);
    req.body = Body::of(r.manifest.bytes);
    HttpResponse resp = ctx.client.send_idempotent(session, req, {repo_scope(ctx.target.repository, Access::push)});
    if (resp.status != 201 && resp.status != 200 && resp.status != 204)
      throw error_from_response(fmt::format("pushing the SBOM {} of manifest {} to {}", r.manifest.desc.digest.str(),
                                            r.subject.digest.str(), ctx.target.name()),
                                req, resp);
    check_digest_header(resp, req, r.manifest.desc.digest.str(), fmt::format("pushing an SBOM to {}", ctx.target.name()));
    ++put;
    if (resp.header("oci-subject").empty()) fallback[r.subject.digest].push_back(&r);
  }
  for (const auto& [subject, refs] : fallback) {
    std::string tag = referrers_tag(subject);
    json::object index{{"schemaVersion", 2}, {"mediaType", oci::media::k_index}, {"manifests", json::array{}}};
    std::string old_digest;
    try {
      RawManifest existing = fetch_manifest(ctx.client, session, ctx.target.repository, tag);
      if (existing.desc.media_type != oci::media::k_index)
        throw RegistryError(fmt::format("{}:{} is a {}, not the OCI referrers index the tag schema keeps there; not "
                                        "replacing it", ctx.target.name(), tag, existing.desc.media_type),
                            200, {}, "GET", tag, Retryable::no);
      index = oci::parse_json_object(existing.bytes, fmt::format("{}:{}", ctx.target.name(), tag));
      old_digest = existing.desc.digest.str();
    } catch (const RegistryError& e) {
      if (e.status() != 404) throw;
    } catch (const Error& e) {  // not JSON: say which tag, as a registry failure
      throw RegistryError(fmt::format("{}:{}: {}", ctx.target.name(), tag, e.what()), 200, {}, "GET", tag, Retryable::no);
    }
    json::value* list = index.if_contains("manifests");
    if (!list || !list->is_array()) index["manifests"] = json::array{};
    json::array& arr = index["manifests"].as_array();
    std::set<std::string> present;
    for (const auto& v : arr)
      if (const auto* o = v.if_object(); o && o->if_contains("digest") && o->at("digest").is_string())
        present.insert(std::string(o->at("digest").get_string()));
    bool changed = false;
    for (const Referrer* r : refs) {
      if (present.count(r->manifest.desc.digest.str())) continue;
      oci::Descriptor d = r->manifest.desc;
      d.platform.reset();
      arr.push_back(oci::to_json(d));
      changed = true;
    }
    if (!changed) continue;
    RawManifest m;
    m.bytes = json::serialize(index);
    m.desc = oci::Descriptor::of(oci::media::k_index, m.bytes);
    if (m.desc.digest.str() == old_digest) continue;
    HttpRequest req;
    req.method = "PUT";
    req.url = fmt::format("/v2/{}/manifests/{}", ctx.target.repository, tag);
    req.set_header("Content-Type", m.desc.media_type);
    req.body = Body::of(m.bytes);
    HttpResponse resp = ctx.client.send_idempotent(session, req, {repo_scope(ctx.target.repository, Access::push)});
    if (resp.status != 201 && resp.status != 200 && resp.status != 204)
      throw error_from_response(fmt::format("updating the referrers tag {} of {}", tag, ctx.target.name()), req, resp);
    ++put;
  }
  return put;
}

}  // namespace

std::pair<std::vector<RawManifest>, RawManifest> to_docker_manifest_list(const ImageSet& image) {
  auto layer_type = [](const std::string& t) -> std::string {
    if (t == oci::media::k_layer_gzip) return "application/vnd.docker.image.rootfs.diff.tar.gzip";
    if (t == oci::media::k_layer_tar) return "application/vnd.docker.image.rootfs.diff.tar";
    if (t == "application/vnd.docker.image.rootfs.diff.tar.gzip" || t == "application/vnd.docker.image.rootfs.diff.tar")
      return t;
    fail(Exit::registry, "a layer of type {} has no Docker manifest equivalent; push to a registry that accepts OCI "
                         "images (or build with gzip layers)", t);
  };
  std::vector<RawManifest> children;
  json::array list_entries;
  for (const auto& child : image.children) {
    auto blobs = manifest_blobs(child.bytes, fmt::format("manifest {}", child.desc.digest.str()));
    json::object m;
    m["schemaVersion"] = 2;
    m["mediaType"] = oci::media::k_docker_manifest;
    m["config"] = json::object{{"mediaType", "application/vnd.docker.container.image.v1+json"},
                               {"size", blobs.front().size},
                               {"digest", blobs.front().digest.str()}};
    json::array layers;
    for (std::size_t i = 1; i < blobs.size(); ++i)
      layers.push_back(json::object{{"mediaType", layer_type(blobs[i].media_type)},
                                    {"size", blobs[i].size},
                                    {"digest", blobs[i].digest.str()}});
    m["layers"] = std::move(layers);
    RawManifest converted;
    converted.bytes = json::serialize(m);  // a new document, hashed as written
    converted.desc = oci::Descriptor::of(oci::media::k_docker_manifest, converted.bytes);
    converted.desc.platform = child.desc.platform;
    list_entries.push_back(oci::to_json(converted.desc));
    children.push_back(std::move(converted));
  }
  json::object list;
  list["schemaVersion"] = 2;
  list["mediaType"] = oci::media::k_docker_list;
  list["manifests"] = std::move(list_entries);
  RawManifest top;
  top.bytes = json::serialize(list);
  top.desc = oci::Descriptor::of(oci::media::k_docker_list, top.bytes);
  return {std::move(children), std::move(top)};
}

ClientOptions PushOptions::client_options() const {
  ClientOptions c;
  c.creds = creds;
  c.insecure_registries = insecure_registries;
  c.ca_file = ca_file;
  c.verbose = verbose;
  c.max_attempts = std::max(1, max_attempts);
  c.backoff_ms = backoff_ms;
  return c;
}

PushResult push_image(ClientPool& pool, const ImageSet& image, const Reference& target,
                                 const PushOptions& options) {
  if (!target.digest.empty() && target.digest != image.top.desc.digest.str())
    fail(Exit::usage, "{} names digest {} but the image's digest is {}", target.str(), target.digest,
         image.top.desc.digest.str());
  Client& client = pool.get(target.registry);
  PushContext ctx{pool, client, target, options, client.single_post};
  std::uint64_t total = 0;
  for (const auto& b : image.blobs) total += static_cast<std::uint64_t>(b.size);
  if (!options.quiet)
    fmt::print(stderr, "xbuild: pushing {} ({} blobs, {:.1f} MiB, {} manifests) with {} parallel uploads\n", target.str(),
               image.blobs.size(), static_cast<double>(total) / (1 << 20), image.children.size() + 1,
               std::max(1, options.jobs));

  // 1. Blobs, in parallel: each worker has its own session (its own reused connection).
  // A blob's failure is collected and the others go on, so one run reports every blob that
  // failed; auth and usage failures would fail every blob the same way, so they stop the
  // group (the first is rethrown by parallel_for after the running uploads finish).
  // Errors are kept per cause (RegistryError::cause): four workers refused by one registry
  // are one line, not four.
  std::mutex errors_mutex;
  std::vector<std::pair<std::string, std::string>> errors;  // (cause, first message), in order
  std::map<std::string, int> blobs_per_cause;
  std::exception_ptr first_error;
  auto record = [&](const std::exception& e) {
    auto* re = dynamic_cast<const RegistryError*>(&e);
    std::string cause = re ? re->cause() : std::string(e.what());
    std::lock_guard lock(errors_mutex);
    if (blobs_per_cause[cause]++ == 0) errors.emplace_back(cause, e.what());
    if (!first_error) first_error = std::current_exception();
  };
  try {
    parallel_for(
        image.blobs.size(), options.jobs, [&] { return client.new_session(); },
        [&](std::unique_ptr<HttpSession>& session, std::size_t i) {
          if (ctx.stop) return;
          const auto& blob = image.blobs[i];
          try {
            Outcome o = push_blob(ctx, *session, blob, image.locations.at(blob.digest.str()));
            (o == Outcome::uploaded ? ctx.uploaded : o == Outcome::mounted ? ctx.mounted : ctx.existing)++;
            if (options.verbose)
              fmt::print(stderr, "xbuild: registry: blob {} ({} bytes): {}\n", blob.digest.str(), blob.size,
                         o == Outcome::uploaded ? "uploaded" : o == Outcome::mounted ? "mounted" : "already there");
          } catch (const std::exception& e) {
            record(e);
            auto* re = dynamic_cast<const RegistryError*>(&e);
            if (!re || re->status() == 401 || re->status() == 403 || re->status() == 0) {
              ctx.stop = true;
              throw;
            }
          }
        });
  } catch (const std::exception& e) {
    if (!first_error) record(e);  // a session that could not be made
  }
  if (first_error) {
    int failed = 0;
    for (const auto& [cause, n] : blobs_per_cause) failed += n;
    if (failed <= 1) std::rethrow_exception(first_error);
    // Per cause, the first blob's error (it names a request to look at) and how many more.
    std::vector<std::string> lines;
    for (const auto& [cause, message] : errors) {
      int n = blobs_per_cause[cause];
      lines.push_back(n > 1 ? fmt::format("{} (and {} more blob{} for the same reason)", message, n - 1,
                                          n > 2 ? "s" : "")
                            : message);
    }
    if (lines.size() == 1)
      throw Error(fmt::format("pushing to {} failed (the tag was not changed): {}", target.str(), lines.front()),
                  Exit::registry);
    throw Error(fmt::format("pushing to {} failed for {} blobs (the tag was not changed):\n  {}", target.str(),
                            failed, join(lines, "\n  ")),
                Exit::registry);
  }

  // 2. Platform manifests by digest, 3. the index (or single manifest) by tag, last.
  auto session = client.new_session();
  int manifests = 0;
  std::string top_digest = image.top.desc.digest.str();
  auto push_manifests = [&](const std::vector<RawManifest>& children, const RawManifest& top) {
    for (const auto& child : children)
      if (put_manifest(ctx, *session, child, child.desc.digest.str())) ++manifests;
    if (put_manifest(ctx, *session, top, target.tag.empty() ? top.desc.digest.str() : target.tag)) ++manifests;
  };
  try {
    push_manifests(image.children, image.top);
  } catch (const RegistryError& e) {
    if (!options.docker_fallback || !e.has_code("MANIFEST_INVALID") || !image.is_index() ||
        image.top.desc.media_type != oci::media::k_index)
      throw;
    // Opt-in: the registry refuses OCI types; say so, convert, and push a manifest list.
    auto [children, list] = to_docker_manifest_list(image);
    fmt::print(stderr, "xbuild: warning: {} rejected the OCI image index (MANIFEST_INVALID); pushing a Docker manifest "
                       "list with converted platform manifests instead (its digest {} differs from the layout's {})\n",
               target.registry, list.desc.digest.str(), top_digest);
    push_manifests(children, list);
    top_digest = list.desc.digest.str();
  }

  // 4. The SBOMs, once their subjects are there (a registry may check that a subject exists).
  // The opt-in Docker list has other manifests, which the SBOMs do not name: none then.
  if (!image.referrers.empty() && top_digest == image.top.desc.digest.str()) manifests += push_referrers(ctx, *session, image.referrers);

  PushResult r;
  r.reference = target.with_digest(top_digest);
  r.digest = top_digest;
  r.blobs_uploaded = ctx.uploaded;
  r.blobs_existing = ctx.existing;
  r.blobs_mounted = ctx.mounted;
  r.bytes_uploaded = ctx.bytes;
  r.manifests = manifests;
  return r;
}

PushResult push_image(const ImageSet& image, const Reference& target, const PushOptions& options) {
  ClientPool pool(options.client_options());
  return push_image(pool, image, target, options);
}

void check_push_access(const std::vector<std::string>& refs, const PushOptions& options) {
  std::map<std::string, Scopes> scopes;  // per registry, every repository pushed to there
  for (const auto& r : refs) {
    Reference ref = Reference::parse(r);
    auto& s = scopes[ref.registry];
    std::string scope = repo_scope(ref.repository, Access::push);
    if (std::find(s.begin(), s.end(), scope) == s.end()) s.push_back(scope);
  }
  ClientPool pool(options.client_options());
  for (const auto& [registry, s] : scopes) {
    Client& client = pool.get(registry);
    auto session = client.new_session();
    client.check_access(*session, s);
  }
}

std::vector<PushResult> push_layout(const fs::path& layout, const std::string& layout_tag,
                                    const std::vector<std::string>& refs, const PushOptions& options) {
  if (refs.empty()) fail(Exit::usage, "nothing to push to: give at least one REGISTRY/REPO:TAG");
  std::vector<Reference> targets;
  for (const auto& r : refs) targets.push_back(Reference::parse(r));
  ImageSet image = oci::ArchiveSource::is_archive(layout) ? read_archive_image(layout, layout_tag)
                                                         : read_layout_image(layout, layout_tag);
  ClientPool pool(options.client_options());
  std::vector<PushResult> results;
  for (const auto& target : targets) {
    results.push_back(push_image(pool, image, target, options));
    // Later refs on the same registry can mount what this one uploaded.
    for (auto& [digest, loc] : image.locations) {
      if (loc.registry.empty()) {
        loc.registry = target.registry;
        loc.repository = target.repository;
      }
    }
  }
  return results;
}

void print_push_results(const std::vector<PushResult>& results, ResultFormat format) {
  if (format == ResultFormat::json) {
    json::array arr;
    for (const auto& r : results) {
      json::object o;
      o["reference"] = r.reference;
      o["digest"] = r.digest;
      o["blobs_uploaded"] = r.blobs_uploaded;
      o["blobs_existing"] = r.blobs_existing;
      o["blobs_mounted"] = r.blobs_mounted;
      o["bytes_uploaded"] = r.bytes_uploaded;
      o["manifests"] = r.manifests;
      arr.push_back(std::move(o));
    }
    fmt::print("{}\n", json::serialize(arr));
    return;
  }
  for (const auto& r : results) {
    fmt::print(stderr, "xbuild: pushed {}: {} blobs uploaded ({} bytes), {} already there, {} mounted, {} manifests\n",
               r.reference, r.blobs_uploaded, r.bytes_uploaded, r.blobs_existing, r.blobs_mounted, r.manifests);
    fmt::print("{}\n", r.reference);
  }
}

}  // namespace xb::registry
