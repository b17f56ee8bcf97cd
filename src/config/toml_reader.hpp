#pragma once
// A thin typed reader over toml++ so project and toolchain files share one way of saying
// "file:line:column: key 'x' must be an array of strings". Only src/config sees toml++.

#include "util/error.hpp"

#include <toml++/toml.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace xb::config {

/// Parses a TOML file; throws Error(usage) with file:line:column on a syntax error.
toml::table parse_toml_file(const std::filesystem::path& file);

/// Reads typed values out of one table, remembering which keys were used so that unknown
/// keys (typos) are reported instead of silently ignored.
class TableReader {
public:
  TableReader(const toml::table& table, std::filesystem::path file, std::string prefix = "");

  /// A string value, or nullopt when absent.
  std::optional<std::string> string(const std::string& key);
  /// An integer value, or nullopt when absent.
  std::optional<long long> integer(const std::string& key);
  /// A boolean value, or nullopt when absent.
  std::optional<bool> boolean(const std::string& key);
  /// An array of strings (a lone string is accepted as one element when `allow_single`).
  std::optional<std::vector<std::string>> strings(const std::string& key, bool allow_single = false);
  /// A table of string values.
  std::optional<std::map<std::string, std::string>> string_map(const std::string& key);
  /// A sub-table, or nullptr when absent.
  const toml::table* table(const std::string& key);
  /// An array of tables ([[key]]), empty when absent.
  std::vector<const toml::table*> tables(const std::string& key);
  /// The raw node (marks the key used), or nullptr.
  const toml::node* node(const std::string& key);

  /// Throws for any key not read, naming file:line:column and the known keys.
  void reject_unknown(const std::vector<std::string>& known) const;
  /// Throws a usage Error positioned at `node`.
  [[noreturn]] void error_at(const toml::node& node, const std::string& message) const;
  /// "file:line:column" of a node.
  std::string where(const toml::node& node) const;
  /// The dotted name of `key` in this table.
  std::string full_key(const std::string& key) const;
  /// The file being read.
  const std::filesystem::path& file() const { return m_file; }

private:
  const toml::table& m_table;
  std::filesystem::path m_file;
  std::string m_prefix;
  std::set<std::string> m_used;
};

}  // namespace xb::config
