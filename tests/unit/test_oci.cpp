// The OCI value types with the odd inputs users type, and the layer writer's determinism:
// the same files with different mtimes, owners and permission noise give the same bytes,
// and the gzip stream is the same whatever the number of threads.

#include "oci/compress.hpp"
#include "oci/descriptor.hpp"
#include "oci/digest.hpp"
#include "oci/export.hpp"
#include "oci/image.hpp"
#include "oci/layer.hpp"
#include "oci/provenance.hpp"
#include "oci/media_types.hpp"
#include "oci/sbom.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/json.hpp>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <zlib.h>

#include "temp_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <clocale>
#include <random>

namespace fs = std::filesystem;
using namespace xb;
using namespace xb::oci;

namespace {

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("oci-test") {}
};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 7 == 0 ? rng() : 'a' + (i % 13));
  return s;
}

void make_tree(const fs::path& root, long mtime, mode_t exec_mode) {
  fs::create_directories(root / "bin");
  fs::create_directories(root / "share" / "doc");
  write_file_atomic(root / "bin" / "hello", random_bytes(3 * 1024 * 1024 + 17, 1));
  write_file_atomic(root / "share" / "doc" / "README", "hello\n");
  write_file_atomic(root / "share" / "z.txt", "");
  ::chmod((root / "bin" / "hello").c_str(), exec_mode);
  ::chmod((root / "share" / "doc" / "README").c_str(), 0600);
  fs::create_symlink("hello", root / "bin" / "hi");
  for (auto& e : fs::recursive_directory_iterator(root)) {
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    ::utimensat(AT_FDCWD, e.path().c_str(), ts, AT_SYMLINK_NOFOLLOW);
  }
}

std::string gunzip(const std::string& in) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 31) == Z_OK);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc != Z_STREAM_END);
  CHECK(z.avail_in == 0);
  inflateEnd(&z);
  return out;
}

struct TarEntry {
  std::string path;
  int mode;
  long mtime;
  long uid, gid;
  std::string uname;
  std::int64_t size;
};

std::vector<TarEntry> list_tar(const fs::path& file) {
  std::vector<TarEntry> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  REQUIRE(archive_read_open_filename(a, file.c_str(), 65536) == ARCHIVE_OK);
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const char* un = archive_entry_uname(e);
    const char* utf8 = archive_entry_pathname_utf8(e);
    out.push_back({utf8 ? utf8 : archive_entry_pathname(e), static_cast<int>(archive_entry_mode(e)), static_cast<long>(archive_entry_mtime(e)),
                   static_cast<long>(archive_entry_uid(e)), static_cast<long>(archive_entry_gid(e)), un ? un : "", archive_entry_size(e)});
  }
  archive_read_free(a);
  return out;
}

}  // namespace

