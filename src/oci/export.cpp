// export_images in the order the data flows: check everything cheap first (tags,
// compression, base, destination), then per platform layer -> config -> manifest, then the
// index, then index.json by rename. An oci-archive is that same layout assembled in a
// hidden directory beside the archive and packed with the layer writer's deterministic tar;
// a docker archive is the same with manifest.json added before packing (docker load reads
// that, and its layer paths name the blobs, as buildx's docker exporter lays them out).
// Every write goes to temps that remove themselves, so a failure (a full disk) or a signal
// (an InterruptScope the caller holds) unwinds to an Error that names the destination.

#include "oci/export.hpp"

#include "oci/base.hpp"
#include "oci/image.hpp"
#include "oci/layer.hpp"
#include "oci/layout.hpp"
#include "oci/lint.hpp"
#include "oci/media_types.hpp"
#include "oci/provenance.hpp"
#include "oci/reuse.hpp"
#include "oci/sbom.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"

#include <boost/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

namespace xb::oci {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string ref_name_of(std::string_view name) {
  if (name.empty()) fail(Exit::usage, "-t: empty image name; expected NAME[:TAG], e.g. hello:1.0");
  if (name.find('@') != std::string_view::npos)
    fail(Exit::usage, "-t {}: a digest cannot name an image; use NAME:TAG", name);
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  std::string tag = "latest";
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    tag = name.substr(colon + 1);
    if (colon == 0) fail(Exit::usage, "-t {}: missing the image name before ':'", name);
  }
  bool ok = !tag.empty() && tag.size() <= 128 && tag.front() != '.' && tag.front() != '-';
  for (char c : tag) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  if (!ok) fail(Exit::usage, "-t {}: invalid tag '{}'; a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'", name, tag);
  return tag;
}

long long source_date_epoch(std::optional<long long> given) {
  if (given) {
    if (*given < 0) fail(Exit::usage, "SOURCE_DATE_EPOCH must not be negative (got {})", *given);
    return *given;
  }
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (!env || !*env) return 0;
  std::string s(env);
  if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 12)
    fail(Exit::usage, "SOURCE_DATE_EPOCH='{}' is not a number of seconds since 1970", s);
  return std::stoll(s);
}

std::string_view to_string(OutputType type) {
  switch (type) {
    case OutputType::oci: return "oci";
    case OutputType::oci_archive: return "oci-archive";
    case OutputType::docker: return "docker";
    case OutputType::local: return "local";
  }
  return "oci";
}

