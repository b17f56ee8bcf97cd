#include "kube/yaml.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <sstream>
#include <unordered_set>

namespace xb::kube::yaml {

Node Node::scalar(std::string text, bool plain) {
  Node n;
  n.kind = Kind::scalar;
  n.value = std::move(text);
  n.plain = plain;
  return n;
}

Node Node::sequence() {
  Node n;
  n.kind = Kind::sequence;
  return n;
}

Node Node::map() {
  Node n;
  n.kind = Kind::map;
  return n;
}

const Node* Node::find(std::string_view key) const {
  if (kind != Kind::map) return nullptr;
  for (const Entry& e : entries)
    if (e.key.value == key) return &e.value;
  return nullptr;
}

Node* Node::find(std::string_view key) {
  return const_cast<Node*>(static_cast<const Node*>(this)->find(key));
}

std::string Node::text(std::string_view key) const {
  const Node* v = find(key);
  return v != nullptr && v->is_scalar() ? v->value : std::string();
}

Node& Node::set(std::string_view key, Node v) {
  if (Node* old = find(key)) {
    *old = std::move(v);
    return *old;
  }
  entries.push_back({Node::scalar(std::string(key)), std::move(v)});
  return entries.back().value;
}

Node* Node::map_at(std::string_view key) {
  Node* v = find(key);
  if (v == nullptr || v->is_null()) return &set(key, Node::map());
  return v->is_map() ? v : nullptr;
}

bool Node::operator==(const Node& o) const {
  if (kind != o.kind || tag != o.tag) return false;
  switch (kind) {
    case Kind::null: return true;
    case Kind::scalar: return value == o.value && plain == o.plain;
    case Kind::sequence: return items == o.items;
    case Kind::map:
      if (entries.size() != o.entries.size()) return false;
      for (std::size_t i = 0; i < entries.size(); ++i)
        if (!(entries[i].key == o.entries[i].key) || !(entries[i].value == o.entries[i].value)) return false;
      return true;
  }
  return false;
}

namespace {

// A bound crossed or a shape we do not take: thrown out of the event handler, which unwinds
// yaml-cpp's parser (it is discarded afterwards).
struct InputError {
  int line;
  std::string message;
};

int line_of(const YAML::Mark& m) { return m.is_null() ? 0 : m.line + 1; }

// yaml-cpp reports "?" for an untagged plain node and "!" for an untagged quoted one.
std::string explicit_tag(const std::string& tag) { return tag == "?" || tag == "!" ? std::string() : tag; }

class Builder final : public YAML::EventHandler {
public:
  std::vector<Document> documents;

  void OnDocumentStart(const YAML::Mark& mark) override {
    m_root = Node();
    m_have_root = false;
    m_doc_line = line_of(mark);
    m_anchors.clear();
  }

  void OnDocumentEnd() override {
    if (!m_have_root || m_root.is_null()) return;  // an empty document: nothing to keep
    if (documents.size() >= max_documents)
      throw InputError{m_doc_line, fmt::format("more than {} documents", max_documents)};
    int line = m_root.line != 0 ? m_root.line : m_doc_line;
    documents.push_back({std::move(m_root), line});
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node n;
    n.line = line_of(mark);
    count(mark, 1);
    add(std::move(n), anchor, 1);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = m_anchors.find(anchor);
    if (it == m_anchors.end()) throw InputError{line_of(mark), "alias of an unknown anchor"};
    // The copy is what makes aliases harmless to the rest of xbuild; counting it first is
    // what keeps nested aliases from multiplying into gigabytes.
    count(mark, it->second.size);
    if (m_stack.size() + it->second.depth > max_depth)
      throw InputError{line_of(mark), fmt::format("nested more than {} levels deep (through an alias)", max_depth)};
    Node copy = it->second.node;
    copy.line = line_of(mark);
    add(std::move(copy), 0, it->second.size, it->second.depth);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, const std::string& value) override {
    count(mark, 1);
    Node n = Node::scalar(value, tag != "!");
    n.tag = explicit_tag(tag);
    n.line = line_of(mark);
    add(std::move(n), anchor, 1);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, Node::sequence(), tag, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(mark, Node::map(), tag, anchor);
  }
  void OnMapEnd() override { close(); }

private:
  struct Frame {
    Node node;
    YAML::anchor_t anchor = 0;
    std::size_t first_count = 0;  // m_count before this collection
    std::size_t depth = 1;        // levels of collections in this subtree (itself included)
    bool have_key = false;
    Node key;
    std::unordered_set<std::string> keys;
  };
  struct Anchored {
    Node node;
    std::size_t size;
    std::size_t depth;
  };

