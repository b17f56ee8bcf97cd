#pragma once
// Small file helpers. Writes that others may read are atomic: temp file, fsync, rename.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace xb {

/// Reads a whole file; throws Error naming the file.
std::string read_file(const std::filesystem::path& path);
/// Writes bytes to a temp file beside `path`, then renames it over `path`.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);
/// Finds `name` the way execvp would on the colon-separated `path_list` (a name with a '/'
/// is checked as is): the first executable regular file, or nullopt.
std::optional<std::filesystem::path> find_program(const std::string& name, std::string_view path_list);
/// A unique temp path beside `path` (same directory, so rename is atomic).
std::filesystem::path temp_path_beside(const std::filesystem::path& path);

}  // namespace xb
