// The resolver is a work list over ELF files: start with the project's dynamic ELFs; for
// each, make sure its interpreter is there, then look up each DT_NEEDED library in the image
// (as ld.so would) and, failing that, in the sysroot's library dirs; every library found or
// added joins the list, so the closure is complete. What is added goes into the view as
// well, so later lookups (and the lint) see the image as it will be.

#include "oci/runtime.hpp"

#include "util/fs.hpp"
#include "util/temp.hpp"

#include "oci/layout.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <deque>
#include <fstream>
#include <iterator>
#include <set>

namespace xb::oci {

namespace fs = std::filesystem;

RuntimeMode parse_runtime_mode(std::string_view text, std::string_view what) {
  if (text == "auto") return RuntimeMode::automatic;
  if (text == "none") return RuntimeMode::none;
  fail(Exit::usage, "{}: runtime must be \"auto\" or \"none\" (got \"{}\")", what, text);
}

namespace {

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string expand_origin(std::string dir, const std::string& origin) {
  dir = replace_all(dir, "${ORIGIN}", origin);
  dir = replace_all(dir, "$ORIGIN", origin);
  return dir;
}

const char* k_fixes =
    "fix it with one of: [image] runtime = \"auto\" (xbuild copies them from the target's sysroot), "
    "a base image that has them ([image] base = \"oci:DIR\" or a registry image such as docker://debian:bookworm-slim), "
    "or link statically (-static)";

class Resolver {
public:
  Resolver(ImageView& view, const Platform& p, RuntimeMode mode, fs::path sysroot, fs::path staging, std::vector<std::string>& problems)
      : m_view(view), m_p(p), m_mode(mode), m_sysroot(std::move(sysroot)), m_staging(std::move(staging)), m_problems(problems) {}

  RuntimeLayer run() {
    std::deque<std::pair<std::string, ElfInfo>> todo;
    for (const auto& [path, node] : m_view.nodes()) {
      if (node.origin != NodeOrigin::project || node.kind != NodeKind::file || !node.elf) continue;
      if (node.elf->linking == ElfLinking::dynamic || node.elf->linking == ElfLinking::shared) todo.emplace_back(path, *node.elf);
    }
    std::set<std::string> seen;
    for (const auto& t : todo) seen.insert(t.first);
    while (!todo.empty()) {
      auto [path, elf] = todo.front();
      todo.pop_front();
      std::vector<std::string> missing;
      if (!elf_matches(elf, m_p)) continue;  // the lint names it; its libraries would be the wrong ones
      if (!elf.interpreter.empty() && !m_view.stat(elf.interpreter)) {
        if (m_mode == RuntimeMode::none || !add_from_sysroot(elf.interpreter, m_sysroot / fs::path(elf.interpreter).relative_path()))
          missing.push_back(fmt::format("its loader {}", elf.interpreter));
      }
      for (const auto& name : elf.needed) {
        auto found = find_library(m_view, path, elf, name, m_p);
        if (!found.path && m_mode == RuntimeMode::automatic) {
          if (auto src = find_in_sysroot(name)) {
            std::string dest = std::string(m_p.traits().library_dirs().front()) + "/" + name;
            if (add_from_sysroot(dest, *src)) found = find_library(m_view, path, elf, name, m_p);
          }
          if (!found.path) {
            m_problems.push_back(fmt::format(
                "{}: {} needs {} (DT_NEEDED), which is neither in the image (looked in {}) nor in the {} sysroot {} "
                "(looked in {}): ship it with the project (outputs / [image] files, found through an $ORIGIN RPATH), install the "
                "{} package that provides it into the sysroot, or link it statically",
                m_p.str(), path, name, join(found.searched, ", "), m_p.str(), m_sysroot.empty() ? "(none known)" : m_sysroot.string(),
                join(m_p.traits().library_dirs(), ", "), m_p.traits().debian_arch));
            continue;
          }
        }
        if (!found.path) {
          missing.push_back(name);
          continue;
        }
        if (seen.insert(*found.path).second) {
          if (const ViewNode* n = m_view.lstat(*found.path); n && n->elf) todo.emplace_back(*found.path, *n->elf);
        }
      }
      if (!missing.empty())
        m_problems.push_back(fmt::format("{}: {} is dynamically linked, but the image has no {} ([image] runtime = \"none\"); {}",
                                         m_p.str(), path, join(missing, ", "), k_fixes));
    }
    return std::move(m_layer);
  }

private:
  std::optional<fs::path> find_in_sysroot(const std::string& name) const {
    if (m_sysroot.empty()) return std::nullopt;
    for (const auto& d : m_p.traits().library_dirs()) {
      fs::path cand = m_sysroot / fs::path(d).relative_path() / name;
      std::error_code ec;
      if (!fs::is_regular_file(cand, ec)) continue;
      if (auto e = read_elf(cand); e && elf_matches(*e, m_p)) return cand;
    }
    return std::nullopt;
  }

