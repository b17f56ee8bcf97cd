// Wiring of --cache-to / --cache-from (cache_transfer.hpp): oci/ packs and unpacks the chunks,
// oci's LayoutWriter and registry's push_layout store them, registry's fetch_manifest and
// fetch_blob read them back; this file decides per platform what to move and turns every
// failure into a warning. A small record in each cache dir (.xbuild-chunks: "NAME DIGEST" per
// line) says which chunk contents are already there, so an import downloads only the rest.

#include "cli/cache_transfer.hpp"

#include "oci/cache_pack.hpp"
#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "registry/reference.hpp"
#include "registry/remote.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <optional>

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_form_to = "type=registry,ref=REGISTRY/REPO:TAG, type=local,dest=DIR or a bare REGISTRY/REPO:TAG";
constexpr std::string_view k_form_from = "type=registry,ref=REGISTRY/REPO:TAG, type=local,src=DIR or a bare REGISTRY/REPO:TAG";
constexpr std::string_view k_record = ".xbuild-chunks";
/// Platforms whose caches move at once, and chunks packed or fetched at once per platform.
constexpr int k_platform_jobs = 4;
constexpr int k_chunk_jobs = 4;

std::mutex g_warn_mutex;

void warn(const Platform& p, std::string_view message) {
  std::lock_guard lock(g_warn_mutex);
  fmt::print(stderr, "xbuild: warning: {}: {}\n", p.str(), message);
}

using Record = std::map<std::string, std::string>;  // chunk name -> digest

Record read_record(const fs::path& cache_dir) {
  Record r;
  auto text = read_file_if_readable(cache_dir / k_record);
  if (!text) return r;
  for (const auto& line : split(*text, '\n')) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) r[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return r;
}

void write_record(const fs::path& cache_dir, const Record& r) {
  std::string text;
  for (const auto& [name, digest] : r) text += name + " " + digest + "\n";
  write_file_atomic(cache_dir / k_record, text);
}

std::string describe(const CacheTarget& t, const std::string& tag) {
  if (t.type == CacheTarget::Type::local) return fmt::format("{} (tag {})", t.dir.string(), tag);
  registry::Reference r = registry::Reference::parse(t.ref);
  r.tag = tag;
  r.digest.clear();
  return r.str();
}

/// The manifest bytes, and a way to get each blob's verified file, from one target.
struct Source {
  std::string manifest;
  std::string where;
  std::function<void(const std::vector<oci::Descriptor>&, std::vector<fs::path>&)> fetch;
};

Source open_source(const CacheTarget& t, const std::string& tag, registry::ClientPool& pool, const fs::path& scratch) {
  Source s;
  s.where = describe(t, tag);
  if (t.type == CacheTarget::Type::local) {
    auto src = std::make_shared<oci::LayoutSource>(t.dir);
    std::optional<oci::Descriptor> entry;
    for (const auto& d : src->entries()) {
      auto n = d.annotations.find(std::string(oci::annotation::k_ref_name));
      if (n != d.annotations.end() && n->second == tag) entry = d;
    }
    if (!entry) throw Error(fmt::format("{} has no cache for this platform", s.where), Exit::registry);
    s.manifest = src->read_blob(*entry);
    s.fetch = [src](const std::vector<oci::Descriptor>& blobs, std::vector<fs::path>& paths) {
      for (const auto& d : blobs) {
        src->verify_blob(d, oci::LayoutSource::Verify::digest);
        paths.push_back(src->blob_path(d.digest));
      }
    };
    return s;
  }
  registry::Reference ref = registry::Reference::parse(t.ref);
  registry::Client& client = pool.get(ref.registry);
  auto session = client.new_session();
  s.manifest = registry::fetch_manifest(client, *session, ref.repository, tag).bytes;
  std::string repo = ref.repository;
  s.fetch = [&client, repo, scratch](const std::vector<oci::Descriptor>& blobs, std::vector<fs::path>& paths) {
    paths.assign(blobs.size(), {});
    parallel_for(blobs.size(), k_chunk_jobs, [&] { return client.new_session(); },
                 [&](auto& session, std::size_t i) { paths[i] = registry::fetch_blob(client, *session, repo, blobs[i], scratch); });
  };
  return s;
}

