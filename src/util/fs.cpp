#include "util/fs.hpp"

#include "util/error.hpp"
#include "util/temp.hpp"

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

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  TempFile tmp = TempFile::beside(path);
  tmp.write(data);
  tmp.commit(path);
}

}  // namespace xb