TEST_CASE("oci::Digest parses strictly and prints the same") {
  std::string hex(64, 'a');
  CHECK(Digest::parse("sha256:" + hex).str() == "sha256:" + hex);
  CHECK(Digest::parse("sha256:" + hex).blob_path() == fs::path("blobs/sha256/" + hex));
  CHECK(Digest::of("").str() == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK_FALSE(Digest::valid("sha256:" + std::string(64, 'A')));  // uppercase
  CHECK_FALSE(Digest::valid("sha256:" + std::string(63, 'a')));
  CHECK_FALSE(Digest::valid("md5:" + std::string(32, 'a')));
  CHECK_FALSE(Digest::valid(hex));
  CHECK_FALSE(Digest::valid(""));
  CHECK(Digest::valid("sha512:" + std::string(128, '0')));
  CHECK_THROWS_AS(Digest::parse("sha256:xyz"), Error);
}

TEST_CASE("oci::OciPlatform::serves is variant-aware") {
  auto p = [](const char* s) { return Platform::parse(s); };
  CHECK(OciPlatform{"linux", "arm", "v7"}.serves(p("linux/arm/v7")));
  CHECK_FALSE(OciPlatform{"linux", "arm", "v6"}.serves(p("linux/arm/v7")));
  CHECK_FALSE(OciPlatform{"linux", "arm", "v7"}.serves(p("linux/arm/v6")));
  CHECK(OciPlatform{"linux", "arm", ""}.serves(p("linux/arm/v7")));
  CHECK(OciPlatform{"linux", "arm64", "v8"}.serves(p("linux/arm64")));
  CHECK(OciPlatform{"linux", "arm64", ""}.serves(p("linux/arm64")));
  CHECK_FALSE(OciPlatform{"linux", "amd64", ""}.serves(p("linux/arm64")));
  CHECK_FALSE(OciPlatform{"windows", "amd64", ""}.serves(p("linux/amd64")));
  CHECK(OciPlatform::from(p("armhf")).str() == "linux/arm/v7");
}

TEST_CASE("oci descriptors round-trip through JSON and bad ones say where") {
  Descriptor d = Descriptor::of("application/vnd.oci.image.manifest.v1+json", "{}");
  d.platform = OciPlatform{"linux", "arm", "v7"};
  d.annotations["b"] = "2";
  d.annotations["a"] = "1";
  auto text = boost::json::serialize(to_json(d));
  CHECK(text.find(R"("platform":{"architecture":"arm","os":"linux","variant":"v7"})") != std::string::npos);
  CHECK(text.find(R"("annotations":{"a":"1","b":"2"})") != std::string::npos);
  Descriptor back = descriptor_from_json(boost::json::parse(text), "test");
  CHECK(back.digest == d.digest);
  CHECK(back.size == 2);
  CHECK(back.platform == d.platform);
  CHECK(back.annotations == d.annotations);
  try {
    descriptor_from_json(boost::json::parse(R"({"mediaType":"x","digest":"sha256:nope","size":1})"), "index.json manifests[3]");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("index.json manifests[3]") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_json_object("{", "x"), Error);
}

TEST_CASE("oci::normalize_image_path keeps paths inside the rootfs") {
  CHECK(normalize_image_path("/usr/local/bin/hello", "t") == "/usr/local/bin/hello");
  CHECK(normalize_image_path("//usr//bin/", "t") == "/usr/bin");
  CHECK(normalize_image_path("/", "t") == "/");
  CHECK_THROWS_AS(normalize_image_path("usr/bin/x", "t"), Error);
  CHECK_THROWS_AS(normalize_image_path("", "t"), Error);
  CHECK_THROWS_AS(normalize_image_path("/usr/../etc/passwd", "t"), Error);
  CHECK_THROWS_AS(normalize_image_path("/..", "t"), Error);
  CHECK_THROWS_AS(normalize_image_path("/./x", "t"), Error);
  CHECK(normalize_image_path("/a..b/c", "t") == "/a..b/c");
  try {
    normalize_image_path("/x/../../y", "[image] files");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::usage);
    CHECK(std::string(e.what()).find("[image] files") != std::string::npos);
    CHECK(std::string(e.what()).find("..") != std::string::npos);
  }
}

TEST_CASE("oci::ref_name_of takes the tag part of what -t says") {
  CHECK(ref_name_of("hello:1.0") == "1.0");
  CHECK(ref_name_of("hello") == "latest");
  CHECK(ref_name_of("localhost:5000/team/hello:1.0") == "1.0");
  CHECK(ref_name_of("localhost:5000/team/hello") == "latest");
  CHECK(ref_name_of("a/b:v1_2-rc.3") == "v1_2-rc.3");
  CHECK_THROWS_AS(ref_name_of("hello@sha256:" + std::string(64, 'a')), Error);
  CHECK_THROWS_AS(ref_name_of("hello:"), Error);
  CHECK_THROWS_AS(ref_name_of("hello:-x"), Error);
  CHECK_THROWS_AS(ref_name_of(""), Error);
}

