// rsync splits its -e value itself: inside single quotes a doubled quote stands for one.

#include "runner/quote.hpp"

namespace xb::runner {

std::string rsync_quote(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "''";
    else out += c;
  }
  return out + "'";
}

}  // namespace xb::runner
