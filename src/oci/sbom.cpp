// The SPDX document is built from sorted, de-duplicated values; every SPDXID is derived from
// what it names (file path, package kind/name/version/arch), so an element keeps its ID from
// build to build. Cargo.lock and dpkg's files are read with small line parsers (both formats
// are line-oriented key/value records), never a TOML library: oci does not use config's.

#include "oci/sbom.hpp"

#include "oci/image.hpp"
#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "platform/elf.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <unordered_map>

namespace xb::oci {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

/// "name = \"value\"" -> value, or "" when `line` is not that key.
std::string toml_string(std::string_view line, std::string_view key) {
  line = trim(line);
  if (line.rfind(key, 0) != 0) return {};
  std::string_view rest = trim(line.substr(key.size()));
  if (rest.empty() || rest.front() != '=') return {};
  rest = trim(rest.substr(1));
  if (rest.size() < 2 || rest.front() != '"' || rest.back() != '"') return {};
  return std::string(rest.substr(1, rest.size() - 2));
}

/// SPDX IDs allow [A-Za-z0-9.-]; everything else becomes '-'.
std::string spdx_id(std::string_view prefix, std::string_view text) {
  std::string id(prefix);
  for (char c : text) id += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '-';
  return id;
}

/// A package URL (purl) for a package.
std::string purl(const SbomPackage& p) {
  auto esc = [](std::string_view s) {  // percent-encode what a purl segment cannot hold
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == '/') out += static_cast<char>(c);
      else out += fmt::format("%{:02X}", c);
    }
    return out;
  };
  if (p.kind == "deb") {
    std::string u = fmt::format("pkg:deb/debian/{}@{}", esc(p.name), esc(p.version));
    if (!p.arch.empty()) u += "?arch=" + esc(p.arch);
    return u;
  }
  if (p.kind == "golang") return fmt::format("pkg:golang/{}@{}", esc(p.name), esc(p.version));
  return fmt::format("pkg:{}/{}@{}", p.kind, esc(p.name), esc(p.version));
}

struct FileEntry {
  std::string path;  // in the image, absolute
  std::string sha256;
};

