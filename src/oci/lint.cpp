// One pass over the merged rootfs, then the entrypoint. The library lookups are the same
// function the runtime resolver uses (find_library), so "the resolver added it" and "the
// lint finds it" cannot disagree.

#include "oci/lint.hpp"

#include "oci/media_types.hpp"
#include "oci/runtime.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace xb::oci {

namespace json = boost::json;

namespace {

constexpr std::string_view k_rpath_fix =
    "use an $ORIGIN-relative RPATH (CMake: set CMAKE_INSTALL_RPATH to $ORIGIN/../lib and CMAKE_BUILD_WITH_INSTALL_RPATH=ON; "
    "ld: -Wl,-rpath,'$ORIGIN/../lib') or none";

void check_entrypoint(const ImageView& view, const LintTarget& t, std::vector<std::string>& problems) {
  std::vector<std::string> argv;
  if (t.entrypoint && !t.entrypoint->empty()) argv = *t.entrypoint;
  else if (t.cmd && !t.cmd->empty()) argv = *t.cmd;
  if (argv.empty()) return;
  std::string prog = argv.front();
  std::string p = t.platform.str();
  std::string where = prog;
  if (prog.find('/') == std::string::npos) {
    std::string path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const auto& kv : t.env)
      if (kv.rfind("PATH=", 0) == 0) path_var = kv.substr(5);
    std::optional<std::string> hit;
    for (const auto& d : split(path_var, ':')) {
      if (const ViewNode* n = view.stat(d + "/" + prog); n && n->kind == NodeKind::file) {
        hit = d + "/" + prog;
        break;
      }
    }
    if (!hit) {
      problems.push_back(fmt::format("{}: the entrypoint '{}' is not in the image (searched PATH={}): put the program there or fix "
                                     "[image] entrypoint", p, prog, path_var));
      return;
    }
    where = *hit;
  } else if (prog.front() != '/') {
    where = "/" + prog;  // relative to WorkingDir; "/" is the common case
  }
  const ViewNode* n = view.stat(where);
  if (!n) {
    problems.push_back(fmt::format("{}: the entrypoint {} does not exist in the image: check [image] entrypoint and [image] files", p, prog));
    return;
  }
  if (n->kind != NodeKind::file) {
    problems.push_back(fmt::format("{}: the entrypoint {} is not a file", p, prog));
    return;
  }
  if ((n->mode & 0111) == 0) {
    problems.push_back(fmt::format("{}: the entrypoint {} is not executable (mode {:04o}): chmod +x it in the build", p, prog, n->mode));
    return;
  }
  if (!n->shebang.empty()) {
    const ViewNode* interp = view.stat(n->shebang);
    if (!interp || interp->kind != NodeKind::file)
      problems.push_back(fmt::format("{}: the entrypoint {} is a script for #!{}, which is not in the image: use a base image that has it, "
                                     "or make the entrypoint a binary", p, prog, n->shebang));
  } else if (!n->elf) {
    problems.push_back(fmt::format("{}: the entrypoint {} is neither an ELF program nor a #! script", p, prog));
  }
}

}  // namespace

std::vector<std::string> lint_view(const ImageView& view, const LintTarget& t) {
  std::vector<std::string> problems;
  const Platform& pl = t.platform;
  std::string p = pl.str();
  std::string want = describe(expected_elf(pl));
  for (const auto& [path, node] : view.nodes()) {
    if (node.kind != NodeKind::file) continue;
    for (const auto& m : node.members) {
      if (m.elf && !elf_matches(*m.elf, pl))
        problems.push_back(fmt::format("{}: {}({}) is {}, but {} needs {}: the static library was built with the wrong compiler",
                                       p, path, m.name, describe(*m.elf), p, want));
    }
    if (!node.elf) continue;
    const ElfInfo& e = *node.elf;
    if (!elf_matches(e, pl)) {
      problems.push_back(fmt::format("{}: {} is {}, but {} needs {}", p, path, describe(e), p, want));
      continue;
    }
    if (e.linking != ElfLinking::dynamic && e.linking != ElfLinking::shared) continue;
    if (!e.interpreter.empty()) {
      const ViewNode* i = view.stat(e.interpreter);
      if (!i || i->kind != NodeKind::file)
        problems.push_back(fmt::format("{}: {} needs the loader {} (PT_INTERP), which is not in the image: set [image] runtime = \"auto\", "
                                       "use a base image that has it, or link statically", p, path, e.interpreter));
      else if (i->elf && !elf_matches(*i->elf, pl))
        problems.push_back(fmt::format("{}: {} needs the loader {}, but the image's is {}", p, path, e.interpreter, describe(*i->elf)));
    }
    for (const auto& dir : library_search_path(e)) {
      if (dir.empty() || dir[0] != '/') continue;
      if (!view.stat(dir))
        problems.push_back(fmt::format("{}: {} has RUNPATH/RPATH {}, which is not in the image (a path of the build machine?): {}",
                                       p, path, dir, k_rpath_fix));
    }
    for (const auto& name : e.needed) {
      auto found = find_library(view, path, e, name, pl);
      if (found.path) continue;
      if (!found.wrong_arch.empty()) {
        const ViewNode* w = view.stat(found.wrong_arch.front());
        problems.push_back(fmt::format("{}: {} needs {}, but {} is {} (wrong architecture) and no {} build of it is in the image",
                                       p, path, name, found.wrong_arch.front(), w && w->elf ? describe(*w->elf) : "not an ELF file", p));
      } else {
        problems.push_back(fmt::format("{}: {} needs {} (DT_NEEDED), which is not in the image (looked in {}): set [image] runtime = \"auto\", "
                                       "use a base image that has it, or link statically", p, path, name, join(found.searched, ", ")));
      }
    }
  }
  check_entrypoint(view, t, problems);
  return problems;
}