  /// Copies `src` (following its symlinks inside the sysroot, each kept as a link) to
  /// `image_path`. False when the sysroot does not have it.
  bool add_from_sysroot(std::string image_path, fs::path src) {
    if (m_sysroot.empty()) return false;
    for (int hops = 0; hops < 40; ++hops) {
      std::string dest = m_view.placement(image_path);
      struct stat st {};
      if (::lstat(src.c_str(), &st) != 0) return false;
      if (m_view.lstat(dest)) return m_view.stat(dest) != nullptr;  // already in the image (or just added)
      std::string name = fs::path(dest).filename().string();
      if (S_ISLNK(st.st_mode)) {
        std::string target = fs::read_symlink(src).string();
        fs::path link = m_staging / fmt::format("{}", m_layer.files.size());
        fs::create_symlink(target, link);
        m_layer.files.push_back({link, dest});
        ViewNode n;
        n.kind = NodeKind::symlink;
        n.origin = NodeOrigin::runtime;
        n.mode = 0777;
        n.link = target;
        m_view.put(dest, std::move(n));
        if (!target.empty() && target[0] == '/') {
          image_path = target;
          src = m_sysroot / fs::path(target).relative_path();
        } else {
          image_path = dirname_of(dest) + "/" + target;
          src = (src.parent_path() / target).lexically_normal();
        }
        continue;
      }
      if (!S_ISREG(st.st_mode)) return false;
      ViewNode n;
      n.origin = NodeOrigin::runtime;
      n.mode = (st.st_mode & 0111) ? 0755 : 0644;
      std::ifstream in(src, std::ios::binary);
      classify(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), n);
      m_view.put(dest, std::move(n));
      m_layer.files.push_back({src, dest});
      m_layer.libraries.push_back(name);
      return true;
    }
    return false;
  }

  ImageView& m_view;
  const Platform& m_p;
  RuntimeMode m_mode;
  fs::path m_sysroot;
  fs::path m_staging;
  std::vector<std::string>& m_problems;
  RuntimeLayer m_layer;
};

}  // namespace

LibraryLookup find_library(const ImageView& view, const std::string& elf_path, const ElfInfo& elf, const std::string& name,
                           const Platform& p) {
  LibraryLookup out;
  auto try_path = [&](const std::string& cand) {
    const ViewNode* n = view.stat(cand);
    if (!n || n->kind != NodeKind::file) return false;
    if (n->elf && elf_matches(*n->elf, p)) {
      out.path = view.resolve(cand);
      return true;
    }
    out.wrong_arch.push_back(cand);
    return false;
  };
  if (name.find('/') != std::string::npos) {
    out.searched.push_back(name);
    try_path(name);
    return out;
  }
  std::string origin = dirname_of(view.resolve(elf_path).value_or(elf_path));
  std::vector<std::string> dirs;
  for (const auto& d : library_search_path(elf)) dirs.push_back(expand_origin(d, origin));
  for (const auto& d : view.ld_so_conf_dirs()) dirs.push_back(d);
  for (const auto& d : p.traits().library_dirs()) dirs.push_back(d);
  for (const auto& d : dirs) {
    out.searched.push_back(d);
    if (try_path(d + "/" + name)) return out;
  }
  return out;
}

RuntimeLayer resolve_runtime(ImageView& view, const Platform& p, RuntimeMode mode, const fs::path& sysroot, const fs::path& staging,
                             std::vector<std::string>& problems) {
  return Resolver(view, p, mode, sysroot, staging, problems).run();
}

LayerInfo write_runtime_layer(const RuntimeLayer& layer, Compression c, long long mtime, const fs::path& out, unsigned threads,
                              const fs::path& cache_dir) {
  std::vector<LayerFile> files = layer.files;
  std::sort(files.begin(), files.end(), [](const LayerFile& a, const LayerFile& b) { return a.dest < b.dest; });
  Sha256 h;
  h.update(fmt::format("xbuild-runtime-layer-v1\n{}\n{}\n", to_string(c), mtime));
  for (const auto& f : files) {
    struct stat st {};
    if (::lstat(f.source.c_str(), &st) != 0) return write_layer(layer.files, c, mtime, out, threads);
    if (S_ISLNK(st.st_mode)) h.update(fmt::format("L {} {}\n", f.dest, fs::read_symlink(f.source).string()));
    else h.update(fmt::format("F {} {} {} {}.{}\n", f.dest, f.source.string(), st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec));
  }
  std::string key = h.hex();
  fs::path blob = cache_dir / (key + ".blob"), meta = cache_dir / (key + ".json");
  std::error_code ec;
  if (fs::exists(blob, ec) && fs::exists(meta, ec)) {
    try {
      std::ifstream in(meta);
      auto o = boost::json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())).as_object();
      LayerInfo info;
      info.descriptor.media_type = std::string(o.at("mediaType").as_string());
      info.descriptor.digest = Digest::parse(o.at("digest").as_string());
      info.descriptor.size = o.at("size").as_int64();
      info.diff_id = Digest::parse(o.at("diff_id").as_string());
      info.tar_size = o.at("tar_size").as_int64();
      info.entries = static_cast<std::size_t>(o.at("entries").as_int64());
      fs::copy_file(blob, out, fs::copy_options::overwrite_existing);
      if (digest_of_file(out) == info.descriptor.digest && static_cast<std::int64_t>(fs::file_size(out)) == info.descriptor.size) return info;
    } catch (const std::exception&) {
      // a damaged cache entry is rewritten below
    }
  }
  LayerInfo info = write_layer(layer.files, c, mtime, out, threads);
  fs::create_directories(cache_dir, ec);
  boost::json::object o{{"mediaType", info.descriptor.media_type}, {"digest", info.descriptor.digest.str()},
                        {"size", info.descriptor.size}, {"diff_id", info.diff_id.str()}, {"tar_size", info.tar_size},
                        {"entries", static_cast<std::int64_t>(info.entries)}};
  if (!ec) {
    try {  // a cache that cannot be written costs the next build time, nothing else
      TempFile t = TempFile::beside(blob);
      t.close();
      fs::copy_file(out, t.path(), fs::copy_options::overwrite_existing);
      t.commit(blob);
      write_file_atomic(meta, boost::json::serialize(o));
    } catch (const std::exception&) {
    }
  }
  return info;
}

}  // namespace xb::oci