/// Imports one platform's cache from `t`; true when it did. Throws for what becomes a warning.
bool import_one(const PlatformPlan& plan, const CacheTarget& t, registry::ClientPool& pool, CacheTransfer& out) {
  const std::string tag = cache_tag(t.type == CacheTarget::Type::local ? "cache" : registry::Reference::parse(t.ref).tag, plan.platform);
  fs::create_directories(plan.cache.dir);
  remove_stale_temps_beside(plan.cache.dir.parent_path(), "import");
  TempDirectory scratch = TempDirectory::beside(plan.cache.dir, "import");
  Source src = open_source(t, tag, pool, scratch.path());
  oci::CacheArtifact art = oci::parse_cache_manifest(src.manifest, src.where);
  auto key = art.annotations.find(std::string(oci::k_cache_key_annotation));
  if (key == art.annotations.end() || key->second != plan.cache.key) {
    warn(plan.platform, fmt::format("the cache at {} was made by another toolchain or configuration (key {}, this build's {}): "
                                    "building cold", src.where, key == art.annotations.end() ? "none" : key->second, plan.cache.key));
    return false;
  }
  Record record = read_record(plan.cache.dir);
  std::vector<oci::Descriptor> need;
  for (const auto& d : art.chunks) {
    const std::string& name = d.annotations.at(std::string(oci::annotation::k_title));
    auto have = record.find(name);
    if (have != record.end() && have->second == d.digest.str()) ++out.chunks_reused;
    else need.push_back(d);
  }
  std::vector<fs::path> paths;
  src.fetch(need, paths);  // every blob verified (digest and size) before anything is unpacked
  for (std::size_t i = 0; i < need.size(); ++i) {
    const std::string& name = need[i].annotations.at(std::string(oci::annotation::k_title));
    oci::unpack_cache_chunk(paths[i], plan.cache.dir, fmt::format("cache chunk {} ({}) of {}", name, need[i].digest.short_hex(), src.where));
    record[name] = need[i].digest.str();
    out.bytes_imported += need[i].size;
    ++out.chunks_moved;
  }
  write_record(plan.cache.dir, record);
  return true;
}