namespace {

std::optional<std::vector<std::string>> strings_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& s : v->as_array())
    if (s.is_string()) out.emplace_back(s.as_string());
  return out;
}

void lint_manifest(BlobSource& src, const Descriptor& d, std::vector<std::string>& problems) {
  std::string where = "manifest " + d.digest.str();
  auto m = parse_json_object(src.read_blob(d), where);
  const json::value* cv = m.if_contains("config");
  if (!cv) fail(Exit::usage, "{}: no config", where);
  Descriptor cd = descriptor_from_json(*cv, where + " config");
  auto config = parse_json_object(src.read_blob(cd), where + " config");
  std::string os = config.if_contains("os") && config.at("os").is_string() ? std::string(config.at("os").as_string()) : "";
  std::string arch = config.if_contains("architecture") && config.at("architecture").is_string()
                         ? std::string(config.at("architecture").as_string()) : "";
  std::string variant = config.if_contains("variant") && config.at("variant").is_string() ? std::string(config.at("variant").as_string()) : "";
  if (os != "linux" || arch.empty()) return;  // an attestation or a foreign OS: nothing to run
  LintTarget t;
  try {
    t.platform = Platform::parse(os + "/" + arch + (variant.empty() || variant == "v8" ? "" : "/" + variant));
  } catch (const Error&) {
    return;
  }
  if (const json::value* c = config.if_contains("config"); c && c->is_object()) {
    t.entrypoint = strings_of(c->as_object(), "Entrypoint");
    t.cmd = strings_of(c->as_object(), "Cmd");
    t.env = strings_of(c->as_object(), "Env").value_or(std::vector<std::string>{});
  }
  ImageView view;
  if (const json::value* l = m.if_contains("layers"); l && l->is_array()) {
    for (const auto& v : l->as_array()) {
      Descriptor ld = descriptor_from_json(v, where + " layers");
      view.add_layer(src.read_blob(ld), NodeOrigin::base, "layer " + ld.digest.str());
    }
  }
  for (auto& p : lint_view(view, t)) problems.push_back(std::move(p));
}

void walk(BlobSource& src, const Descriptor& d, std::vector<std::string>& problems, int depth) {
  if (depth > 4) return;
  if (media::is_manifest(d.media_type)) {
    lint_manifest(src, d, problems);
    return;
  }
  if (!media::is_index(d.media_type)) return;
  auto index = parse_json_object(src.read_blob(d), "index " + d.digest.str());
  if (const json::value* m = index.if_contains("manifests"); m && m->is_array())
    for (const auto& v : m->as_array()) walk(src, descriptor_from_json(v, "index manifests"), problems, depth + 1);
}

}  // namespace

std::vector<std::string> lint_image(BlobSource& src, const Descriptor& top) {
  std::vector<std::string> problems;
  walk(src, top, problems, 0);
  return problems;
}

}  // namespace xb::oci

namespace xb::oci {

std::vector<RuntimeLayer> check_before_export(std::vector<PlannedImage>& images, RuntimeMode mode, const std::filesystem::path& staging) {
  std::vector<std::string> problems;
  std::vector<RuntimeLayer> layers;
  for (std::size_t i = 0; i < images.size(); ++i) {
    auto& img = images[i];
    ImageView view;
    for (const auto& l : img.base_layers) view.add_layer(img.base->read_blob(l), NodeOrigin::base, "base layer " + l.digest.str());
    for (const auto& [path, node] : view.nodes())  // what the base's dpkg says is installed (status.d: distroless)
      if (node.kind == NodeKind::file && (path == "/var/lib/dpkg/status" || path.rfind("/var/lib/dpkg/status.d/", 0) == 0))
        img.dpkg_status += node.text + "\n\n";
    view.add_files(img.files, NodeOrigin::project);
    std::filesystem::path dir = staging / std::to_string(i);
    std::filesystem::create_directories(dir);
    std::size_t before = problems.size();
    layers.push_back(resolve_runtime(view, img.target.platform, mode, img.sysroot, dir, problems));
    // The runtime problems already say what is missing; the lint would say it again.
    if (problems.size() == before)
      for (auto& p : lint_view(view, img.target)) problems.push_back(std::move(p));
  }
  if (!problems.empty())
    fail(Exit::build_failed, "the image would not run; nothing was written:\n  {}", join(problems, "\n  "));
  return layers;
}

}  // namespace xb::oci
