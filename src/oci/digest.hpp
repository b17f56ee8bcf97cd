#pragma once
// An OCI content digest, "sha256:<64 hex>". Parsed and printed here only, so the rest of
// the OCI code never splits strings on ':' or checks hex by hand. Only sha256 is written;
// parsing accepts sha512 too so a foreign layout is reported precisely, not misread.

#include <filesystem>
#include <string>
#include <string_view>

namespace xb::oci {

/// A validated "algorithm:hex" content digest.
class Digest {
public:
  Digest() = default;
  /// Parses "sha256:<64 lowercase hex>" (or sha512:<128>); throws Error (Exit::usage) naming the text.
  static Digest parse(std::string_view text);
  /// True when `text` parses.
  static bool valid(std::string_view text);
  /// The sha256 digest of `bytes`.
  static Digest of(std::string_view bytes);
  /// A sha256 digest from 64 hex digits (as Sha256::hex() returns).
  static Digest from_sha256_hex(std::string hex);

  /// "sha256".
  const std::string& algorithm() const { return m_algorithm; }
  /// The hex part.
  const std::string& hex() const { return m_hex; }
  /// "sha256:<hex>".
  std::string str() const { return m_algorithm + ":" + m_hex; }
  /// The first 12 hex digits, for display.
  std::string short_hex() const { return m_hex.substr(0, 12); }
  /// blobs/<algorithm>/<hex>, relative to a layout root.
  std::filesystem::path blob_path() const { return std::filesystem::path("blobs") / m_algorithm / m_hex; }
  /// True for a default-constructed Digest.
  bool empty() const { return m_hex.empty(); }

  bool operator==(const Digest&) const = default;
  auto operator<=>(const Digest&) const = default;

private:
  std::string m_algorithm;
  std::string m_hex;
};

}  // namespace xb::oci