/// Exports one platform's cache to `t`. Throws for what becomes a warning.
void export_one(const PlatformPlan& plan, const CacheTarget& t, const registry::PushOptions& options, CacheTransfer& out) {
  std::string tag = cache_tag(t.type == CacheTarget::Type::local ? "cache" : registry::Reference::parse(t.ref).tag, plan.platform);
  std::vector<oci::CacheChunk> chunks = oci::list_cache_chunks(plan.cache.dir);
  std::optional<TempDirectory> scratch;
  fs::path layout = t.dir;
  if (t.type == CacheTarget::Type::registry) {  // staged beside the cache dir: a killed run's is cleared next time
    remove_stale_temps_beside(plan.cache.dir.parent_path(), "export");
    scratch.emplace(TempDirectory::beside(plan.cache.dir, "export"));
    layout = scratch->path() / "layout";
  }
  Record record;
  int existing = 0;
  std::int64_t written = 0;
  // This run's platforms take turns on a local layout (processes take turns by its flock).
  static std::mutex local_layouts;
  std::unique_lock<std::mutex> turn(local_layouts, std::defer_lock);
  if (t.type == CacheTarget::Type::local) turn.lock();
  {
    oci::LayoutWriter writer(layout, {tag});
    std::vector<TempFile> temps;
    for (std::size_t i = 0; i < chunks.size(); ++i) temps.push_back(writer.temp_blob());
    std::vector<oci::Descriptor> descs(chunks.size());
    parallel_for(chunks.size(), k_chunk_jobs, [&](std::size_t i) { descs[i] = oci::pack_cache_chunk(plan.cache.dir, chunks[i], temps[i].path()); });
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      std::error_code ec;
      fs::path blob = writer.root() / descs[i].digest.blob_path();
      bool had = fs::exists(blob, ec);
      if (had && oci::digest_of_file(blob) != descs[i].digest) {  // a corrupt chunk an import rejected: rebuilt here
        fs::remove(blob, ec);
        had = false;
      }
      if (had) ++existing;
      else written += descs[i].size;
      writer.commit_blob(std::move(temps[i]), descs[i]);
      record[chunks[i].name] = descs[i].digest.str();
    }
    writer.put_bytes(oci::media::k_empty, oci::media::k_empty_bytes);
    std::map<std::string, std::string> notes{{std::string(oci::k_cache_platform_annotation), plan.platform.str()},
                                             {std::string(oci::k_cache_key_annotation), plan.cache.key},
                                             {std::string(oci::k_cache_kinds_annotation), join(plan.cache.kinds, ",")}};
    oci::Descriptor top = writer.put_bytes(oci::media::k_manifest, oci::cache_manifest(descs, notes));
    top.annotations[std::string(oci::annotation::k_ref_name)] = tag;
    writer.commit({top});
  }
  if (t.type == CacheTarget::Type::local) {
    out.bytes_exported += written;
    out.chunks_reused += existing;
    out.chunks_moved += static_cast<int>(chunks.size()) - existing;
  } else {
    registry::Reference ref = registry::Reference::parse(t.ref);
    ref.tag = tag;
    ref.digest.clear();
    registry::PushOptions quiet = options;
    quiet.quiet = true;  // the summary line says what moved
    auto pushed = registry::push_layout(layout, tag, {ref.str()}, quiet);
    for (const auto& p : pushed) {
      out.bytes_exported += static_cast<std::int64_t>(p.bytes_uploaded);
      out.chunks_moved += p.blobs_uploaded;
      out.chunks_reused += p.blobs_existing;
    }
  }
  out.exported = true;
  // What was exported is what this cache dir holds: a later import skips these chunks.
  Record mine = read_record(plan.cache.dir);
  for (const auto& [k, v] : record) mine[k] = v;
  write_record(plan.cache.dir, mine);
}

/// Why a cache transfer failed, on one line.
std::string reason(const std::exception& e) {
  if (auto* r = dynamic_cast<const registry::RegistryError*>(&e)) return r->cause();
  return e.what();
}

}  // namespace

void add_cache_flags(CLI::App& cmd, CacheFlags& flags) {
  cmd.add_option("--cache-to", flags.to,
                 "Export each platform's compiler cache after it built: type=registry,ref=REGISTRY/REPO:TAG (each platform "
                 "under the tag TAG-<os>_<arch>[_<variant>]), type=local,dest=DIR (an OCI layout) or a bare REF (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--cache-from", flags.from,
                 "Import each platform's compiler cache before building: type=registry,ref=REF, type=local,src=DIR or a bare "
                 "REF (repeatable; the first that has a platform's cache is used; missing = a warning and a cold build)")
      ->allow_extra_args(false);
}

