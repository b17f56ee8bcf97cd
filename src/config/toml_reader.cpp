#include "config/toml_reader.hpp"

#include "util/strings.hpp"

#include <algorithm>

namespace xb::config {

toml::table parse_toml_file(const std::filesystem::path& file) {
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    const auto& pos = e.source().begin;
    fail(Exit::usage, "{}:{}:{}: invalid TOML: {}", file.string(), pos.line, pos.column, e.description());
  }
}

TableReader::TableReader(const toml::table& table, std::filesystem::path file, std::string prefix)
  : m_table(table), m_file(std::move(file)), m_prefix(std::move(prefix)) {}

std::string TableReader::where(const toml::node& node) const {
  const auto& pos = node.source().begin;
  return fmt::format("{}:{}:{}", m_file.string(), pos.line, pos.column);
}

std::string TableReader::full_key(const std::string& key) const {
  return m_prefix.empty() ? key : m_prefix + "." + key;
}

void TableReader::error_at(const toml::node& node, const std::string& message) const {
  throw Error(fmt::format("{}: {}", where(node), message), Exit::usage);
}

const toml::node* TableReader::node(const std::string& key) {
  m_used.insert(key);
  return m_table.get(key);
}

std::optional<std::string> TableReader::string(const std::string& key) {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  if (auto v = n->value<std::string>(); v && n->is_string()) return *v;
  error_at(*n, fmt::format("'{}' must be a string", full_key(key)));
}

std::optional<long long> TableReader::integer(const std::string& key) {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  if (n->is_integer()) return n->value<long long>();
  error_at(*n, fmt::format("'{}' must be an integer", full_key(key)));
}

std::optional<bool> TableReader::boolean(const std::string& key) {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  if (n->is_boolean()) return n->value<bool>();
  error_at(*n, fmt::format("'{}' must be true or false", full_key(key)));
}

std::optional<std::vector<std::string>> TableReader::strings(const std::string& key, bool allow_single) {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  if (allow_single && n->is_string()) return std::vector<std::string>{*n->value<std::string>()};
  const toml::array* arr = n->as_array();
  if (!arr) error_at(*n, fmt::format("'{}' must be an array of strings", full_key(key)));
  std::vector<std::string> out;
  for (const auto& el : *arr) {
    if (!el.is_string()) error_at(el, fmt::format("'{}' must be an array of strings; this element is not a string", full_key(key)));
    out.push_back(*el.value<std::string>());
  }
  return out;
}

std::optional<std::map<std::string, std::string>> TableReader::string_map(const std::string& key) {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  const toml::table* t = n->as_table();
  if (!t) error_at(*n, fmt::format("'{}' must be a table of strings", full_key(key)));
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : *t) {
    if (!v.is_string()) error_at(v, fmt::format("'{}.{}' must be a string", full_key(key), k.str()));
    out.emplace(std::string(k.str()), *v.value<std::string>());
  }
  return out;
}

const toml::table* TableReader::table(const std::string& key) {
  const toml::node* n = node(key);
  if (!n) return nullptr;
  if (auto t = n->as_table()) return t;
  error_at(*n, fmt::format("'{}' must be a table ([{}])", full_key(key), full_key(key)));
}

std::vector<const toml::table*> TableReader::tables(const std::string& key) {
  const toml::node* n = node(key);
  std::vector<const toml::table*> out;
  if (!n) return out;
  const toml::array* arr = n->as_array();
  if (!arr) error_at(*n, fmt::format("'{}' must be an array of tables ([[{}]])", full_key(key), full_key(key)));
  for (const auto& el : *arr) {
    if (!el.is_table()) error_at(el, fmt::format("'{}' entries must be tables", full_key(key)));
    out.push_back(el.as_table());
  }
  return out;
}

void TableReader::reject_unknown(const std::vector<std::string>& known) const {
  std::set<std::string> all(m_used);
  all.insert(known.begin(), known.end());
  for (const auto& [k, v] : m_table) {
    std::string key(k.str());
    if (all.count(key)) continue;
    std::vector<std::string> names(all.begin(), all.end());
    const auto& pos = k.source().begin;
    std::string guess = closest_name(key, names);
    std::string hint = guess.empty() ? fmt::format("expected one of: {}", join(names, ", "))
                                     : fmt::format("did you mean '{}'? (expected one of: {})", full_key(guess), join(names, ", "));
    fail(Exit::usage, "{}:{}:{}: unknown key '{}'; {}", m_file.string(), pos.line, pos.column, full_key(key), hint);
  }
}

}  // namespace xb::config
