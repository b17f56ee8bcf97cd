// An oci-archive (a tar, maybe compressed) given to --output/base/push: ArchiveSource reads it
// from a file, so each input is written to a private scratch file, opened, its index.json
// entries read and each blob the index names read (verified against its digest) and copied.
// A hostile archive must end in an xb::Error, never a crash or an unbounded allocation
// (libFuzzer's -rss_limit_mb/-malloc_limit_mb turn an allocation over 2 GB into a crash).

#include "fuzz_support.hpp"
#include "oci/archive_source.hpp"

using namespace xb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto file = fuzz::write_scratch("archive.tar", fuzz::as_text(data, size));
  auto copy = fuzz::scratch_dir() / "blob";
  fuzz::accepts([&] {
    oci::ArchiveSource src(file);
    for (const auto& d : src.entries()) {
      fuzz::expect(d.size >= 0, "an index entry's size is not negative");
      fuzz::accepts([&] {
        std::string bytes = src.read_blob(d);
        fuzz::expect(oci::Digest::of(bytes) == d.digest || d.digest.algorithm() != "sha256",
                     "read_blob returns the bytes of the digest", d.digest.str());
      });
      std::filesystem::remove(copy);
      fuzz::accepts([&] { src.copy_blob(d, copy); });
    }
  });
  std::filesystem::remove(copy);
  return 0;
}
