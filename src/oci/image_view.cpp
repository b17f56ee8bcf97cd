// A layer is read in two passes over its entries: first collected (so its whiteouts can be
// applied to the layers below before its own entries land), then laid on top. File bodies
// are read only when they start like an ELF or ar file, or a #! script (first line only),
// so a large base image costs one decompression and a map, not a copy on disk.

#include "oci/image_view.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

namespace xb::oci {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string join_path(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

struct ReadArchive {
  struct archive* a = archive_read_new();
  ~ReadArchive() { archive_read_free(a); }
};

std::string read_head_or_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string head(8, '\0');
  in.read(head.data(), 8);
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (needs_whole_file(head)) {
    in.clear();
    in.seekg(0);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (head.rfind("#!", 0) == 0) {
    std::string rest(256, '\0');
    in.read(rest.data(), 256);
    rest.resize(static_cast<std::size_t>(in.gcount()));
    return head + rest;
  }
  return head;
}

ViewNode implied_dir() {
  ViewNode n;
  n.kind = NodeKind::dir;
  n.mode = 0755;
  return n;
}

const ViewNode k_implied_dir = implied_dir();

}  // namespace

std::string view_path(std::string_view name) {
  return join_path(components(name));
}

bool needs_whole_file(std::string_view head) {
  return (head.size() >= 4 && head.substr(0, 4) == "\x7f" "ELF") || head.rfind("!<arch>\n", 0) == 0;
}

bool keeps_text(std::string_view path) {
  return path == "/etc/ld.so.conf" || path.rfind("/etc/ld.so.conf.d/", 0) == 0 || path == "/var/lib/dpkg/status" ||
         path.rfind("/var/lib/dpkg/status.d/", 0) == 0;  // the packages a base has, for the SBOM
}

std::vector<std::string> ImageView::ld_so_conf_dirs() const {
  std::vector<std::string> dirs;
  if (!stat("/etc/ld.so.cache")) return dirs;  // without a cache ld.so reads no configuration
  std::vector<std::string> files{"/etc/ld.so.conf"};
  for (std::size_t i = 0; i < files.size() && i < 64; ++i) {
    const ViewNode* n = stat(files[i]);
    if (!n) continue;
    for (const auto& raw : split(n->text, '\n')) {
      std::string line(trim(raw.substr(0, raw.find('#'))));
      if (line.rfind("include ", 0) == 0) {
        std::string pattern(trim(line.substr(8)));
        // Debian's only form: include /etc/ld.so.conf.d/*.conf
        std::string dir = pattern.substr(0, pattern.rfind('/'));
        std::string suffix = pattern.find('*') != std::string::npos ? pattern.substr(pattern.find('*') + 1) : "";
        for (auto it = m_nodes.lower_bound(dir + "/"); it != m_nodes.end() && it->first.rfind(dir + "/", 0) == 0; ++it)
          if (it->first.ends_with(suffix) && it->first.find('/', dir.size() + 1) == std::string::npos) files.push_back(it->first);
      } else if (!line.empty() && line[0] == '/') {
        dirs.push_back(line);
      }
    }
  }
  return dirs;
}

void classify(std::string_view bytes, ViewNode& node) {
  if (bytes.size() >= 4 && bytes.substr(0, 4) == "\x7f" "ELF") {
    node.elf = parse_elf(bytes);
  } else if (is_ar_archive(bytes)) {
    node.members = parse_ar(bytes);
  } else if (bytes.rfind("#!", 0) == 0) {
    std::string_view line = bytes.substr(2, bytes.find('\n') == std::string_view::npos ? std::string_view::npos : bytes.find('\n') - 2);
    auto start = line.find_first_not_of(" \t");
    if (start != std::string_view::npos) {
      auto end = line.find_first_of(" \t\r", start);
      node.shebang = std::string(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    }
  }
}

void ImageView::erase_tree(const std::string& path) {
  m_nodes.erase(path);
  std::string prefix = path == "/" ? "/" : path + "/";
  for (auto it = m_nodes.lower_bound(prefix); it != m_nodes.end() && it->first.rfind(prefix, 0) == 0;) it = m_nodes.erase(it);
}

void ImageView::put(const std::string& path, ViewNode node) {
  auto it = m_nodes.find(path);
  if (it != m_nodes.end() && it->second.kind == NodeKind::dir && node.kind != NodeKind::dir) erase_tree(path);
  m_nodes[path] = std::move(node);
}

void ImageView::add_layer(std::string_view tar_bytes, NodeOrigin origin, std::string_view what) {
  ReadArchive r;
  archive_read_support_format_tar(r.a);
  archive_read_support_filter_all(r.a);
  if (archive_read_open_memory(r.a, tar_bytes.data(), tar_bytes.size()) != ARCHIVE_OK)
    fail(Exit::usage, "cannot read {}: {}", what, archive_error_string(r.a) ? archive_error_string(r.a) : "not a tar");
  struct Pending {
    std::string path;
    ViewNode node;
    std::string hardlink;
  };
  std::vector<Pending> entries;
  std::vector<std::string> removed, opaque;
  struct archive_entry* e = nullptr;
  int rc;
  while ((rc = archive_read_next_header(r.a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
    std::string path = view_path(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    std::string base = path.substr(path.rfind('/') + 1);
    std::string parent = path.substr(0, path.rfind('/'));
    if (parent.empty()) parent = "/";
    if (base == ".wh..wh..opq") {
      opaque.push_back(parent);
      continue;
    }
    if (base.rfind(".wh.", 0) == 0) {
      removed.push_back((parent == "/" ? "" : parent) + "/" + base.substr(4));
      continue;
    }
    Pending p;
    p.path = path;
    p.node.origin = origin;
    p.node.mode = static_cast<std::uint32_t>(archive_entry_perm(e));
    if (const char* hl = archive_entry_hardlink(e)) {
      p.hardlink = view_path(hl);
      entries.push_back(std::move(p));
      continue;
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR: p.node.kind = NodeKind::dir; break;
      case AE_IFLNK:
        p.node.kind = NodeKind::symlink;
        p.node.link = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        break;
      case AE_IFREG: {
        p.node.kind = NodeKind::file;
        std::string data;
        char buf[65536];
        bool whole = false;
        for (;;) {
          la_ssize_t n = archive_read_data(r.a, buf, sizeof buf);
          if (n < 0) fail(Exit::usage, "reading {} ({}): {}", what, path, archive_error_string(r.a));
          if (n == 0) break;
          if (data.empty()) whole = needs_whole_file(std::string_view(buf, static_cast<std::size_t>(n)));
          data.append(buf, static_cast<std::size_t>(n));
          if (!whole) break;  // the first block tells a #! line; the rest is skipped
        }
        if (keeps_text(path)) {
          for (la_ssize_t n; (n = archive_read_data(r.a, buf, sizeof buf)) > 0;) data.append(buf, static_cast<std::size_t>(n));
          p.node.text = data;
        }
        classify(data, p.node);
        break;
      }
      default: p.node.kind = NodeKind::other; break;
    }
    entries.push_back(std::move(p));
  }
  if (rc != ARCHIVE_EOF) fail(Exit::usage, "cannot read {}: {}", what, archive_error_string(r.a) ? archive_error_string(r.a) : "broken tar");
  for (const auto& d : opaque) {
    std::string prefix = d == "/" ? "/" : d + "/";
    for (auto it = m_nodes.lower_bound(prefix); it != m_nodes.end() && it->first.rfind(prefix, 0) == 0;) it = m_nodes.erase(it);
  }
  for (const auto& p : removed) erase_tree(p);
  for (auto& p : entries) {
    if (!p.hardlink.empty()) {
      auto it = m_nodes.find(p.hardlink);
      if (it == m_nodes.end()) continue;
      ViewNode copy = it->second;
      copy.origin = origin;
      put(p.path, std::move(copy));
      continue;
    }
    if (p.node.kind == NodeKind::dir) {
      auto it = m_nodes.find(p.path);
      if (it != m_nodes.end() && it->second.kind == NodeKind::dir) {
        it->second.mode = p.node.mode;
        continue;
      }
    }
    put(p.path, std::move(p.node));
  }
}

void ImageView::add_files(const std::vector<LayerFile>& files, NodeOrigin origin) {
  auto add_one = [&](const fs::path& src, const std::string& dest) {
    struct stat st {};
    if (::lstat(src.c_str(), &st) != 0) return;
    ViewNode n;
    n.origin = origin;
    if (S_ISDIR(st.st_mode)) {
      n.kind = NodeKind::dir;
      n.mode = 0755;
    } else if (S_ISLNK(st.st_mode)) {
      n.kind = NodeKind::symlink;
      n.link = fs::read_symlink(src).string();
      n.mode = 0777;
    } else if (S_ISREG(st.st_mode)) {
      n.mode = (st.st_mode & 0111) ? 0755 : 0644;  // what the layer writer stores
      classify(read_head_or_all(src), n);
      if (keeps_text(dest)) {
        std::ifstream in(src, std::ios::binary);
        n.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
    } else {
      n.kind = NodeKind::other;
    }
    put(dest, std::move(n));
  };
  for (const auto& f : files) {
    std::string dest = view_path(f.dest);
    add_one(f.source, dest);
    std::error_code ec;
    if (!fs::is_directory(fs::symlink_status(f.source, ec))) continue;
    for (auto it = fs::recursive_directory_iterator(f.source, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      add_one(it->path(), view_path(dest + "/" + it->path().lexically_relative(f.source).generic_string()));
    }
  }
}

const ViewNode* ImageView::lstat(const std::string& path) const {
  auto it = m_nodes.find(view_path(path));
  return it == m_nodes.end() ? nullptr : &it->second;
}

std::optional<std::string> ImageView::resolve(const std::string& path) const {
  std::vector<std::string> todo = components(path);
  std::reverse(todo.begin(), todo.end());
  std::vector<std::string> done;
  int links = 0;
  while (!todo.empty()) {
    std::string c = todo.back();
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    done.push_back(c);
    std::string cand = join_path(done);
    auto it = m_nodes.find(cand);
    if (it == m_nodes.end()) {
      // A directory a tar never listed still exists when something lies below it.
      auto below = m_nodes.lower_bound(cand + "/");
      if (below == m_nodes.end() || below->first.rfind(cand + "/", 0) != 0) return std::nullopt;
      continue;
    }
    if (it->second.kind == NodeKind::symlink) {
      if (++links > 40) return std::nullopt;
      done.pop_back();
      const std::string& target = it->second.link;
      if (!target.empty() && target[0] == '/') done.clear();
      auto parts = components(target);
      for (auto p = parts.rbegin(); p != parts.rend(); ++p) todo.push_back(*p);
      continue;
    }
    if (it->second.kind != NodeKind::dir && !todo.empty()) return std::nullopt;
  }
  return join_path(done);
}

const ViewNode* ImageView::stat(const std::string& path) const {
  auto r = resolve(path);
  if (!r) return nullptr;
  if (*r == "/") return &k_implied_dir;
  auto it = m_nodes.find(*r);
  return it == m_nodes.end() ? &k_implied_dir : &it->second;
}

std::string ImageView::placement(const std::string& path) const {
  auto parts = components(path);
  if (parts.empty()) return "/";
  std::string name = parts.back();
  parts.pop_back();
  for (std::size_t k = parts.size() + 1; k-- > 0;) {
    std::vector<std::string> prefix(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(k));
    auto r = resolve(join_path(prefix));
    if (!r) continue;
    std::string out = *r == "/" ? "" : *r;
    for (std::size_t i = k; i < parts.size(); ++i) out += "/" + parts[i];
    return out + "/" + name;
  }
  return view_path(path);
}

}  // namespace xb::oci