/// Every regular file of `files` (directories walked), by image path; a later entry for the
/// same path replaces an earlier one, as in the layer.
std::map<std::string, fs::path> regular_files(const std::vector<LayerFile>& files) {
  std::map<std::string, fs::path> by_path;
  for (const auto& f : files) {
    std::error_code ec;
    fs::file_status st = fs::symlink_status(f.source, ec);
    if (fs::is_regular_file(st)) {
      by_path[f.dest] = f.source;
    } else if (fs::is_directory(st)) {
      for (auto it = fs::recursive_directory_iterator(f.source, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (fs::is_regular_file(it->symlink_status()))
          by_path[(fs::path(f.dest) / it->path().lexically_relative(f.source)).lexically_normal().string()] = it->path();
    }
  }
  return by_path;
}

std::vector<FileEntry> hash_files(const std::vector<LayerFile>& files) {
  std::vector<FileEntry> out;
  for (const auto& [path, source] : regular_files(files)) out.push_back({path, digest_of_file(source).hex()});
  return out;
}

/// The lines of `text`, blank ones and leading spaces kept (util's split drops both).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

std::vector<SbomPackage> go_module_packages(const std::vector<LayerFile>& files) {
  std::vector<SbomPackage> out;
  for (const auto& [path, source] : regular_files(files)) {
    std::optional<GoBuildInfo> info = read_go_buildinfo(source);
    if (!info) continue;
    std::string from = "Go build info of " + path;
    std::vector<GoModule> mods;
    if (info->main) mods.push_back(*info->main);
    mods.insert(mods.end(), info->deps.begin(), info->deps.end());
    for (const auto& m : mods) {
      if (m.path.empty() || m.version.empty()) continue;
      SbomPackage p{"golang", m.path, m.version, "", from, ""};
      if (m.version != "(devel)" && m.replaced_by.empty())
        p.download = fmt::format("https://proxy.golang.org/{}/@v/{}.zip", m.path, m.version);
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::vector<SbomPackage> cargo_lock_packages(const fs::path& cargo_lock) {
  std::vector<SbomPackage> out;
  std::string text = read_file_if_readable(cargo_lock).value_or("");
  std::optional<SbomPackage> cur;
  auto flush = [&] {
    if (cur && !cur->name.empty() && !cur->version.empty()) out.push_back(*cur);
    cur.reset();
  };
  for (std::string_view line : lines_of(text)) {
    std::string_view t = trim(line);
    if (t == "[[package]]") {
      flush();
      cur = SbomPackage{"cargo", "", "", "", "Cargo.lock", ""};
      continue;
    }
    if (!t.empty() && t.front() == '[') flush();
    if (!cur) continue;
    if (auto v = toml_string(t, "name"); !v.empty()) cur->name = v;
    else if (auto v2 = toml_string(t, "version"); !v2.empty()) cur->version = v2;
    else if (auto v3 = toml_string(t, "source"); !v3.empty()) {
      if (v3.rfind("registry+https://github.com/rust-lang/crates.io-index", 0) == 0) cur->download = "crates.io";
      else cur->download = v3;
    }
  }
  flush();
  for (auto& p : out)
    if (p.download == "crates.io") p.download = fmt::format("https://crates.io/api/v1/crates/{}/{}/download", p.name, p.version);
  return out;
}

std::vector<SbomPackage> dpkg_status_packages(std::string_view status, std::string_view source) {
  std::vector<SbomPackage> out;
  SbomPackage cur{"deb", "", "", "", std::string(source), ""};
  bool installed = false;
  auto flush = [&] {
    if (installed && !cur.name.empty() && !cur.version.empty()) out.push_back(cur);
    cur = SbomPackage{"deb", "", "", "", std::string(source), ""};
    installed = false;
  };
  for (std::string_view line : lines_of(status)) {
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') continue;  // a continuation line
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (key == "Package") cur.name = value;
    else if (key == "Version") cur.version = value;
    else if (key == "Architecture") cur.arch = value;
    else if (key == "Status") installed = value.size() >= 9 && value.substr(value.size() - 9) == "installed" &&
                                         value.find("not-installed") == std::string_view::npos &&
                                         value.find("config-files") == std::string_view::npos;
  }
  flush();
  return out;
}

std::vector<SbomPackage> dpkg_owners(const fs::path& root, const std::vector<fs::path>& files) {
  std::vector<SbomPackage> out;
  if (files.empty()) return out;
  fs::path info = root / "var/lib/dpkg/info";
  // The paths to look for, as dpkg records them (relative to root, with and without /usr: a
  // merged-/usr system lists /lib/... where the file is found as /usr/lib/..., and back).
  std::map<std::string, std::string> wanted;  // recorded path -> "" until an owner is found
  for (const auto& f : files) {
    std::string rel = "/" + fs::path(f).lexically_relative(root).lexically_normal().string();
    if (root == "/") rel = fs::path(f).lexically_normal().string();
    wanted[rel];
    if (rel.rfind("/usr/", 0) == 0) wanted[rel.substr(4)];
    else wanted["/usr" + rel];
  }
  std::error_code ec;
  std::vector<fs::path> lists;
  for (auto it = fs::directory_iterator(info, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".list") lists.push_back(it->path());
  std::sort(lists.begin(), lists.end());
  std::set<std::string> owners;  // "name" or "name:arch", as the list file is named
  for (const auto& l : lists) {
    std::string text = read_file_if_readable(l).value_or("");
    for (std::string_view line : lines_of(text))
      if (auto w = wanted.find(std::string(trim(line))); w != wanted.end() && w->second.empty()) {
        w->second = l.stem().string();
        owners.insert(w->second);
      }
  }
  if (owners.empty()) return out;
  for (auto& p : dpkg_status_packages(read_file_if_readable(root / "var/lib/dpkg/status").value_or(""), "runtime library")) {
    if (owners.count(p.name) || owners.count(p.name + ":" + p.arch)) out.push_back(p);
  }
  return out;
}

std::string make_spdx(const SbomInput& in) {
  std::vector<FileEntry> files = hash_files(in.files);
  std::set<SbomPackage> unique(in.packages.begin(), in.packages.end());
  // One entry per (kind, name, version, arch): the first source in sort order names it.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, SbomPackage> packages;
  for (const auto& p : unique) packages.emplace(std::make_tuple(p.kind, p.name, p.version, p.arch), p);

  std::string doc_name = fmt::format("{}-{}", in.project.empty() ? "image" : in.project, in.platform.str());
  std::string created = rfc3339(in.epoch);
  const std::string image_id = "SPDXRef-Image";

  json::array pkgs, file_arr, rels;
  // filesAnalyzed false: SPDX then wants no packageVerificationCode (a SHA-1 construction) and
  // no hasFiles; the files are tied to the image by CONTAINS relationships, as syft does.
  json::object image{{"SPDXID", image_id},
                     {"name", doc_name},
                     {"downloadLocation", "NOASSERTION"},
                     {"filesAnalyzed", false},
                     {"primaryPackagePurpose", "CONTAINER"},
                     {"comment", fmt::format("the {} image of {}, as built by xbuild", in.platform.str(), in.project)}};
  pkgs.push_back(std::move(image));

  rels.push_back(json::object{{"spdxElementId", "SPDXRef-DOCUMENT"}, {"relationshipType", "DESCRIBES"}, {"relatedSpdxElement", image_id}});
  for (const auto& [key, p] : packages) {
    std::string id = spdx_id("SPDXRef-Package-", fmt::format("{}-{}-{}{}", p.kind, p.name, p.version, p.arch.empty() ? "" : "-" + p.arch));
    json::object o{{"SPDXID", id},
                   {"name", p.name},
                   {"versionInfo", p.version},
                   {"downloadLocation", p.download.empty() ? "NOASSERTION" : p.download},
                   {"filesAnalyzed", false},
                   {"primaryPackagePurpose", "LIBRARY"},
                   {"comment", "from " + p.source},
                   {"externalRefs", json::array{json::object{{"referenceCategory", "PACKAGE-MANAGER"}, {"referenceType", "purl"},
                                                             {"referenceLocator", purl(p)}}}}};
    pkgs.push_back(std::move(o));
    rels.push_back(json::object{{"spdxElementId", image_id}, {"relationshipType", "CONTAINS"}, {"relatedSpdxElement", id}});
  }
  if (!in.tool.name.empty()) {
    std::string id = spdx_id("SPDXRef-BuildTool-", in.tool.name);
    json::object o{{"SPDXID", id},
                   {"name", in.tool.name},
                   {"downloadLocation", "NOASSERTION"},
                   {"filesAnalyzed", false},
                   {"primaryPackagePurpose", "APPLICATION"},
                   {"comment", "the toolchain xbuild built this platform with"}};
    if (!in.tool.version.empty()) o["versionInfo"] = in.tool.version;
    pkgs.push_back(std::move(o));
    rels.push_back(json::object{{"spdxElementId", id}, {"relationshipType", "BUILD_TOOL_OF"}, {"relatedSpdxElement", image_id}});
  }
  for (const auto& f : files) {
    std::string id = spdx_id("SPDXRef-File-", f.path);
    file_arr.push_back(json::object{{"SPDXID", id},
                                    {"fileName", "." + f.path},
                                    {"checksums", json::array{json::object{{"algorithm", "SHA256"}, {"checksumValue", f.sha256}}}}});
    rels.push_back(json::object{{"spdxElementId", image_id}, {"relationshipType", "CONTAINS"}, {"relatedSpdxElement", id}});
  }

  // The namespace: unique per content, the same for the same content (no random UUID).
  Sha256 ns;
  ns.update(doc_name);
  ns.update(json::serialize(pkgs));
  ns.update(json::serialize(file_arr));
  json::object doc{{"spdxVersion", "SPDX-2.3"},
                   {"dataLicense", "CC0-1.0"},
                   {"SPDXID", "SPDXRef-DOCUMENT"},
                   {"name", doc_name},
                   {"documentNamespace", fmt::format("https://xbuild.invalid/spdx/{}/{}", doc_name, ns.hex())},
                   {"creationInfo", json::object{{"created", created}, {"creators", json::array{json::string("Tool: xbuild-" XBUILD_VERSION)}}}},
                   {"packages", std::move(pkgs)},
                   {"files", std::move(file_arr)},
                   {"relationships", std::move(rels)}};
  return json::serialize(doc);
}

SbomFormat parse_sbom_format(std::string_view text, std::string_view flag) {
  if (text == "spdx" || text == "spdx-json") return SbomFormat::spdx;
  if (text == "cyclonedx" || text == "cyclonedx-json") return SbomFormat::cyclonedx;
  fail(Exit::usage, "{} {}: expected spdx or cyclonedx", flag, text);
}

std::string make_cyclonedx(const SbomInput& in) {
  std::vector<FileEntry> files = hash_files(in.files);
  std::set<SbomPackage> unique(in.packages.begin(), in.packages.end());
  std::map<std::tuple<std::string, std::string, std::string, std::string>, SbomPackage> packages;
  for (const auto& p : unique) packages.emplace(std::make_tuple(p.kind, p.name, p.version, p.arch), p);
  std::string doc_name = fmt::format("{}-{}", in.project.empty() ? "image" : in.project, in.platform.str());

  json::array components, depends;
  for (const auto& [key, p] : packages) {
    std::string ref = purl(p);
    json::object c{{"type", "library"}, {"bom-ref", ref}, {"name", p.name}, {"version", p.version}, {"purl", ref},
                   {"properties", json::array{json::object{{"name", "xbuild:source"}, {"value", p.source}}}}};
    if (!p.download.empty())
      c["externalReferences"] = json::array{json::object{{"type", "distribution"}, {"url", p.download}}};
    components.push_back(std::move(c));
    depends.push_back(json::string(ref));
  }
  for (const auto& f : files) {
    std::string ref = "file:" + f.path;
    components.push_back(json::object{{"type", "file"}, {"bom-ref", ref}, {"name", f.path},
                                      {"hashes", json::array{json::object{{"alg", "SHA-256"}, {"content", f.sha256}}}}});
  }
  json::array tools{json::object{{"type", "application"}, {"name", "xbuild"}, {"version", XBUILD_VERSION}}};
  if (!in.tool.name.empty()) {
    json::object t{{"type", "application"}, {"name", in.tool.name},
                   {"description", "the toolchain xbuild built this platform with"}};
    if (!in.tool.version.empty()) t["version"] = in.tool.version;
    tools.push_back(std::move(t));
  }
  // A serial number derived from the content (a name-based UUID layout: version 5, RFC 4122 variant).
  Sha256 h;
  h.update(doc_name);
  h.update(json::serialize(components));
  std::string x = h.hex();
  x[12] = '5';
  x[16] = "89ab"[std::stoi(std::string(1, x[16]), nullptr, 16) & 3];
  std::string serial = fmt::format("urn:uuid:{}-{}-{}-{}-{}", x.substr(0, 8), x.substr(8, 4), x.substr(12, 4), x.substr(16, 4), x.substr(20, 12));
  json::object doc{{"bomFormat", "CycloneDX"},
                   {"specVersion", "1.5"},
                   {"serialNumber", serial},
                   {"version", 1},
                   {"metadata", json::object{{"timestamp", rfc3339(in.epoch)},
                                             {"tools", json::object{{"components", std::move(tools)}}},
                                             {"component", json::object{{"type", "container"}, {"bom-ref", "image"}, {"name", doc_name}}}}},
                   {"components", std::move(components)},
                   {"dependencies", json::array{json::object{{"ref", "image"}, {"dependsOn", std::move(depends)}}}}};
  return json::serialize(doc);
}

std::string make_referrer(std::string_view artifact_type, const Descriptor& artifact, const Descriptor& subject,
                          const std::map<std::string, std::string>& annotations) {
  Descriptor empty = Descriptor::of(media::k_empty, media::k_empty_bytes);
  Descriptor s = subject;
  s.platform.reset();
  s.annotations.clear();
  Descriptor a = artifact;
  a.platform.reset();
  json::object m{{"schemaVersion", 2}, {"mediaType", media::k_manifest}, {"artifactType", artifact_type},
                 {"config", to_json(empty)}, {"layers", json::array{to_json(a)}}, {"subject", to_json(s)}};
  if (!annotations.empty()) {
    json::object an;
    for (const auto& [k, v] : annotations) an[k] = v;
    m["annotations"] = std::move(an);
  }
  return json::serialize(m);
}

}  // namespace xb::oci
