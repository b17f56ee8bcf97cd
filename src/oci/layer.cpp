// Collect, sort, then stream: the file list is gathered and checked first (so a missing
// output fails before any byte is written), then libarchive writes the tar through a
// callback that hashes the uncompressed bytes (diff_id) and feeds the compressor, whose
// sink hands the compressed bytes to a writer thread that hashes them (digest) and writes
// the file. No file is read twice and nothing is re-read to compute a digest. Nothing is
// thrown through libarchive's C callback: a sink's failure (ENOSPC from the writer thread)
// is stored and rethrown by check() once libarchive has returned.

#include "oci/layer.hpp"

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <exception>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstring>
#include <map>

namespace xb::oci {

namespace fs = std::filesystem;

std::string normalize_image_path(std::string_view path, std::string_view what) {
  if (path.empty() || path.front() != '/')
    fail(Exit::usage, "{}: image path '{}' must be absolute (start with /)", what, path);
  std::string out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..")
      fail(Exit::usage, "{}: image path '{}' contains '..'; paths must stay inside the image rootfs", what, path);
    if (part == ".") fail(Exit::usage, "{}: image path '{}' contains '.'; write it without", what, path);
    if (!part.empty()) {
      out += '/';
      out += part;
    }
    i = j;
  }
  return out.empty() ? "/" : out;
}

namespace {

enum class Kind { dir, file, symlink };

struct Entry {
  Kind kind = Kind::file;
  fs::path source;       ///< empty for implied parent directories
  std::string link;      ///< symlink target
  std::int64_t size = 0;
  bool exec = false;
};

using EntryMap = std::map<std::string, Entry>;  // tar path (no leading '/') -> entry

void add_entry(EntryMap& m, const std::string& path, Entry e, const fs::path& from) {
  auto [it, inserted] = m.emplace(path, e);
  if (inserted) return;
  if (it->second.kind == Kind::dir && e.kind == Kind::dir) {
    if (it->second.source.empty()) it->second = e;
    return;
  }
  fail(Exit::usage, "image path '/{}' is given twice (second time from {})", path, from.string());
}

void add_parents(EntryMap& m, const std::string& path) {
  for (std::size_t p = path.find('/'); p != std::string::npos; p = path.find('/', p + 1))
    m.emplace(path.substr(0, p), Entry{Kind::dir, {}, {}, 0, true});
}

Entry stat_entry(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT)
      fail(Exit::build_failed, "output '{}' does not exist: the build did not produce it (check [image] files / outputs in xbuild.toml)", p.string());
    fail(Exit::build_failed, "cannot read output '{}': {}", p.string(), std::strerror(errno));
  }
  Entry e;
  e.source = p;
  if (S_ISDIR(st.st_mode)) {
    e.kind = Kind::dir;
  } else if (S_ISREG(st.st_mode)) {
    e.kind = Kind::file;
    e.size = st.st_size;
    e.exec = (st.st_mode & 0111) != 0;
  } else if (S_ISLNK(st.st_mode)) {
    e.kind = Kind::symlink;
    e.link = fs::read_symlink(p).string();
  } else {
    fail(Exit::build_failed, "output '{}' is not a file, directory or symlink", p.string());
  }
  return e;
}

EntryMap collect(const std::vector<LayerFile>& files) {
  EntryMap m;
  for (const auto& f : files) {
    std::string dest = normalize_image_path(f.dest, f.source.string()).substr(1);  // drop leading '/'
    Entry top = stat_entry(f.source);
    if (dest.empty() && top.kind != Kind::dir)
      fail(Exit::usage, "{}: only a directory can be placed at '/'", f.source.string());
    if (!dest.empty()) {
      add_parents(m, dest);
      add_entry(m, dest, top, f.source);
    }
    if (top.kind != Kind::dir) continue;
    std::vector<fs::path> children;
    for (auto it = fs::recursive_directory_iterator(f.source); it != fs::recursive_directory_iterator(); ++it)
      children.push_back(it->path());
    for (const auto& c : children) {
      std::string rel = c.lexically_relative(f.source).generic_string();
      std::string path = dest.empty() ? rel : dest + "/" + rel;
      add_entry(m, path, stat_entry(c), c);
    }
  }
  return m;
}

