#pragma once
// Small file helpers. Writes that others may read are atomic: temp file, fsync, rename.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace xb {

/// Reads a whole file; throws Error naming the file.
std::string read_file(const std::filesystem::path& path);
/// Reads a whole file; nullopt when it cannot be opened (absent, unreadable): for optional
/// inputs such as a binfmt_misc entry or a dpkg status file.
std::optional<std::string> read_file_if_readable(const std::filesystem::path& path);
/// Writes bytes to a TempFile beside `path`, fsyncs it and renames it over `path` (0644);
/// throws Error naming the file. Readers see the old or the new content, never a part.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);
/// write_file_atomic unless `path` already holds exactly `data` (then nothing is written,
/// and no fsync is paid: what every build rewrites the same goes untouched on a no-op).
/// Returns whether it wrote.
bool write_file_if_changed(const std::filesystem::path& path, std::string_view data);

}  // namespace xb
