#pragma once
// Quoting for rsync's own splitting of its -e/--rsh option, the one string grammar besides
// the POSIX shell (whose one quoting function is xb::shell_quote in util/strings.hpp) that a
// runner build cannot avoid. Every other command stays an argv value.

#include <string>
#include <string_view>

namespace xb::runner {

/// One word for rsync's -e/--rsh splitter (not a shell): single-quoted with a doubled ''
/// for each quote inside, as rsync(1) documents.
std::string rsync_quote(std::string_view word);

}  // namespace xb::runner