  void count(const YAML::Mark& mark, std::size_t n) {
    if (n > max_nodes - m_count) throw InputError{line_of(mark), fmt::format("more than {} nodes (aliases count as copies)", max_nodes)};
    m_count += n;
  }

  void open(const YAML::Mark& mark, Node n, const std::string& tag, YAML::anchor_t anchor) {
    if (m_stack.size() >= max_depth) throw InputError{line_of(mark), fmt::format("nested more than {} levels deep", max_depth)};
    count(mark, 1);
    n.tag = explicit_tag(tag);
    n.line = line_of(mark);
    Frame f;
    f.node = std::move(n);
    f.anchor = anchor;
    f.first_count = m_count - 1;
    m_stack.push_back(std::move(f));
  }

  void close() {
    Frame f = std::move(m_stack.back());
    m_stack.pop_back();
    if (f.have_key) throw InputError{f.key.line, "a map key without a value"};
    add(std::move(f.node), f.anchor, m_count - f.first_count, f.depth);
  }

  void add(Node n, YAML::anchor_t anchor, std::size_t size, std::size_t depth = 0) {
    if (anchor != 0) m_anchors[anchor] = Anchored{n, size, depth};
    if (m_stack.empty()) {
      m_root = std::move(n);
      m_have_root = true;
      return;
    }
    Frame& f = m_stack.back();
    f.depth = std::max(f.depth, depth + 1);
    if (f.node.is_sequence()) {
      f.node.items.push_back(std::move(n));
      return;
    }
    if (!f.have_key) {
      if (!n.is_scalar()) throw InputError{n.line, "a map key that is not a scalar (Kubernetes keys are strings)"};
      if (!f.keys.insert(n.value).second) throw InputError{n.line, fmt::format("duplicate key '{}'", n.value)};
      f.key = std::move(n);
      f.have_key = true;
      return;
    }
    f.node.entries.push_back({std::move(f.key), std::move(n)});
    f.key = Node();
    f.have_key = false;
  }

  Node m_root;
  bool m_have_root = false;
  int m_doc_line = 0;
  std::size_t m_count = 0;
  std::vector<Frame> m_stack;
  std::map<YAML::anchor_t, Anchored> m_anchors;
};

// A block literal (`|`) reads back exactly only for text that ends in one newline and whose
// first line sets the indentation; anything else is double-quoted (escapes keep it exact).
bool literal_safe(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n') return false;
  if (s.front() == ' ' || s.front() == '\t' || s.front() == '\n') return false;
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  for (std::size_t i = 0; i + 1 < s.size(); ++i)  // trailing blanks on a line are kept, but
    if (s[i + 1] == '\n' && (s[i] == ' ' || s[i] == '\t')) return false;  // some emitters eat them
  return true;
}

void emit_node(YAML::Emitter& out, const Node& n) {
  if (!n.tag.empty()) out << YAML::VerbatimTag(n.tag);
  switch (n.kind) {
    case Node::Kind::null: out << YAML::Null; return;
    case Node::Kind::scalar:
      if (!n.plain) out << (literal_safe(n.value) ? YAML::Literal : YAML::DoubleQuoted);
      out << n.value;
      return;
    case Node::Kind::sequence:
      if (n.items.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const Node& item : n.items) emit_node(out, item);
      out << YAML::EndSeq;
      return;
    case Node::Kind::map:
      if (n.entries.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const Entry& e : n.entries) {
        out << YAML::Key;
        emit_node(out, e.key);
        out << YAML::Value;
        emit_node(out, e.value);
      }
      out << YAML::EndMap;
      return;
  }
}

}  // namespace

Result<std::vector<Document>> parse(std::string_view text, std::string_view source) {
  using R = Result<std::vector<Document>>;
  if (text.size() > max_bytes)
    return R::failure(fmt::format("{}: {} bytes is more than a YAML input may have ({} MiB)", source, text.size(), max_bytes >> 20));
  std::istringstream in{std::string(text)};
  Builder builder;
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const InputError& e) {
    return R::failure(fmt::format("{}:{}: {}", source, e.line, e.message));
  } catch (const YAML::Exception& e) {
    return R::failure(fmt::format("{}:{}: not valid YAML: {}", source, line_of(e.mark), e.msg));
  }
  return std::move(builder.documents);
}

std::string emit(const std::vector<Document>& documents) {
  std::string text;
  for (const Document& d : documents) {
    YAML::Emitter out;
    out.SetIndent(2);
    emit_node(out, d.root);
    if (!out.good()) fail(Exit::build_failed, "cannot write YAML: {}", out.GetLastError());
    if (!text.empty()) text += "---\n";
    text += out.c_str();
    text += '\n';
  }
  return text;
}

}  // namespace xb::kube::yaml
