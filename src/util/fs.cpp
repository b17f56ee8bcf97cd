#include "util/fs.hpp"

#include "util/error.hpp"
#include "util/temp.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace xb {

std::optional<std::string> read_file_if_readable(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_file(const std::filesystem::path& path) {
  auto text = read_file_if_readable(path);
  if (!text) fail(Exit::build_failed, "cannot read {}: {}", path.string(), std::strerror(errno));
  return std::move(*text);
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  TempFile tmp = TempFile::beside(path);
  tmp.write(data);
  tmp.commit(path);
}

bool write_file_if_changed(const std::filesystem::path& path, std::string_view data) {
  if (read_file_if_readable(path) == data) return false;
  write_file_atomic(path, data);
  return true;
}

}  // namespace xb
