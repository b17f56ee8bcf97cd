#pragma once
// Layer compression behind one interface, driving zlib and libzstd directly (libarchive's
// own filters are single-threaded). Output depends only on the input bytes and the fixed
// level, never on the machine or the number of threads:
//  - gzip: the header carries no name and mtime 0 (like `gzip -n`), level 6. The input is
//    cut into fixed 512 KiB blocks deflated in parallel, each primed with the previous
//    32 KiB as dictionary and ended with a sync flush (pigz's scheme), so the stream is one
//    ordinary gzip member and every gzip reader accepts it.
//  - zstd: level 3 with a content checksum (like the zstd CLI), two worker threads (a
//    fixed number, so the framing never depends on the machine).

#include "config/image_section.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

namespace xb::oci {

/// How layers are compressed (defined with the [image] section, config/image_section.hpp).
using xb::Compression;

/// Parses "gzip" | "zstd" | "none" (also "uncompressed"); throws Error (Exit::usage) naming `what`.
Compression parse_compression(std::string_view text, std::string_view what);
/// "gzip", "zstd", "none".
std::string_view to_string(Compression c);
/// The OCI layer media type for `c`.
std::string_view layer_media_type(Compression c);
/// The zlib and libzstd versions in use ("zlib 1.2.13 zstd 1.5.4"): a new library may
/// compress the same bytes differently, so a kept layer is only reused under the same ones.
std::string compressor_versions();

inline constexpr int k_gzip_level = 6;
inline constexpr int k_zstd_level = 3;

/// Receives compressed bytes, in order.
using ByteSink = std::function<void(const char* data, std::size_t size)>;

/// A streaming compressor.
class Compressor {
public:
  virtual ~Compressor() = default;
  /// Feeds uncompressed bytes.
  virtual void write(const char* data, std::size_t size) = 0;
  /// Flushes everything to the sink; call once, at the end.
  virtual void finish() = 0;
  /// A compressor for `c` writing to `sink`; `threads` bounds gzip's parallel blocks
  /// (0 = number of CPUs). The output does not depend on `threads`.
  static std::unique_ptr<Compressor> make(Compression c, ByteSink sink, unsigned threads = 0);
};

}  // namespace xb::oci
