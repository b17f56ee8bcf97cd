#pragma once
// Kubernetes YAML as a tree of our own, the one place that includes yaml-cpp. yaml-cpp's
// event parser feeds a small builder that keeps key order and every document, expands
// aliases into copies (so the rest of the code never meets an anchor) and enforces the
// bounds below while the events arrive: yaml-cpp recurses once per nesting level, so the
// builder stops it at max_depth before its stack grows, and an alias expansion ("billion
// laughs") counts every copied node against max_nodes before it is made. The tree is emitted
// back through yaml-cpp's emitter; comments and anchors are lost, values and order are kept.

#include "util/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace xb::kube::yaml {

/// The most bytes one YAML input may have.
inline constexpr std::size_t max_bytes = 16u << 20;
/// The most documents one input may hold.
inline constexpr std::size_t max_documents = 10'000;
/// The most nodes (scalars, sequences, maps; alias copies included) one input may hold.
inline constexpr std::size_t max_nodes = 1'000'000;
/// The deepest nesting of sequences and maps.
inline constexpr std::size_t max_depth = 64;

struct Entry;

/// One YAML node. Maps keep their entries in the input's order; keys are scalars.
struct Node {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  std::string value;           ///< a scalar's text
  bool plain = true;           ///< scalar written without quotes (its type is the reader's guess)
  std::string tag;             ///< an explicit tag ("" = none)
  std::vector<Node> items;     ///< a sequence's items
  std::vector<Entry> entries;  ///< a map's entries, in order
  int line = 0;                ///< 1-based line in the input (0 = made by xbuild)

  /// A plain (or, with plain = false, quoted) scalar.
  static Node scalar(std::string text, bool plain = true);
  /// An empty sequence.
  static Node sequence();
  /// An empty map.
  static Node map();

  bool is_null() const { return kind == Kind::null; }
  bool is_scalar() const { return kind == Kind::scalar; }
  bool is_sequence() const { return kind == Kind::sequence; }
  bool is_map() const { return kind == Kind::map; }

  /// The value of a map's key, or nullptr (also when this is not a map).
  const Node* find(std::string_view key) const;
  Node* find(std::string_view key);
  /// The scalar text at key, or "" when it is absent or not a scalar.
  std::string text(std::string_view key) const;
  /// Sets key to value in a map (replacing an entry in place, else appending); returns it.
  Node& set(std::string_view key, Node value);
  /// The map at key, made (appended, empty) when absent or null; nullptr when key holds
  /// something that is not a map.
  Node* map_at(std::string_view key);

  /// Same kind, text, tag, items and entries (lines and plain-ness of non-scalars ignored).
  bool operator==(const Node& other) const;
};

/// A map entry: a scalar key and its value.
struct Entry {
  Node key;
  Node value;
};

/// One document of a stream and where it starts.
struct Document {
  Node root;
  int line = 0;  ///< 1-based line of the document's first node
};

/// Parses every document of `text`. Empty documents (only comments or `---`) are dropped.
/// Errors name `source:line` and are input errors (the caller picks the exit code).
Result<std::vector<Document>> parse(std::string_view text, std::string_view source);

/// The documents as YAML, separated by `---`, in order; parse(emit(d)) == d.
std::string emit(const std::vector<Document>& documents);

}  // namespace xb::kube::yaml