TEST_CASE("oci compression names and SOURCE_DATE_EPOCH") {
  CHECK(parse_compression("gzip", "x") == Compression::gzip);
  CHECK(parse_compression("zstd", "x") == Compression::zstd);
  CHECK(parse_compression("none", "x") == Compression::none);
  CHECK(layer_media_type(Compression::zstd) == "application/vnd.oci.image.layer.v1.tar+zstd");
  CHECK_THROWS_AS(parse_compression("bzip2", "x"), Error);
  CHECK(source_date_epoch(42) == 42);
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  CHECK(source_date_epoch(std::nullopt) == 1700000000);
  ::setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
  CHECK_THROWS_AS(source_date_epoch(std::nullopt), Error);
  ::unsetenv("SOURCE_DATE_EPOCH");
  CHECK(source_date_epoch(std::nullopt) == 0);
  CHECK(rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339(1700000000) == "2023-11-14T22:13:20Z");
}

TEST_CASE("oci gzip output is standard gzip and independent of the thread count") {
  std::string input = random_bytes(5 * 1024 * 1024 + 123, 7);
  std::string one, four;
  for (auto [threads, out] : {std::pair<unsigned, std::string*>{1, &one}, {4, &four}}) {
    auto c = Compressor::make(Compression::gzip, [out = out](const char* d, std::size_t n) { out->append(d, n); }, threads);
    c->write(input.data(), 1000);
    c->write(input.data() + 1000, input.size() - 1000);
    c->finish();
  }
  CHECK(one == four);
  CHECK(one.substr(0, 10) == std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10));
  CHECK(gunzip(one) == input);
  std::string empty;
  auto c = Compressor::make(Compression::gzip, [&](const char* d, std::size_t n) { empty.append(d, n); }, 2);
  c->finish();
  CHECK(gunzip(empty).empty());
}

TEST_CASE("oci::layer_key: the same when write_layer would write the same bytes, else different") {
  TempDir a, b;
  make_tree(a.path / "out", 1000, 0700);
  make_tree(b.path / "out", 2000000000, 0755);  // other times and modes, the same tar
  auto files = [](const fs::path& root) {
    return std::vector<LayerFile>{{root / "bin" / "hello", "/usr/local/bin/hello"}, {root / "share", "/usr/share/hello"},
                                  {root / "bin" / "hi", "/usr/local/bin/hi"}};
  };
  std::string key = layer_key(files(a.path / "out"), Compression::gzip, 0);
  CHECK(key.size() == 64);
  CHECK(layer_key(files(b.path / "out"), Compression::gzip, 0) == key);
  CHECK(layer_key(files(a.path / "out"), Compression::zstd, 0) != key);
  CHECK(layer_key(files(a.path / "out"), Compression::gzip, 1) != key);
  CHECK(layer_key({files(a.path / "out")[0]}, Compression::gzip, 0) != key);
  SUBCASE("one byte of a file") {
    std::string bytes = read_file(b.path / "out" / "share" / "doc" / "README");
    bytes[0] = 'j';
    write_file_atomic(b.path / "out" / "share" / "doc" / "README", bytes);
    CHECK(layer_key(files(b.path / "out"), Compression::gzip, 0) != key);
  }
  SUBCASE("the executable bit") {
    ::chmod((b.path / "out" / "bin" / "hello").c_str(), 0644);
    CHECK(layer_key(files(b.path / "out"), Compression::gzip, 0) != key);
  }
  SUBCASE("a link's target") {
    fs::remove(b.path / "out" / "bin" / "hi");
    fs::create_symlink("hello2", b.path / "out" / "bin" / "hi");
    CHECK(layer_key(files(b.path / "out"), Compression::gzip, 0) != key);
  }
  SUBCASE("a new empty directory") {
    fs::create_directories(b.path / "out" / "share" / "empty");
    CHECK(layer_key(files(b.path / "out"), Compression::gzip, 0) != key);
  }
  SUBCASE("a missing output fails as write_layer does") {
    fs::remove(b.path / "out" / "bin" / "hello");
    CHECK_THROWS_AS(layer_key(files(b.path / "out"), Compression::gzip, 0), Error);
  }
}