CacheTarget parse_cache_target(std::string_view text, std::string_view flag) {
  const bool to = flag == "--cache-to";
  const std::string_view form = to ? k_form_to : k_form_from;
  if (text.empty()) fail(Exit::usage, "{} '': expected {}", flag, form);
  CacheTarget t;
  if (text.find('=') == std::string_view::npos) {
    t.ref = std::string(text);
  } else {
    std::map<std::string, std::string> kv;
    const std::vector<std::string> keys = {"type", "ref", to ? "dest" : "src"};
    for (const auto& item : split(text, ',')) {
      auto eq = item.find('=');
      if (eq == std::string::npos) fail(Exit::usage, "{} {}: '{}' is not KEY=VALUE; expected {}", flag, text, item, form);
      std::string key = item.substr(0, eq);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        if (key == (to ? "src" : "dest"))
          fail(Exit::usage, "{} {}: {}= belongs to {}; {} takes {}=DIR", flag, text, key, to ? "--cache-from" : "--cache-to", flag,
               to ? "dest" : "src");
        std::string near = closest_name(key, keys);
        fail(Exit::usage, "{} {}: unknown key '{}'{}; expected {}", flag, text, key,
             near.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", near), form);
      }
      kv[key] = item.substr(eq + 1);
    }
    std::string type = kv.count("type") ? kv["type"] : "registry";
    if (type == "local") {
      t.type = CacheTarget::Type::local;
      std::string key = to ? "dest" : "src";
      if (kv[key].empty()) fail(Exit::usage, "{} {}: type=local needs {}=DIR; expected {}", flag, text, key, form);
      if (kv.count("ref")) fail(Exit::usage, "{} {}: type=local takes {}=DIR, not ref=; expected {}", flag, text, key, form);
      t.dir = kv[key];
      return t;
    }
    if (type != "registry") {
      std::string near = closest_name(type, {"registry", "local"});
      fail(Exit::usage, "{} {}: unknown type '{}'{}; expected {}", flag, text, type,
           near.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", near), form);
    }
    if (kv.count(to ? "dest" : "src")) fail(Exit::usage, "{} {}: type=registry takes ref=REF; expected {}", flag, text, form);
    if (kv["ref"].empty()) fail(Exit::usage, "{} {}: type=registry needs ref=REGISTRY/REPO:TAG; expected {}", flag, text, form);
    t.ref = kv["ref"];
  }
  registry::Reference r;
  try {
    r = registry::Reference::parse(t.ref);
  } catch (const Error& e) {
    fail(Exit::usage, "{} {}: {}", flag, text, e.what());
  }
  if (!r.digest.empty()) fail(Exit::usage, "{} {}: a cache ref names a tag, not a digest (each platform gets TAG-<platform>)", flag, text);
  return t;
}

std::string cache_tag(const std::string& tag, const Platform& platform) {
  std::string out = tag + "-" + platform.dir_name();
  if (out.size() > 128)
    fail(Exit::usage, "cache tag '{}' is longer than the 128 characters a tag may have; use a shorter tag than '{}'", out, tag);
  return out;
}

namespace {

void import_into(const PlatformPlan& plan, const std::vector<CacheTarget>& from, registry::ClientPool& pool, CacheTransfer& out) {
  if (plan.cache.kinds.empty() || plan.cache.dir.empty()) return;
  std::vector<std::string> misses;
  for (const auto& t : from) {
    try {
      CacheTransfer got;
      if (import_one(plan, t, pool, got)) {
        got.imported = true;
        out = got;
        return;
      }
    } catch (const std::exception& e) {
      misses.push_back(reason(e));
    }
  }
  for (const auto& m : misses) warn(plan.platform, fmt::format("no cache imported ({}): building cold", m));
}

}  // namespace

void import_caches(const std::vector<PlatformPlan>& plans, const std::vector<CacheTarget>& from,
                   const registry::PushOptions& options, std::vector<CacheTransfer>& out) {
  out.resize(plans.size());
  if (from.empty()) return;
  registry::ClientPool pool(options.client_options());
  parallel_for(plans.size(), k_platform_jobs, [&](std::size_t i) { import_into(plans[i], from, pool, out[i]); });
}

void import_cache(const PlatformPlan& plan, const std::vector<CacheTarget>& from, const registry::PushOptions& options,
                  CacheTransfer& out) {
  if (from.empty()) return;
  registry::ClientPool pool(options.client_options());
  import_into(plan, from, pool, out);
}

void export_caches(const std::vector<PlatformPlan>& plans, const std::vector<PlatformResult>& results,
                   const std::vector<CacheTarget>& to, const registry::PushOptions& options, std::vector<CacheTransfer>& out) {
  out.resize(plans.size());
  if (to.empty()) return;
  parallel_for(plans.size(), k_platform_jobs, [&](std::size_t i) {
    const PlatformPlan& plan = plans[i];
    if (i >= results.size() || !results[i].ok || plan.cache.kinds.empty() || plan.cache.dir.empty()) return;
    for (const auto& t : to) {
      try {
        export_one(plan, t, options, out[i]);
      } catch (const std::exception& e) {
        std::string where = t.type == CacheTarget::Type::local ? t.dir.string() : t.ref;
        warn(plan.platform, fmt::format("cache not exported to {} ({}); the build itself succeeded", where, reason(e)));
      }
    }
  });
}

}  // namespace xb::cli
