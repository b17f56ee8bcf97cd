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
/// Quotes an argv element for display (not for a shell to run).
std::string shell_quote(std::string_view arg);

}  // namespace xb