TEST_CASE("oci layers are deterministic: sorted, normalised, same digest from different trees") {
  TempDir a, b;
  make_tree(a.path / "out", 1000, 0700);
  make_tree(b.path / "out", 2000000000, 0755);
  for (Compression c : {Compression::gzip, Compression::zstd, Compression::none}) {
    CAPTURE(to_string(c));
    std::vector<LayerFile> fa{{a.path / "out" / "bin" / "hello", "/usr/local/bin/hello"}, {a.path / "out" / "share", "/usr/share/hello"}};
    std::vector<LayerFile> fb{{b.path / "out" / "share", "/usr/share/hello"}, {b.path / "out" / "bin" / "hello", "/usr/local/bin/hello"}};
    LayerInfo ia = write_layer(fa, c, 0, a.path / "layer", 1);
    LayerInfo ib = write_layer(fb, c, 0, b.path / "layer", 2);
    CHECK(ia.descriptor.digest == ib.descriptor.digest);
    CHECK(ia.diff_id == ib.diff_id);
    CHECK(read_file(a.path / "layer") == read_file(b.path / "layer"));
    CHECK(ia.descriptor.digest == Digest::from_sha256_hex(sha256_file(a.path / "layer")));
    CHECK(ia.descriptor.size == static_cast<std::int64_t>(fs::file_size(a.path / "layer")));
    if (c == Compression::none) CHECK(ia.diff_id == ia.descriptor.digest);
  }
  auto entries = list_tar(a.path / "layer");
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.path);
  CHECK(names == std::vector<std::string>{"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/hello", "usr/share/",
                                          "usr/share/hello/", "usr/share/hello/doc/", "usr/share/hello/doc/README",
                                          "usr/share/hello/z.txt"});
  for (const auto& e : entries) {
    CAPTURE(e.path);
    CHECK(e.mtime == 0);
    CHECK(e.uid == 0);
    CHECK(e.gid == 0);
    CHECK(e.uname.empty());
  }
  CHECK((entries[3].mode & 07777) == 0755);  // executable
  CHECK((entries[7].mode & 07777) == 0644);  // was 0600
  CHECK((entries[0].mode & 07777) == 0755);
  CHECK(entries[3].size == 3 * 1024 * 1024 + 17);

  // SOURCE_DATE_EPOCH changes the mtimes, and so the digest.
  LayerInfo later = write_layer({{a.path / "out" / "bin" / "hello", "/hello"}}, Compression::gzip, 1700000000, a.path / "l2");
  for (const auto& e : list_tar(a.path / "l2")) CHECK(e.mtime == 1700000000);
  CHECK(later.entries == 1);
}

TEST_CASE("oci layers: a full disk is an Error naming the file, whatever the compression") {
  // /dev/full fails every write with ENOSPC; the failure happens inside libarchive's write
  // callback, which must not let the exception cross C (that was std::terminate).
  TempDir t;
  fs::path big = t.path / "big";
  // Incompressible and more than the writer thread's queue (16 MiB), so the sink throws
  // inside the callback, not only at the end.
  std::string bytes(20 << 20, '\0');
  std::mt19937 rng(7);
  for (auto& ch : bytes) ch = static_cast<char>(rng());
  write_file_atomic(big, bytes);
  for (Compression c : {Compression::gzip, Compression::none, Compression::zstd}) {
    CAPTURE(to_string(c));
    try {
      write_layer({{big, "/big"}}, c, 0, "/dev/full", 2);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == Exit::environment);
      CHECK(std::string(e.what()).find("/dev/full") != std::string::npos);
      CHECK(std::string(e.what()).find("No space left on device") != std::string::npos);
    }
  }
}

