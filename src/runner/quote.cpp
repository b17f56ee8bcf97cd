// Single quotes are the only shell quoting with no special characters inside, so sh_quote
// uses them for every word, even plain ones: one rule, no list of "safe" characters to get
// wrong. A quote inside ends the quoted part, adds an escaped quote and reopens: '\''.

#include "runner/quote.hpp"

namespace xb::runner {

std::string sh_quote(std::string_view word) {
  std::string out;
  out.reserve(word.size() + 2);
  out += '\'';
  for (char c : word) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  out += '\'';
  return out;
}

std::string sh_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += sh_quote(a);
  }
  return out;
}

std::string rsync_quote(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "''";
    else out += c;
  }
  return out + "'";
}

}  // namespace xb::runner
