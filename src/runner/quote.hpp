#pragma once
// Quoting for the two string grammars a runner build cannot avoid: the POSIX shell that sshd
// hands the remote command line to, and rsync's own splitting of its -e/--rsh option. Every
// other command stays an argv value. Each grammar has exactly one quoting function here, so
// it is tested once, with the odd inputs (spaces, quotes, $, backslashes, newlines, empty).

#include <string>
#include <string_view>
#include <vector>

namespace xb::runner {

/// One word for a POSIX shell: always single-quoted ('it'\''s'), so no character is special;
/// the empty string becomes ''. Safe for any bytes except NUL.
std::string sh_quote(std::string_view word);
/// A shell command line that runs exactly `argv`: each element through sh_quote, joined by
/// spaces.
std::string sh_command(const std::vector<std::string>& argv);
/// One word for rsync's -e/--rsh splitter (not a shell): single-quoted with a doubled ''
/// for each quote inside, as rsync(1) documents.
std::string rsync_quote(std::string_view word);

}  // namespace xb::runner
