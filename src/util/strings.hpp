#pragma once
// Generic string helpers that know nothing of xbuild.

#include <string>
#include <string_view>
#include <vector>

namespace xb {

/// Splits on `sep`, dropping empty pieces and trimming spaces.
std::vector<std::string> split(std::string_view s, char sep);
/// Lowercase ASCII copy.
std::string to_lower(std::string_view s);
/// Uppercase ASCII copy.
std::string to_upper(std::string_view s);
/// Trims ASCII whitespace at both ends.
std::string_view trim(std::string_view s);
/// Joins with `sep`.
std::string join(const std::vector<std::string>& parts, std::string_view sep);
/// `s` with every occurrence of `from` replaced by `to` (left to right, no rescans).
std::string replace_all(std::string s, std::string_view from, std::string_view to);
/// One word for a POSIX shell, the only shell quoting in xbuild: always single-quoted
/// ('it'\''s'), so no character is special and there is no list of "safe" characters to
/// get wrong; "" becomes ''. Safe for any bytes except NUL.
std::string shell_quote(std::string_view word);
/// A shell command line that runs exactly `argv`: each element through shell_quote, joined
/// by spaces ("" for an empty argv).
std::string shell_command(const std::vector<std::string>& argv);
/// argv for people to read (logs, `xbuild plan`): words of letters, digits and -_./=:,+@%
/// as they are, every other word through shell_quote, so the line still runs as argv.
std::string shell_display(const std::vector<std::string>& argv);
/// The name in `names` closest to `word` by edits (insert, delete, replace, swap two
/// neighbours: "bulid" is one from "build"), at most a third of its letters wrong; else "".
/// For every "did you mean": commands, flags, xbuild.toml keys, placeholders.
std::string closest_name(std::string_view word, const std::vector<std::string>& names);

}  // namespace xb