TEST_CASE("oci layers keep symlinks and reject bad input") {
  TempDir t;
  make_tree(t.path / "out", 5, 0755);
  write_layer({{t.path / "out" / "bin", "/bin"}}, Compression::none, 0, t.path / "l");
  auto entries = list_tar(t.path / "l");
  REQUIRE(entries.size() == 3);
  CHECK(entries[2].path == "bin/hi");
  CHECK(((entries[2].mode & S_IFMT) == S_IFLNK));

  SUBCASE("missing output") {
    try {
      write_layer({{t.path / "out" / "nope", "/x"}}, Compression::gzip, 0, t.path / "l");
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("nope") != std::string::npos);
      CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
    }
  }
  SUBCASE("path escaping the rootfs") {
    CHECK_THROWS_AS(write_layer({{t.path / "out" / "bin" / "hello", "/../etc/x"}}, Compression::gzip, 0, t.path / "l"), Error);
    CHECK_THROWS_AS(write_layer({{t.path / "out" / "bin" / "hello", "relative"}}, Compression::gzip, 0, t.path / "l"), Error);
  }
  SUBCASE("two files at one path") {
    CHECK_THROWS_AS(write_layer({{t.path / "out" / "bin" / "hello", "/x"}, {t.path / "out" / "share" / "z.txt", "/x"}},
                                Compression::gzip, 0, t.path / "l"),
                    Error);
  }
}

TEST_CASE("oci runtime config merges base and project the Docker way") {
  auto base = boost::json::parse(R"({"Env":["PATH=/bin","A=1"],"Entrypoint":["/base"],"Cmd":["--x"],"WorkingDir":"/w","Labels":{"l":"1"}})").as_object();
  RuntimeConfig rc = RuntimeConfig::from_json(base);
  rc.override_with({"A=2", "B=3"}, {}, {}, "", "nobody", {{"m", "2"}}, {"8080"});
  CHECK(rc.env == std::vector<std::string>{"PATH=/bin", "A=2", "B=3"});
  CHECK(*rc.entrypoint == std::vector<std::string>{"/base"});
  CHECK(*rc.cmd == std::vector<std::string>{"--x"});
  CHECK(rc.workdir == "/w");
  CHECK(rc.user == "nobody");
  CHECK(rc.labels.size() == 2);
  CHECK(rc.exposed_ports == std::vector<std::string>{"8080/tcp"});
  rc.override_with({}, {"/mine"}, {}, "", "", {}, {});
  CHECK(*rc.entrypoint == std::vector<std::string>{"/mine"});
  CHECK_FALSE(rc.cmd.has_value());  // a new entrypoint drops the base's cmd
  CHECK_THROWS_AS(rc.override_with({"NOVALUE"}, {}, {}, "", "", {}, {}), Error);
}

TEST_CASE("oci provenance strips credentials") {
  CHECK(strip_credentials("https://user:tok@github.com/a/b.git") == "https://github.com/a/b.git");
  CHECK(strip_credentials("https://github.com/a/b.git") == "https://github.com/a/b.git");
  CHECK(strip_credentials("git@github.com:a/b.git") == "git@github.com:a/b.git");
}

TEST_CASE("oci layers do not depend on the process locale (non-ASCII and long names)") {
  TempDir t;
  fs::path deep = t.path / "out" / std::string(80, 'd') / std::string(70, 'e');
  fs::create_directories(deep);
  write_file_atomic(deep / "\xc3\xbcmlaut-\xe6\x97\xa5\xe6\x9c\xac", "x");
  write_file_atomic(t.path / "out" / "raw-\xff", "not UTF-8");
  std::string before = setlocale(LC_ALL, nullptr);
  setlocale(LC_ALL, "C");
  LayerInfo c = write_layer({{t.path / "out", "/"}}, Compression::none, 0, t.path / "c.tar");
  setlocale(LC_ALL, "C.UTF-8");
  LayerInfo u = write_layer({{t.path / "out", "/"}}, Compression::none, 0, t.path / "u.tar");
  CHECK(c.diff_id == u.diff_id);
  auto entries = list_tar(t.path / "c.tar");  // read in C.UTF-8: libarchive converts names to the locale
  setlocale(LC_ALL, before.c_str());
  bool found = false;
  std::string all;
  for (const auto& e : entries) all += e.path + "\n";
  CAPTURE(all);
  for (const auto& e : entries) found = found || e.path.find("\xc3\xbcmlaut") != std::string::npos;
  CHECK(found);
}

