#include "util/fs.hpp"

#include "util/error.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace xb {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Exit::build_failed, "cannot read {}: {}", path.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::filesystem::path> find_program(const std::string& name, std::string_view path_list) {
  std::error_code ec;
  auto usable = [&](const std::filesystem::path& p) {
    return ::access(p.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(p, ec);
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (usable(name)) return std::filesystem::path(name);
    return std::nullopt;
  }
  while (true) {
    auto colon = path_list.find(':');
    std::string_view dir = path_list.substr(0, colon);
    std::filesystem::path cand = std::filesystem::path(dir.empty() ? "." : std::string(dir)) / name;
    if (usable(cand)) return cand;
    if (colon == std::string_view::npos) return std::nullopt;
    path_list.remove_prefix(colon + 1);
  }
}

std::filesystem::path temp_path_beside(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  auto name = fmt::format(".{}.tmp-{}-{}", path.filename().string(), ::getpid(), counter++);
  return path.parent_path() / name;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  auto tmp = temp_path_beside(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(Exit::build_failed, "cannot write {}: {}", tmp.string(), std::strerror(errno));
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(Exit::build_failed, "cannot write {}: {}", tmp.string(), std::strerror(e));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail(Exit::build_failed, "cannot rename {} to {}: {}", tmp.string(), path.string(), std::strerror(e));
  }
}

}  // namespace xb
