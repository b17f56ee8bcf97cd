#pragma once
// What every libFuzzer harness in tests/fuzz shares. A harness feeds the fuzzer's bytes to
// one parser the way xbuild does and holds it to the parser's contract: it returns a value
// or throws xb::Error (a clear message); any other exception escapes and libFuzzer reports
// it as a crash, as it does a sanitizer report. Properties (print then parse gives the same
// value, a size is never negative) are checked with expect(), which prints what was violated
// and aborts, so the fuzzer saves the input. Parsers that read a file get it in a private
// scratch directory (util's TempDirectory, removed at exit).

#include "util/error.hpp"
#include "util/temp.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace xb::fuzz {

/// The fuzzer's input as text.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Aborts (a crash libFuzzer saves) unless `ok`, printing the property and the values.
inline void expect(bool ok, std::string_view property, const std::string& detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "\nfuzz: property violated: %.*s\n  %s\n", static_cast<int>(property.size()),
               property.data(), detail.c_str());
  std::abort();
}

/// Runs `f`; an xb::Error (a rejected input, with a message) is a normal outcome, anything
/// else escapes. Returns true when `f` returned.
template <typename F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const Error&) {
    return false;
  }
}

/// One private directory per harness process, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static TempDirectory dir = TempDirectory::scratch("xbuild-fuzz-");
  return dir.path();
}

/// Writes `bytes` to scratch_dir()/`name` (replacing it) and returns the path.
inline std::filesystem::path write_scratch(const std::filesystem::path& name, std::string_view bytes) {
  auto path = scratch_dir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  expect(static_cast<bool>(out), "the scratch file is written", path.string());
  return path;
}

/// The input split at NUL bytes: an argument vector.
inline std::vector<std::string> split_nul(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto nul = text.find('\0', start);
    out.emplace_back(text.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  return out;
}

}  // namespace xb::fuzz