/// libarchive converts names through the calling thread's locale (a non-UTF-8 locale turns
/// "ü" into a hdrcharset=BINARY pax record). Pinning this thread to C.UTF-8 (built into
/// glibc) while writing keeps the tar the same whatever locale the user runs in.
class ThreadLocale {
public:
  ThreadLocale() {
    m_loc = ::newlocale(LC_ALL_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (m_loc) m_old = ::uselocale(m_loc);
  }
  ~ThreadLocale() {
    if (!m_loc) return;
    ::uselocale(m_old);
    ::freelocale(m_loc);
  }
  ThreadLocale(const ThreadLocale&) = delete;
  ThreadLocale& operator=(const ThreadLocale&) = delete;

private:
  locale_t m_loc = nullptr;
  locale_t m_old = nullptr;
};

struct Sinks {
  Sha256 tar_hash;
  std::int64_t tar_size = 0;
  Compressor* compressor = nullptr;
  std::exception_ptr failure;  ///< what the sink threw; rethrown once libarchive has returned
};

/// libarchive's write callback. It is called from C, so nothing may be thrown through it
/// (that is std::terminate): a failure (a full disk, a signal) is stored, libarchive is told
/// -1, and check() rethrows the stored exception after the C call has returned.
la_ssize_t on_write(struct archive* a, void* ctx, const void* buf, size_t n) noexcept {
  auto* s = static_cast<Sinks*>(ctx);
  if (s->failure) return -1;
  try {
    s->tar_hash.update(buf, n);
    s->tar_size += static_cast<std::int64_t>(n);
    s->compressor->write(static_cast<const char*>(buf), n);
  } catch (...) {
    s->failure = std::current_exception();
    archive_set_error(a, EIO, "the layer's output failed");
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

/// Throws what the write callback stored, else an Error for a failed libarchive call.
void check(struct archive* a, const Sinks& sinks, int rc, std::string_view what) {
  if (sinks.failure) std::rethrow_exception(sinks.failure);
  if (rc < ARCHIVE_WARN) fail(Exit::build_failed, "writing layer tar ({}): {}", what, archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

/// The compressed stream's last stage, on its own thread: hash (the blob digest) and write.
/// Page-cache writeback can stall a writer for a while; doing it here keeps the tar and
/// the compressor running meanwhile, as the two processes of `tar | gzip` overlap.
class BackgroundFile {
public:
  static constexpr std::size_t k_chunk = 1 << 20;
  static constexpr std::size_t k_max_queued = 16;

  explicit BackgroundFile(const fs::path& p) : m_path(p) {
    m_fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m_fd < 0) fail(Exit::environment, "cannot write '{}': {}", p.string(), std::strerror(errno));
    m_buffer.reserve(k_chunk);
    m_thread = std::thread([this] { run(); });
  }
  ~BackgroundFile() {
    stop();
    if (m_fd >= 0) ::close(m_fd);
  }
  BackgroundFile(const BackgroundFile&) = delete;
  BackgroundFile& operator=(const BackgroundFile&) = delete;

  void write(const char* d, std::size_t n) {
    m_size += static_cast<std::int64_t>(n);
    m_buffer.append(d, n);
    if (m_buffer.size() >= k_chunk) push();
  }
  /// Flushes, waits for the writer, and returns the hex sha256 of everything written.
  std::string close() {
    push();
    stop();
    if (m_failed) fail(Exit::environment, "cannot write '{}': {}", m_path.string(), m_error);
    int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) fail(Exit::environment, "cannot write '{}': {}", m_path.string(), std::strerror(errno));
    return m_hash.hex();
  }
  std::int64_t size() const { return m_size; }

private:
  void push() {
    if (m_buffer.empty()) return;
    std::unique_lock lock(m_mutex);
    m_space.wait(lock, [&] { return m_queue.size() < k_max_queued || m_failed; });
    if (m_failed) {
      lock.unlock();
      fail(Exit::environment, "cannot write '{}': {}", m_path.string(), m_error);
    }
    m_queue.push_back(std::move(m_buffer));
    m_buffer = std::string();
    m_buffer.reserve(k_chunk);
    m_data.notify_one();
  }

  void stop() {
    {
      std::lock_guard lock(m_mutex);
      m_done = true;
    }
    m_data.notify_one();
    if (m_thread.joinable()) m_thread.join();
  }

  void run() {
    for (;;) {
      std::string chunk;
      {
        std::unique_lock lock(m_mutex);
        m_data.wait(lock, [&] { return !m_queue.empty() || m_done; });
        if (m_queue.empty()) return;
        chunk = std::move(m_queue.front());
        m_queue.pop_front();
      }
      m_space.notify_one();
      if (m_failed) continue;
      m_hash.update(chunk);
      const char* p = chunk.data();
      std::size_t left = chunk.size();
      while (left > 0) {
        ssize_t n = ::write(m_fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          std::lock_guard lock(m_mutex);
          m_error = std::strerror(errno);
          m_failed = true;
          m_space.notify_all();
          break;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    }
  }

  fs::path m_path;
  int m_fd = -1;
  std::string m_buffer;
  std::int64_t m_size = 0;
  Sha256 m_hash;
  std::mutex m_mutex;
  std::condition_variable m_data, m_space;
  std::deque<std::string> m_queue;
  bool m_done = false;
  std::atomic<bool> m_failed{false};
  std::string m_error;
  std::thread m_thread;
};

}  // namespace

std::string layer_key(const std::vector<LayerFile>& files, Compression c, long long mtime) {
  EntryMap entries = collect(files);
  Sha256 h;
  h.update(fmt::format("xbuild layer {}\nlibarchive {}\n{}\n{}\n{}\n", k_layer_format, archive_version_string(),
                       compressor_versions(), to_string(c), mtime));
  // Lengths before names: a path may hold any byte but '\0', a newline included.
  for (const auto& [path, e] : entries) {
    switch (e.kind) {
      case Kind::dir:
        h.update(fmt::format("D {}:{}\n", path.size(), path));
        break;
      case Kind::symlink:
        h.update(fmt::format("L {}:{} {}:{}\n", path.size(), path, e.link.size(), e.link));
        break;
      case Kind::file:
        h.update(fmt::format("F {}:{} {} {} {}\n", path.size(), path, e.exec ? 755 : 644, e.size, sha256_file(e.source)));
        break;
    }
  }
  return h.hex();
}

LayerInfo write_layer(const std::vector<LayerFile>& files, Compression c, long long mtime, const fs::path& out, unsigned threads) {
  EntryMap entries = collect(files);
  ThreadLocale utf8;

  BackgroundFile file(out);
  auto compressor = Compressor::make(c, [&](const char* d, std::size_t n) { file.write(d, n); }, threads);
  Sinks sinks;
  sinks.compressor = compressor.get();

  std::unique_ptr<struct archive, ArchiveDeleter> a(archive_write_new());
  check(a.get(), sinks, archive_write_set_format_pax_restricted(a.get()), "format");
  check(a.get(), sinks, archive_write_add_filter_none(a.get()), "filter");
  // Hand the hashers and compressor 1 MiB at a time instead of one 10 KiB tar record per
  // call; the final block is padded to 10240 as usual, so the tar is unchanged.
  check(a.get(), sinks, archive_write_set_bytes_per_block(a.get(), 1024 * 1024), "block size");
  check(a.get(), sinks, archive_write_set_bytes_in_last_block(a.get(), 10240), "last block");
  check(a.get(), sinks, archive_write_open2(a.get(), &sinks, nullptr, on_write, nullptr, nullptr), "open");

  std::unique_ptr<struct archive_entry, EntryDeleter> ae(archive_entry_new());
  std::string buffer(1 << 20, '\0');
  for (const auto& [path, e] : entries) {
    if (pending_interrupt()) throw_if_interrupted(fmt::format("writing a layer ({})", out.string()));
    archive_entry_clear(ae.get());
    archive_entry_set_pathname(ae.get(), path.c_str());
    archive_entry_set_mtime(ae.get(), mtime, 0);
    archive_entry_set_uid(ae.get(), 0);
    archive_entry_set_gid(ae.get(), 0);
    switch (e.kind) {
      case Kind::dir:
        archive_entry_set_filetype(ae.get(), AE_IFDIR);
        archive_entry_set_perm(ae.get(), 0755);
        break;
      case Kind::symlink:
        archive_entry_set_filetype(ae.get(), AE_IFLNK);
        archive_entry_set_perm(ae.get(), 0777);
        archive_entry_set_symlink(ae.get(), e.link.c_str());
        break;
      case Kind::file:
        archive_entry_set_filetype(ae.get(), AE_IFREG);
        archive_entry_set_perm(ae.get(), e.exec ? 0755 : 0644);
        archive_entry_set_size(ae.get(), e.size);
        break;
    }
    check(a.get(), sinks, archive_write_header(a.get(), ae.get()), path);
    if (e.kind != Kind::file) continue;
    int fd = ::open(e.source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(Exit::build_failed, "cannot read output '{}': {}", e.source.string(), std::strerror(errno));
    std::int64_t left = e.size;
    while (left > 0) {
      if (pending_interrupt()) {  // a signal: unwind so the caller's temps remove themselves
        ::close(fd);
        throw_if_interrupted(fmt::format("writing a layer ({})", out.string()));
      }
      ssize_t n = ::read(fd, buffer.data(), static_cast<std::size_t>(std::min<std::int64_t>(left, static_cast<std::int64_t>(buffer.size()))));
      if (n <= 0) {
        ::close(fd);
        fail(Exit::build_failed, "output '{}' changed size while it was being packaged", e.source.string());
      }
      if (archive_write_data(a.get(), buffer.data(), static_cast<std::size_t>(n)) != n) {
        ::close(fd);
        check(a.get(), sinks, ARCHIVE_FATAL, path);
      }
      left -= n;
    }
    ::close(fd);
  }
  check(a.get(), sinks, archive_write_close(a.get()), "close");
  compressor->finish();
  std::string blob_hex = file.close();

  LayerInfo info;
  info.descriptor.media_type = layer_media_type(c);
  info.descriptor.digest = Digest::from_sha256_hex(std::move(blob_hex));
  info.descriptor.size = file.size();
  info.diff_id = Digest::from_sha256_hex(sinks.tar_hash.hex());
  info.tar_size = sinks.tar_size;
  info.entries = entries.size();
  return info;
}

}  // namespace xb::oci
