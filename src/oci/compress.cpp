// zlib and libzstd stay in this file. The gzip compressor is the part that matters for
// speed: blocks are deflated by std::async tasks while the caller keeps producing tar
// bytes; results are written strictly in submission order and the CRC is combined with
// crc32_combine, so the output is identical with one thread or many.

#include "oci/compress.hpp"

#include "oci/media_types.hpp"
#include "util/error.hpp"

#include <zlib.h>
#include <zstd.h>

#include <deque>
#include <future>
#include <string>
#include <thread>

namespace xb::oci {

Compression parse_compression(std::string_view text, std::string_view what) {
  if (text == "gzip") return Compression::gzip;
  if (text == "zstd") return Compression::zstd;
  if (text == "none" || text == "uncompressed") return Compression::none;
  fail(Exit::usage, "{}: unknown compression '{}'; expected gzip, zstd or none", what, text);
}

std::string compressor_versions() { return fmt::format("zlib {} zstd {}", zlibVersion(), ZSTD_versionString()); }

std::string_view to_string(Compression c) {
  switch (c) {
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
    case Compression::none: break;
  }
  return "none";
}

std::string_view layer_media_type(Compression c) {
  switch (c) {
    case Compression::gzip: return media::k_layer_gzip;
    case Compression::zstd: return media::k_layer_zstd;
    case Compression::none: break;
  }
  return media::k_layer_tar;
}

namespace {

class PlainCompressor final : public Compressor {
public:
  explicit PlainCompressor(ByteSink sink) : m_sink(std::move(sink)) {}
  void write(const char* data, std::size_t size) override { m_sink(data, size); }
  void finish() override {}

private:
  ByteSink m_sink;
};

struct GzipBlock {
  std::string out;
  unsigned long crc = 0;
  std::size_t length = 0;
};

/// Whether a deflate block ends the stream (Z_FINISH) or is flushed for the next one.
enum class Block { middle, last };

GzipBlock deflate_block(const std::string& in, const std::string& dict, Block which) {
  z_stream z{};
  if (deflateInit2(&z, k_gzip_level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("zlib: deflateInit2 failed");
  if (!dict.empty())
    deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dict.data()), static_cast<uInt>(dict.size()));
  GzipBlock b;
  b.out.resize(deflateBound(&z, in.size()) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(b.out.data());
  z.avail_out = static_cast<uInt>(b.out.size());
  const bool last = which == Block::last;
  int rc = deflate(&z, last ? Z_FINISH : Z_SYNC_FLUSH);
  bool done = last ? rc == Z_STREAM_END : (rc == Z_OK && z.avail_in == 0 && z.avail_out > 0);
  b.out.resize(b.out.size() - z.avail_out);
  deflateEnd(&z);
  if (!done) throw Error("zlib: deflate did not complete a block");
  b.crc = crc32(0L, reinterpret_cast<const Bytef*>(in.data()), static_cast<uInt>(in.size()));
  b.length = in.size();
  return b;
}

class GzipCompressor final : public Compressor {
public:
  static constexpr std::size_t k_block = 512 * 1024;
  static constexpr std::size_t k_window = 32 * 1024;

  GzipCompressor(ByteSink sink, unsigned threads) : m_sink(std::move(sink)), m_max_pending(2 * threads) {
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3 (unix): what `gzip -n` writes.
    static const char header[10] = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, 3};
    m_sink(header, sizeof header);
    m_crc = crc32(0L, Z_NULL, 0);
    m_buffer.reserve(k_block);
  }

  ~GzipCompressor() override {
    for (auto& f : m_pending)
      if (f.valid()) f.wait();
  }

  void write(const char* data, std::size_t size) override {
    while (size > 0) {
      std::size_t n = std::min(size, k_block - m_buffer.size());
      m_buffer.append(data, n);
      data += n;
      size -= n;
      if (m_buffer.size() == k_block) submit(Block::middle);
    }
  }

  void finish() override {
    submit(Block::last);
    while (!m_pending.empty()) drain_one();
    unsigned char trailer[8];
    for (int i = 0; i < 4; ++i) trailer[i] = static_cast<unsigned char>(m_crc >> (8 * i));
    for (int i = 0; i < 4; ++i) trailer[4 + i] = static_cast<unsigned char>(m_total >> (8 * i));
    m_sink(reinterpret_cast<const char*>(trailer), sizeof trailer);
  }

private:
  void submit(Block which) {
    // Blocks are full except the last, so the next dictionary is this block's tail.
    std::string dict = std::move(m_dict);
    m_dict = m_buffer.size() >= k_window ? m_buffer.substr(m_buffer.size() - k_window) : m_buffer;
    std::string block;
    block.swap(m_buffer);
    m_buffer.reserve(k_block);
    m_pending.push_back(std::async(std::launch::async, [b = std::move(block), d = std::move(dict), which] {
      return deflate_block(b, d, which);
    }));
    while (m_pending.size() >= m_max_pending) drain_one();
  }

  void drain_one() {
    GzipBlock b = m_pending.front().get();
    m_pending.pop_front();
    m_sink(b.out.data(), b.out.size());
    m_crc = crc32_combine(m_crc, b.crc, static_cast<z_off_t>(b.length));
    m_total += b.length;
  }

  ByteSink m_sink;
  std::size_t m_max_pending;
  std::string m_buffer;
  std::string m_dict;
  std::deque<std::future<GzipBlock>> m_pending;
  unsigned long m_crc = 0;
  std::uint64_t m_total = 0;
};

class ZstdCompressor final : public Compressor {
public:
  explicit ZstdCompressor(ByteSink sink) : m_sink(std::move(sink)), m_ctx(ZSTD_createCCtx()) {
    if (!m_ctx) throw Error("zstd: cannot create a compression context");
    ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_compressionLevel, k_zstd_level);
    ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_checksumFlag, 1);
    // A fixed worker count (never the machine's CPU count): zstd's multi-threaded framing
    // depends only on its parameters, so the bytes are the same everywhere, and compression
    // overlaps with reading files and building the tar.
    ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_nbWorkers, k_zstd_workers);
    m_out.resize(ZSTD_CStreamOutSize());
  }
  ~ZstdCompressor() override { ZSTD_freeCCtx(m_ctx); }

  static constexpr int k_zstd_workers = 2;

  void write(const char* data, std::size_t size) override { run(data, size, ZSTD_e_continue); }
  void finish() override { run(nullptr, 0, ZSTD_e_end); }

private:
  void run(const char* data, std::size_t size, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data, size, 0};
    for (;;) {
      ZSTD_outBuffer out{m_out.data(), m_out.size(), 0};
      std::size_t left = ZSTD_compressStream2(m_ctx, &out, &in, mode);
      if (ZSTD_isError(left)) fail(Exit::build_failed, "zstd: {}", ZSTD_getErrorName(left));
      if (out.pos > 0) m_sink(m_out.data(), out.pos);
      bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
      if (done) break;
    }
  }

  ByteSink m_sink;
  ZSTD_CCtx* m_ctx;
  std::string m_out;
};

}  // namespace

std::unique_ptr<Compressor> Compressor::make(Compression c, ByteSink sink, unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  switch (c) {
    case Compression::gzip: return std::make_unique<GzipCompressor>(std::move(sink), threads);
    case Compression::zstd: return std::make_unique<ZstdCompressor>(std::move(sink));
    case Compression::none: break;
  }
  return std::make_unique<PlainCompressor>(std::move(sink));
}

}  // namespace xb::oci
