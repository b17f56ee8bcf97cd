#pragma once
// A fresh directory per test, removed afterwards: unit tests never share files.

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <string_view>

namespace xb::test {

/// Creates <tmp>/xb-<tag>-<pid>-<n> on construction and removes it on destruction.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(std::string_view tag = "test") {
    static int n = 0;
    path = std::filesystem::temp_directory_path() / fmt::format("xb-{}-{}-{}", tag, ::getpid(), n++);
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace xb::test
