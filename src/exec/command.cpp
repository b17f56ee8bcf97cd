#include "exec/command.hpp"

#include "util/strings.hpp"

namespace xb {

std::string Command::display() const {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += shell_quote(a);
  }
  return out;
}

}  // namespace xb