namespace {

struct Prepared {
  Compression compression = Compression::gzip;
  std::vector<std::pair<std::string, std::string>> tags;  // full name, ref name
  long long epoch = 0;
  BaseSpec base;
};

Prepared prepare(const ImageSpec& project, const ExportOptions& o) {
  Prepared p;
  if (o.type == OutputType::local) fail(Exit::usage, "--output type=local holds files, not an image: nothing to export");
  p.compression = o.compression.value_or(project.image.compression);
  if (o.type == OutputType::docker && p.compression == Compression::zstd)
    fail(Exit::usage, "--output type=docker: docker load reads gzip or uncompressed layers, not zstd ({}); use compression=gzip, "
                      "or type=oci / type=oci-archive for zstd layers",
         o.compression ? std::string("compression=zstd was given") : "[image] compression = \"zstd\" in " + project.file.string());
  std::vector<std::string> names = !o.tags.empty() ? o.tags : project.image.tags;
  if (names.empty()) names.push_back((project.name.empty() ? std::string("image") : project.name) + ":latest");
  std::set<std::string> seen;
  for (const auto& n : names)
    if (seen.insert(n).second) p.tags.emplace_back(n, ref_name_of(n));
  p.epoch = source_date_epoch(o.source_date_epoch);
  p.base = BaseSpec::parse(project.image.base, project.dir);
  if (o.dest.empty()) fail(Exit::usage, "no output destination given (--output type=oci,dest=DIR)");
  return p;
}

/// The relative `from` of an image file must stay inside the output dir.
fs::path source_in(const fs::path& out_dir, const std::string& from) {
  fs::path f(from);
  if (from.empty() || f.is_absolute())
    fail(Exit::usage, "[image] files: from = \"{}\" must be a path relative to the build's output dir", from);
  for (const auto& part : f)
    if (part == "..") fail(Exit::usage, "[image] files: from = \"{}\" must not contain '..'", from);
  return out_dir / f;
}

std::vector<LayerFile> layer_files(const ImageSpec& project, const fs::path& out_dir) {
  std::vector<LayerFile> files;
  if (project.image.files.empty()) {
    if (project.outputs.empty())
      fail(Exit::usage, "{}: nothing to put in the image: set outputs = [...] or [image] files", project.file.string());
    for (const auto& o : project.outputs) {
      files.push_back({source_in(out_dir, o), normalize_image_path("/" + o, "outputs entry \"" + o + "\"")});
    }
  } else {
    for (const auto& f : project.image.files)
      files.push_back({source_in(out_dir, f.from), normalize_image_path(f.to, "[image] files: to = \"" + f.to + "\"")});
  }
  return files;
}

/// Runs `write`; an environment failure (a full disk, a read-only dir) or a filesystem_error
/// becomes an Error that names `dest` first, after the temps have removed themselves.
template <typename Write>
ExportResult writing_to(const fs::path& dest, Write write) {
  try {
    return write();
  } catch (const Error& e) {
    if (e.code() != Exit::environment) throw;
    fail(Exit::environment, "cannot write the image to {}: {} (nothing was left behind)", dest.string(), e.what());
  } catch (const fs::filesystem_error& e) {
    fail(Exit::environment, "cannot write the image to {}: {} (nothing was left behind)", dest.string(), e.what());
  }
}

/// Creates and removes a directory in `dir`: access(2) says yes to root even on a read-only
/// mount, so only trying tells.
void probe_writable(const fs::path& dir, const fs::path& path, std::string_view what) {
  try {
    TempDirectory probe = TempDirectory::in(dir, ".xbuild-probe-");  // removed again at once
  } catch (const Error& e) {
    fail(Exit::environment, "{} '{}' cannot be written ({}); choose another dest", what, path.string(), e.what());
  }
}

/// Fails unless a file could be created at `path` (its nearest existing ancestor is a writable dir).
void check_creatable(const fs::path& path, std::string_view what) {
  fs::path p = fs::absolute(path);
  fs::path dir = p.parent_path();
  while (!dir.empty() && !fs::exists(dir) && dir != dir.parent_path()) dir = dir.parent_path();
  if (!fs::is_directory(dir))
    fail(Exit::usage, "{} '{}': '{}' is not a directory", what, path.string(), dir.string());
  probe_writable(dir, path, what);
}

void check_dest(const ExportOptions& o) {
  if (o.type == OutputType::oci) {
    if (fs::exists(o.dest)) {
      if (!fs::is_directory(o.dest))
        fail(Exit::usage, "--output dest '{}' exists and is not a directory; an OCI layout is a directory (type=oci-archive writes a file)", o.dest.string());
      if (!fs::exists(o.dest / "oci-layout") && !fs::is_empty(o.dest))
        fail(Exit::usage, "--output dest '{}' is a non-empty directory but not an OCI layout (no oci-layout file); choose another dest or empty it", o.dest.string());
      probe_writable(o.dest, o.dest, "--output dest");
    }
    check_creatable(o.dest, "--output dest");
  } else {
    if (fs::is_directory(o.dest))
      fail(Exit::usage, "--output type={},dest={}: dest is a directory; name a .tar file", to_string(o.type), o.dest.string());
    check_creatable(o.dest, "--output dest");
  }
}

/// A docker archive holds one platform, and docker load reads no zstd layer (a base's either).
void check_docker(const std::vector<Platform>& platforms, const ExportOptions& o) {
  if (o.type != OutputType::docker || platforms.size() == 1) return;
  std::vector<std::string> names;
  for (const auto& p : platforms) names.push_back(p.str());
  fail(Exit::usage, "--output type=docker holds one platform, not {} ({}); pass --platform with one of them", platforms.size(),
       join(names, ", "));
}

void check_docker_base(const BaseImage& base, BaseResolver& resolver, const ExportOptions& o) {
  if (o.type != OutputType::docker) return;
  for (const auto& l : base.layers)
    if (l.media_type == media::k_layer_zstd)
      fail(Exit::usage, "--output type=docker: the base {} has zstd layers, which docker load cannot read; use a gzip base, "
                        "or type=oci / type=oci-archive", resolver.source().describe());
}

/// manifest.json of a docker archive: the one image, its config and layers as blob paths.
std::string docker_manifest(const Descriptor& config, const std::vector<Descriptor>& layers,
                            const std::vector<std::pair<std::string, std::string>>& tags) {
  json::array repo_tags, paths;
  for (const auto& [name, ref] : tags) {
    // docker wants NAME:TAG; a name without a tag is :latest (ref_name_of said so).
    auto slash = name.rfind('/');
    auto colon = name.rfind(':');
    bool tagged = colon != std::string::npos && (slash == std::string::npos || colon > slash);
    repo_tags.push_back(json::string(tagged ? name : name + ":" + ref));
  }
  for (const auto& l : layers) paths.push_back(json::string(l.digest.blob_path().string()));
  json::object image{{"Config", config.digest.blob_path().string()}, {"RepoTags", repo_tags}, {"Layers", paths}};
  return json::serialize(json::array{image});
}

/// What one platform's SBOM lists: the files xbuild put in (project, runtime libraries), the
/// crates of the project's Cargo.lock, the base's dpkg packages, the package each runtime
/// library came from, an emulation rootfs's packages, and the toolchain.
SbomInput sbom_input(const ImageSpec& project, const PlatformImageInput& in, const std::vector<LayerFile>& files,
                     const RuntimeLayer& runtime, const PlannedImage& planned, const ExportOptions& o, long long epoch) {
  SbomInput s;
  s.project = project.name;
  s.platform = in.platform;
  s.epoch = epoch;
  s.files = files;
  s.files.insert(s.files.end(), runtime.files.begin(), runtime.files.end());
  std::error_code ec;
  s.packages = cargo_lock_packages(project.dir / "Cargo.lock");
  for (auto& p : go_module_packages(files)) s.packages.push_back(std::move(p));
  for (auto& p : dpkg_status_packages(planned.dpkg_status, "base image")) s.packages.push_back(std::move(p));
  if (!runtime.files.empty()) {
    fs::path root = !planned.sysroot.empty() && fs::exists(planned.sysroot / "var/lib/dpkg/status", ec) ? planned.sysroot : fs::path("/");
    std::vector<fs::path> sources;
    for (const auto& f : runtime.files)
      if (fs::is_regular_file(fs::symlink_status(f.source, ec))) sources.push_back(f.source);
    for (auto& p : dpkg_owners(root, sources)) s.packages.push_back(std::move(p));
  }
  if (auto r = o.rootfs.find(in.platform); r != o.rootfs.end() && fs::is_regular_file(r->second / "var/lib/dpkg/status", ec))
    for (auto& p : dpkg_status_packages(read_file(r->second / "var/lib/dpkg/status"), "emulation rootfs")) s.packages.push_back(std::move(p));
  if (auto t = o.tools.find(in.platform); t != o.tools.end()) s.tool = t->second;
  return s;
}

}  // namespace

