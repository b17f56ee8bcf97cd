#pragma once
// A fresh directory per test, removed afterwards: unit tests never share files. Made by
// util's TempDirectory (mkdtemp, 0700, unguessable), so tests use what the product uses.

#include "util/temp.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace xb::test {

/// Creates $TMPDIR/xb-<tag>-<pid>.XXXXXX on construction and removes it on destruction.
struct TempDir {
  explicit TempDir(std::string_view tag = "test")
    : m_dir(TempDirectory::scratch("xb-" + std::string(tag) + "-")), path(m_dir.path()) {}
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

private:
  TempDirectory m_dir;  // declared first: `path` is initialised from it

public:
  std::filesystem::path path;  ///< the directory
};

}  // namespace xb::test
