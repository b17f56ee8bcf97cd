// Snapshots are refreshed by comparing size and mtime, as rsync does by default: cheap enough
// to run before every build, and exact for the common edits. The list of files a snapshot got
// from the source is kept beside it, so a file deleted from the source goes from the snapshot
// too while the build's own files (objects, libraries) stay for the next incremental build.

#include "pipeline/source.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

namespace fs = std::filesystem;

namespace xb {

namespace {

/// Calls `fn(relative path, entry)` for every entry of the tree, skipping the excluded parts.
template <class Fn>
void walk(const fs::path& root, const fs::path& exclude, Fn&& fn) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) fail(Exit::build_failed, "cannot read the source tree {}: {}", root.string(), ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(Exit::build_failed, "cannot read the source tree {}: {}", root.string(), ec.message());
    const fs::path& p = it->path();
    fs::path rel = p.lexically_relative(root);
    bool skip = (it.depth() == 0 && (rel == ".git" || rel == ".xbuild")) || (!exclude.empty() && p == exclude);
    if (skip) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    fn(rel, *it);
  }
}

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

/// Copies a regular file: a reflink where the filesystem can, else copy_file_range, else
/// read/write. The copy replaces whatever is at `to` and gets the source's mode and mtime.
void copy_regular(const fs::path& from, const fs::path& to, const struct stat& st) {
  auto bad = [&](const char* what) {
    fail(Exit::build_failed, "cannot copy {} into the platform's source snapshot ({}): {}", from.string(), what,
         std::strerror(errno));
  };
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) bad("open");
  ::unlink(to.c_str());  // never write through a link or into a file a build still has open
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    ::close(in);
    bad("create");
  }
  bool done = ::ioctl(out, FICLONE, in) == 0;
  while (!done) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 20, 0);
    if (n == 0) done = true;
    else if (n < 0 && errno != EINTR) break;
  }
  if (!done) {
    // copy_file_range is refused across some filesystems: plain reads and writes.
    if (::ftruncate(out, 0) != 0 || ::lseek(in, 0, SEEK_SET) != 0 || ::lseek(out, 0, SEEK_SET) != 0) bad("rewind");
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(in, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) bad("read");
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(out, buf + off, static_cast<std::size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) bad("write");
        off += w;
      }
    }
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::fchmod(out, st.st_mode & 07777) != 0 || ::futimens(out, times) != 0) bad("set mode");
  ::close(in);
  if (::close(out) != 0) bad("close");
}

fs::path manifest_of(const fs::path& dest) { return dest.parent_path() / (dest.filename().string() + ".files"); }

}  // namespace

SnapshotStats refresh_snapshot(const fs::path& src, const fs::path& dest, const fs::path& exclude) {
  SnapshotStats stats;
  fs::create_directories(dest);
  std::set<std::string> previous;
  std::error_code ec;
  if (fs::exists(manifest_of(dest), ec))
    for (const auto& line : split(read_file(manifest_of(dest)), '\n'))
      if (!line.empty()) previous.insert(line);

  std::set<std::string> now;
  walk(src, exclude, [&](const fs::path& rel, const fs::directory_entry& e) {
    fs::path to = dest / rel;
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0) return;  // vanished while we looked
    if (S_ISDIR(st.st_mode)) {
      struct stat dst {};
      if (::lstat(to.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode)) {
        fs::remove_all(to, ec);
        fs::create_directories(to);
      }
      return;
    }
    now.insert(rel.string());
    struct stat dst {};
    bool have = ::lstat(to.c_str(), &dst) == 0;
    if (S_ISLNK(st.st_mode)) {
      fs::path target = fs::read_symlink(e.path());
      if (have && S_ISLNK(dst.st_mode) && fs::read_symlink(to, ec) == target) {
        ++stats.unchanged;
        return;
      }
      if (have) fs::remove_all(to, ec);
      fs::create_symlink(target, to);
      ++stats.copied;
      return;
    }
    if (!S_ISREG(st.st_mode)) return;  // sockets, fifos, devices: not source
    if (have && S_ISREG(dst.st_mode) && dst.st_size == st.st_size && mtime_ns(dst) == mtime_ns(st) &&
        (dst.st_mode & 07777) == (st.st_mode & 07777)) {
      ++stats.unchanged;
      return;
    }
    if (have && S_ISDIR(dst.st_mode)) fs::remove_all(to, ec);
    copy_regular(e.path(), to, st);
    ++stats.copied;
  });

  for (const auto& rel : previous) {
    if (now.count(rel)) continue;
    if (fs::remove(dest / rel, ec)) ++stats.removed;
  }
  std::string list;
  for (const auto& rel : now) list += rel + "\n";
  write_file_if_changed(manifest_of(dest), list);
  return stats;
}

TreeState scan_tree(const fs::path& root, const fs::path& exclude) {
  TreeState state;
  walk(root, exclude, [&](const fs::path& rel, const fs::directory_entry& e) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return;
    state[rel.string()] = {static_cast<std::uintmax_t>(st.st_size), mtime_ns(st)};
  });
  return state;
}

std::vector<std::string> changed_files(const TreeState& before, const TreeState& after) {
  std::vector<std::string> out;
  for (const auto& [path, st] : after) {
    auto it = before.find(path);
    if (it == before.end() || it->second != st) out.push_back(path);
  }
  return out;
}

std::string shared_source_warning(const Project& project, const std::vector<std::string>& changed) {
  std::vector<std::string> some(changed.begin(), changed.begin() + std::min<std::size_t>(changed.size(), 5));
  return fmt::format(
      "the build wrote into the shared source tree {} ({}{}): platforms that build at the same time can "
      "corrupt each other's files there. Set `source = \"copy\"` in {} so each platform builds in its own "
      "snapshot, or build out of tree ({{build}}, {{out}})",
      project.dir.string(), join(some, ", "), changed.size() > some.size() ? fmt::format(" and {} more", changed.size() - some.size()) : "",
      project.file.string());
}

}  // namespace xb