void check_export(const ImageSpec& project, const std::vector<Platform>& platforms, const ExportOptions& options) {
  Prepared p = prepare(project, options);
  check_docker(platforms, options);
  layer_files(project, project.dir);  // checks the in-image paths (the sources do not exist yet)
  check_dest(options);
  if (!p.base.scratch) {
    BaseResolver base(p.base);
    for (const auto& pl : platforms) check_docker_base(base.for_platform(pl), base, options);
  }
}

ExportResult export_images(const ImageSpec& project, const std::vector<PlatformImageInput>& inputs, const ExportOptions& options) {
  Prepared prep = prepare(project, options);
  if (inputs.empty()) fail(Exit::usage, "no platforms to export");
  std::set<Platform> seen;
  for (const auto& in : inputs)
    if (!seen.insert(in.platform).second) fail(Exit::usage, "platform {} is given twice", in.platform.str());
  check_docker({seen.begin(), seen.end()}, options);
  check_dest(options);

  std::optional<BaseResolver> base;
  if (!prep.base.scratch) base.emplace(prep.base);
  std::vector<BaseImage> bases;
  if (base)
    for (const auto& in : inputs) {  // all missing platforms fail before writing
      bases.push_back(base->for_platform(in.platform));
      check_docker_base(bases.back(), *base, options);
    }
  // Every input's files are checked before the first byte is written.
  std::vector<std::vector<LayerFile>> files;
  for (const auto& in : inputs) {
    files.push_back(layer_files(project, in.out_dir));
    for (const auto& f : files.back())
      if (!fs::exists(fs::symlink_status(f.source)))
        fail(Exit::build_failed, "{}: output '{}' does not exist: the build did not produce it (check outputs / [image] files in {})",
             in.platform.str(), f.source.string(), project.file.string());
  }

  // Runtime libraries and image lint (oci/lint.hpp), every platform at once, before any write.
  TempDirectory staging = TempDirectory::scratch("xbuild-runtime-");
  std::vector<PlannedImage> planned;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    RuntimeConfig rc = base ? RuntimeConfig::from_json(bases[i].config) : RuntimeConfig{};
    const auto& img = project.image;
    rc.override_with(img.env, img.entrypoint, img.cmd, img.workdir, img.user, img.labels, img.exposed_ports);
    auto sysroot = options.sysroots.find(inputs[i].platform);
    planned.push_back({{inputs[i].platform, rc.entrypoint, rc.cmd, rc.env}, base ? &base->source() : nullptr,
                       base ? bases[i].layers : std::vector<Descriptor>{}, files[i], sysroot == options.sysroots.end() ? fs::path() : sysroot->second, {}});
  }
  RuntimeMode mode = parse_runtime_mode(project.image.runtime, "[image] runtime in " + project.file.string());
  auto runtime = options.checks == ImageChecks::run ? check_before_export(planned, mode, staging.path()) : std::vector<RuntimeLayer>(inputs.size());

  throw_if_interrupted("checking the image for " + options.dest.string());

  // From here on every write goes into temps beside the destination; a failure (a full
  // disk) or a signal unwinds and they remove themselves, so the message names the dest.
  return writing_to(options.dest, [&]() -> ExportResult {
    TempDirectory archive_layout;  // an oci-archive's layout, assembled beside it and removed after packing
    fs::path layout_dest = options.dest;
    bool archive = options.type == OutputType::oci_archive || options.type == OutputType::docker;
    if (archive) {
      fs::path abs = fs::absolute(options.dest);
      std::error_code ec;
      fs::create_directories(abs.parent_path(), ec);
      remove_stale_temps(abs.parent_path(), temp_prefix_beside(abs, "layout"));
      remove_stale_temps(abs.parent_path(), temp_prefix_beside(abs, "tmp"));
      remove_stale_temps_beside(abs.parent_path(), "xbuild");  // the writer's stage beside the layout temp
      archive_layout = TempDirectory::beside(abs, "layout");
      layout_dest = archive_layout.path();
    }
    std::vector<std::string> refs;
    for (const auto& t : prep.tags) refs.push_back(t.second);
    LayoutWriter writer(layout_dest, refs);

    Provenance prov = read_provenance(project.dir);
    std::string created = rfc3339(prep.epoch);
    std::map<std::string, std::string> common;
    common[std::string(annotation::k_created)] = created;
    if (!prov.source.empty()) common[std::string(annotation::k_source)] = prov.source;
    if (!prov.revision.empty()) common[std::string(annotation::k_revision)] = prov.revision;

    ExportResult result;
    std::vector<Descriptor> manifests, referrers;
    LayerStore store(options.reuse_dir);
    std::string docker_json;  // manifest.json of a docker archive (its one platform)
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& in = inputs[i];
      throw_if_interrupted("exporting the image to " + options.dest.string());
      // The outputs' layer: the one kept from the last build when its key is the same (the
      // same files, bytes and settings), else packed now.
      std::string key = options.reuse_dir.empty() ? std::string() : layer_key(files[i], prep.compression, prep.epoch);
      std::optional<LayerRecord> kept = store.find(in.platform, key);
      PlatformReuse reuse;
      reuse.layer = kept && store.put_into(writer, kept->layer.descriptor);
      LayerInfo layer;
      if (reuse.layer) {
        layer = kept->layer;
      } else {
        TempFile tmp = writer.temp_blob();
        layer = write_layer(files[i], prep.compression, prep.epoch, tmp.path(), options.threads);
        writer.commit_blob(std::move(tmp), layer.descriptor);
      }

      std::vector<Descriptor> layers;
      std::vector<std::string> diff_ids;
      json::array history;
      RuntimeConfig rc;
      std::map<std::string, std::string> annotations = common;
      if (base) {
        const BaseImage& b = bases[i];
        for (const auto& l : b.layers) writer.put_from(base->source(), l);
        layers = b.layers;
        diff_ids = b.diff_ids;
        history = b.history;
        rc = RuntimeConfig::from_json(b.config);
        // Only a registry reference: a local path would make the digest depend on the machine.
        if (!base->reference().empty()) annotations[std::string(annotation::k_base_name)] = base->reference();
        annotations[std::string(annotation::k_base_digest)] = b.manifest.digest.str();
      }
      if (!runtime[i].files.empty()) {  // base, then runtime libraries, then the project's files
        TempFile rt_tmp = writer.temp_blob();
        LayerInfo rt = write_runtime_layer(runtime[i], prep.compression, prep.epoch, rt_tmp.path(), options.threads,
                                           project.dir / ".xbuild" / "cache" / "runtime");
        writer.commit_blob(std::move(rt_tmp), rt.descriptor);
        layers.push_back(rt.descriptor);
        diff_ids.push_back(rt.diff_id.str());
        history.push_back(json::object{{"created", created}, {"created_by", "xbuild build"},
                                       {"comment", fmt::format("runtime libraries for {}: {}", in.platform.str(), join(runtime[i].libraries, ", "))}});
      }
      layers.push_back(layer.descriptor);
      diff_ids.push_back(layer.diff_id.str());
      const auto& img = project.image;
      rc.override_with(img.env, img.entrypoint, img.cmd, img.workdir, img.user, img.labels, img.exposed_ports);
      bool has_path = false;
      for (const auto& kv : rc.env) has_path = has_path || kv.rfind("PATH=", 0) == 0;
      if (!has_path) rc.env.insert(rc.env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
      json::object h;
      h["created"] = created;
      h["created_by"] = "xbuild build";
      h["comment"] = fmt::format("{} outputs for {}", project.name, in.platform.str());
      history.push_back(std::move(h));

      Descriptor config = writer.put_bytes(media::k_config, make_config(in.platform, created, rc, diff_ids, history));
      Descriptor manifest = writer.put_bytes(media::k_manifest, make_manifest(config, layers, annotations));
      if (options.type == OutputType::docker) docker_json = docker_manifest(config, layers, prep.tags);
      manifest.platform = OciPlatform::from(in.platform);
      manifests.push_back(manifest);
      result.manifests.emplace_back(in.platform, manifest.digest.str());
      reuse.image = reuse.layer && kept->manifest == manifest.digest.str();
      if (!reuse.image && !key.empty())
        store.record(in.platform, {key, layer, manifest.digest.str()}, writer.root() / layer.descriptor.digest.blob_path());
      result.reused.emplace_back(in.platform, reuse);
      // The SBOM and the provenance: OCI 1.1 referrers of this manifest, listed in index.json
      // (never in the image index).
      SbomInput contents;
      if (options.sbom || options.provenance != ProvenanceMode::none)
        contents = sbom_input(project, in, files[i], runtime[i], planned[i], options, prep.epoch);
      auto attach = [&](std::string_view type, const std::string& doc, std::map<std::string, std::string> notes) {
        Descriptor blob = writer.put_bytes(type, doc);
        writer.put_bytes(media::k_empty, media::k_empty_bytes);
        notes[std::string(annotation::k_created)] = created;
        Descriptor ref = writer.put_bytes(media::k_manifest, make_referrer(type, blob, manifest, notes));
        ref.artifact_type = type;
        referrers.push_back(ref);
        return ref.digest.str();
      };
      if (options.sbom)
        result.sboms.emplace_back(in.platform, options.sbom_format == SbomFormat::cyclonedx
                                                   ? attach(media::k_cyclonedx_json, make_cyclonedx(contents), {})
                                                   : attach(media::k_spdx_json, make_spdx(contents), {}));
      if (options.provenance != ProvenanceMode::none) {
        ProvenanceInput pi;
        pi.image_name = project.name.empty() ? std::string("image") : project.name;  // not a tag: the same manifest, the same statement
        pi.platform = in.platform;
        pi.manifest = manifest;
        pi.mode = options.provenance;
        pi.source = prov;
        if (auto b = options.builds.find(in.platform); b != options.builds.end()) pi.build = b->second;
        if (auto t = options.tools.find(in.platform); t != options.tools.end()) pi.build.tool = t->second;
        if (base) {
          pi.base_name = base->reference();
          pi.base_digest = bases[i].manifest.digest.str();
        }
        for (const auto& p : contents.packages)  // the materials: not the base's or a rootfs's whole package list
          if (p.source != "base image" && p.source != "emulation rootfs") pi.packages.push_back(p);
        result.provenances.emplace_back(in.platform, attach(k_in_toto_json, make_provenance(pi),
                                                            {{"in-toto.io/predicate-type", "https://slsa.dev/provenance/v1"}}));
      }
    }

    Descriptor index = writer.put_bytes(media::k_index, make_index(manifests, common));
    std::vector<Descriptor> entries;
    std::set<std::string> written;
    for (const auto& [name, ref] : prep.tags) {
      if (!written.insert(ref).second) continue;
      Descriptor e = index;
      e.annotations[std::string(annotation::k_ref_name)] = ref;
      e.annotations["io.containerd.image.name"] = name;
      e.annotations[std::string(annotation::k_created)] = created;
      entries.push_back(e);
      result.ref_names.push_back(ref);
    }
    // A docker archive holds the image alone: docker load reads every index.json entry.
    if (options.type != OutputType::docker) entries.insert(entries.end(), referrers.begin(), referrers.end());
    throw_if_interrupted("exporting the image to " + options.dest.string());
    writer.commit(entries);

    if (options.type == OutputType::docker) write_file_atomic(layout_dest / "manifest.json", docker_json);
    if (archive) {
      TempFile tmp = TempFile::beside(fs::absolute(options.dest));
      write_layer({{layout_dest, "/"}}, Compression::none, prep.epoch, tmp.path(), 1);
      tmp.commit(options.dest);
    }
    result.index_digest = index.digest.str();
    result.index_size = index.size;
    return result;
  });
}

}  // namespace xb::oci
