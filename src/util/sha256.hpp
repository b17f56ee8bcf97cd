#pragma once
// SHA-256 through OpenSSL's EVP interface; the rest of xbuild never sees OpenSSL types.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace xb {

/// Incremental SHA-256.
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  /// Feeds bytes.
  void update(const void* data, std::size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Finishes and returns 64 lowercase hex digits. The object is spent afterwards.
  std::string hex();

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// Hex SHA-256 of a string.
std::string sha256_hex(std::string_view data);
/// Hex SHA-256 of a file's bytes; throws Error naming the file on failure.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace xb