TEST_CASE("SBOM inputs: Cargo.lock crates, dpkg status, and a deterministic SPDX document") {
  TempDir t;
  write_file_atomic(t.path / "Cargo.lock",
                    "version = 3\n\n[[package]]\nname = \"greet\"\nversion = \"0.2.0\"\n\n[[package]]\nname = \"libc\"\n"
                    "version = \"0.2.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"x\"\n\n"
                    "[metadata]\nname = \"ignored\"\n");
  auto crates = cargo_lock_packages(t.path / "Cargo.lock");
  REQUIRE(crates.size() == 2);
  CHECK(crates[0].name == "greet");
  CHECK(crates[0].download.empty());  // a path dependency
  CHECK(crates[1].download == "https://crates.io/api/v1/crates/libc/0.2.1/download");
  CHECK(cargo_lock_packages(t.path / "missing.lock").empty());

  auto debs = dpkg_status_packages("Package: a\nStatus: install ok installed\nVersion: 1.0\nArchitecture: arm64\nDescription: x\n y\n\n"
                                   "Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\nPackage: c\nVersion: 3\n"
                                   "Status: install ok installed\n",
                                   "base image");
  REQUIRE(debs.size() == 2);
  CHECK(debs[0].name == "a");
  CHECK(debs[0].arch == "arm64");
  CHECK(debs[1].name == "c");

  fs::create_directories(t.path / "bin");
  write_file_atomic(t.path / "bin" / "hello", "hello");
  SbomInput in;
  in.project = "hello";
  in.platform = Platform::parse("linux/arm64");
  in.files = {{t.path / "bin", "/usr/local/bin"}};
  in.packages = crates;
  in.packages.insert(in.packages.begin(), debs.begin(), debs.end());
  in.tool = {"gcc-cross", "gcc 12"};
  std::string doc = make_spdx(in);
  std::reverse(in.packages.begin(), in.packages.end());
  CHECK(make_spdx(in) == doc);  // order of the inputs does not matter
  auto o = boost::json::parse(doc).as_object();
  CHECK(o["spdxVersion"].as_string() == "SPDX-2.3");
  CHECK(o["files"].as_array().size() == 1);
  CHECK(o["files"].as_array()[0].as_object()["fileName"].as_string() == "./usr/local/bin/hello");
  CHECK(o["packages"].as_array().size() == 1 + 4 + 1);  // the image, a, c, greet, libc, the toolchain
}

TEST_CASE("provenance: modes and secret-looking names") {
  CHECK(parse_provenance_mode("mode=max", "--provenance") == ProvenanceMode::max);
  CHECK(parse_provenance_mode("false", "--provenance") == ProvenanceMode::none);
  CHECK(parse_provenance_mode("true", "--provenance") == ProvenanceMode::min);
  CHECK_THROWS_AS(parse_provenance_mode("maximal", "--provenance"), Error);
  for (const char* n : {"GITHUB_TOKEN", "aws_secret_access_key", "DB_PASSWORD", "NPM_AUTH", "SSH_PRIVATE", "API_KEY"})
    CHECK_MESSAGE(secret_looking(n), n);
  for (const char* n : {"PATH", "GOARCH", "CC", "HOME", "PWD"}) CHECK_MESSAGE(!secret_looking(n), n);
  ProvenanceInput in;
  in.image_name = "app:1";
  in.platform = Platform::parse("linux/arm64");
  in.manifest = Descriptor::of(media::k_manifest, "{}");
  in.mode = ProvenanceMode::max;
  in.source = {"https://example.com/x.git", std::string(40, 'a'), false};
  in.build.env = {{"GITHUB_TOKEN", "ghp_secret"}, {"MIRROR", "https://u:pw@example.com/m"}, {"GOARCH", "arm64"}};
  std::string st = make_provenance(in);
  CHECK(st.find("ghp_secret") == std::string::npos);
  CHECK(st.find("pw@") == std::string::npos);
  CHECK(st.find("\"GOARCH\":\"arm64\"") != std::string::npos);
  CHECK(make_provenance(in) == st);
}
