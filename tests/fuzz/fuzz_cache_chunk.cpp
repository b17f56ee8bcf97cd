// A compiler-cache chunk from a registry or a directory nobody vouches for (--cache-from),
// unpacked as the import does, and the same bytes read as a cache manifest. Unpacking must end
// in an xb::Error or files, never a crash; whatever it wrote is plain files and directories
// under the cache dir (no symlink, device or fifo, nothing beside it).

#include "fuzz_support.hpp"
#include "oci/cache_pack.hpp"

#include <filesystem>
#include <system_error>

using namespace xb;
namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = fuzz::as_text(data, size);
  fuzz::accepts([&] { (void)oci::parse_cache_manifest(bytes, "fuzz manifest"); });

  const fs::path blob = fuzz::write_scratch("chunk.tar.gz", bytes);
  const fs::path area = fuzz::scratch_dir() / "area";
  const fs::path cache = area / "cache";
  std::error_code ec;
  fs::remove_all(area, ec);
  fs::create_directories(area, ec);
  fuzz::accepts([&] { oci::unpack_cache_chunk(blob, cache, "fuzz chunk"); });

  for (fs::directory_iterator it(area, ec), end; !ec && it != end; it.increment(ec))
    fuzz::expect(it->path() == cache, "nothing is written beside the cache dir", it->path().string());
  for (fs::recursive_directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec)) {
    auto st = it->symlink_status(ec);
    fuzz::expect(fs::is_regular_file(st) || fs::is_directory(st), "only plain files and directories are unpacked",
                 it->path().string());
  }
  return 0;
}
