// export_images against fake per-platform output dirs: the layout's structure, reuse of an
// existing layout (other tags kept, corrupt blobs reported), archives, and base images.

#include "oci/base.hpp"
#include "oci/export.hpp"
#include "oci/layout.hpp"
#include "oci/media_types.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "temp_dir.hpp"

#include <filesystem>

namespace fs = std::filesystem;
using namespace xb;
using namespace xb::oci;

namespace {

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("oci-export") {}
};

ImageSpec make_project(const fs::path& dir) {
  ImageSpec p;
  p.dir = dir;
  p.file = dir / "xbuild.toml";
  p.name = "hello";
  p.outputs = {"hello"};
  p.image.files = {{"hello", "/usr/local/bin/hello"}};
  p.image.entrypoint = {"/usr/local/bin/hello"};
  p.image.env = {"GREETING=hi"};
  p.image.labels = {{"org.example.team", "build"}};
  p.image.exposed_ports = {"8080/tcp"};
  return p;
}

std::vector<PlatformImageInput> make_outputs(const fs::path& root, const std::vector<std::string>& platforms) {
  std::vector<PlatformImageInput> in;
  for (const auto& s : platforms) {
    Platform p = Platform::parse(s);
    fs::path out = root / p.dir_name();
    fs::create_directories(out);
    write_file_atomic(out / "hello", "#!/bin/sh\necho " + p.str() + "\n");
    ::chmod((out / "hello").c_str(), 0755);
    in.push_back({p, out});
  }
  return in;
}

boost::json::object json_file(const fs::path& p) { return boost::json::parse(read_file(p)).as_object(); }

boost::json::object blob_json(const fs::path& layout, const std::string& digest) {
  return json_file(layout / Digest::parse(digest).blob_path());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("export_images writes a multi-platform layout") {
  TempDir t;
  ImageSpec project = make_project(t.path / "proj");
  auto inputs = make_outputs(t.path / "out", {"linux/amd64", "linux/arm64", "linux/arm/v7"});
  ExportOptions o;
  o.checks = ImageChecks::skip;  // the fixtures are #!/bin/sh scripts without a /bin/sh; test_oci_lint.cpp covers the checks
  o.dest = t.path / "layout";
  o.tags = {"localhost:5000/team/hello:1.0"};
  ExportResult r = export_images(project, inputs, o);

  CHECK(read_file(o.dest / "oci-layout") == R"({"imageLayoutVersion":"1.0.0"})");
  auto index_json = json_file(o.dest / "index.json");
  auto& all = index_json["manifests"].as_array();
  // One image entry, then one SBOM referrer per platform (artifactType, no platform, no tag).
  REQUIRE(all.size() == 4);
  boost::json::array entries{all[0]};
  for (std::size_t i = 1; i < 4; ++i) {
    auto& ref = all[i].as_object();
    CHECK(ref["artifactType"].as_string() == media::k_spdx_json);
    CHECK(!ref.contains("platform"));
    CHECK(!ref.contains("annotations"));
    CHECK(ref["digest"].as_string() == r.sboms[i - 1].second);
    auto referrer = blob_json(o.dest, std::string(ref["digest"].as_string()));
    CHECK(referrer["artifactType"].as_string() == media::k_spdx_json);
    CHECK(referrer["subject"].as_object()["digest"].as_string() == r.manifests[i - 1].second);
    CHECK(referrer["config"].as_object()["mediaType"].as_string() == media::k_empty);
    auto doc = blob_json(o.dest, std::string(referrer["layers"].as_array()[0].as_object()["digest"].as_string()));
    CHECK(doc["spdxVersion"].as_string() == "SPDX-2.3");
    CHECK(doc["creationInfo"].as_object()["created"].as_string() == "1970-01-01T00:00:00Z");
    CHECK(doc["files"].as_array().size() == 1);
    CHECK(doc["files"].as_array()[0].as_object()["fileName"].as_string() == "./usr/local/bin/hello");
  }
  CHECK(LayoutSource(o.dest).entries().size() == 1);  // readers that pick an image see no SBOM
  CHECK(LayoutSource(o.dest).referrers().size() == 3);
  auto& e = entries[0].as_object();
  CHECK(e["mediaType"].as_string() == media::k_index);
  CHECK(e["digest"].as_string() == r.index_digest);
  CHECK(e["annotations"].as_object()["org.opencontainers.image.ref.name"].as_string() == "1.0");
  CHECK(e["annotations"].as_object()["io.containerd.image.name"].as_string() == "localhost:5000/team/hello:1.0");

  auto index = blob_json(o.dest, r.index_digest);
  auto& ms = index["manifests"].as_array();
  REQUIRE(ms.size() == 3);
  CHECK(ms[2].as_object()["platform"].as_object()["variant"].as_string() == "v7");
  CHECK(index["annotations"].as_object()["org.opencontainers.image.created"].as_string() == "1970-01-01T00:00:00Z");
  REQUIRE(r.manifests.size() == 3);
  auto manifest = blob_json(o.dest, r.manifests[1].second);
  CHECK(manifest["mediaType"].as_string() == media::k_manifest);
  CHECK(manifest["layers"].as_array().size() == 1);
  CHECK(manifest["layers"].as_array()[0].as_object()["mediaType"].as_string() == media::k_layer_gzip);
  auto config = blob_json(o.dest, std::string(manifest["config"].as_object()["digest"].as_string()));
  CHECK(config["architecture"].as_string() == "arm64");
  CHECK(config["os"].as_string() == "linux");
  CHECK(config["rootfs"].as_object()["diff_ids"].as_array().size() == 1);
  auto& rc = config["config"].as_object();
  CHECK(rc["Entrypoint"].as_array()[0].as_string() == "/usr/local/bin/hello");
  CHECK(rc["Env"].as_array().size() == 2);  // PATH, GREETING
  CHECK(rc["ExposedPorts"].as_object().contains("8080/tcp"));
  CHECK(rc["Labels"].as_object()["org.example.team"].as_string() == "build");
  CHECK(config["history"].as_array().size() == 1);

  // No temp files left behind, and no staging directory beside the layout.
  for (auto& f : fs::recursive_directory_iterator(o.dest)) CHECK(f.path().filename().string().front() != '.');
  for (auto& f : fs::directory_iterator(t.path)) CHECK(f.path().filename().string().front() != '.');

  SUBCASE("same inputs elsewhere give the same digests") {
    TempDir t2;
    ImageSpec p2 = make_project(t2.path / "other");
    auto in2 = make_outputs(t2.path / "o", {"linux/amd64", "linux/arm64", "linux/arm/v7"});
    ExportOptions o2 = o;
    o2.dest = t2.path / "layout";
    o2.threads = 1;
    ExportResult r2 = export_images(p2, in2, o2);
    CHECK(r2.index_digest == r.index_digest);
    CHECK(read_file(o2.dest / "index.json") == read_file(o.dest / "index.json"));
  }
  SUBCASE("a second tag keeps the first; the same tag replaces its entry") {
    ExportOptions o2 = o;
    o2.tags = {"hello:2.0"};
    o2.compression = Compression::zstd;
    export_images(project, inputs, o2);
    CHECK(LayoutSource(o.dest).entries().size() == 2);
    CHECK(LayoutSource(o.dest).referrers().size() == 6);  // each image's own SBOMs (zstd: other manifests)
    export_images(project, inputs, o2);
    CHECK(LayoutSource(o.dest).entries().size() == 2);
    CHECK(LayoutSource(o.dest).referrers().size() == 6);  // not piled up
    o2.tags = {"hello:2.0"};
    o2.compression = Compression::none;
    o2.sbom = false;  // 2.0 replaced by an image without SBOMs: the SBOMs of the manifests it dropped go too
    export_images(project, inputs, o2);
    CHECK(LayoutSource(o.dest).referrers().size() == 3);
  }
  SUBCASE("a corrupt blob is reported with its path") {
    auto m1 = Digest::parse(r.manifests[0].second);
    write_file_atomic(o.dest / m1.blob_path(), "garbage");
    ExportOptions o2 = o;
    o2.tags = {"hello:other"};
    std::string err = error_of([&] { export_images(project, inputs, o2); });
    CHECK(err.find((o.dest / m1.blob_path()).string()) != std::string::npos);
    CHECK(err.find("corrupt") != std::string::npos);
    // The layout was not touched: index.json still names only 1.0 (and its three SBOMs).
    CHECK(json_file(o.dest / "index.json")["manifests"].as_array().size() == 1 + 3);
  }
  SUBCASE("a missing blob is reported with its path") {
    auto m1 = Digest::parse(r.manifests[2].second);
    fs::remove(o.dest / m1.blob_path());
    ExportOptions o2 = o;
    o2.tags = {"hello:other"};
    std::string err = error_of([&] { export_images(project, inputs, o2); });
    CHECK(err.find((o.dest / m1.blob_path()).string()) != std::string::npos);
    CHECK(err.find("missing") != std::string::npos);
  }
  SUBCASE("a missing output fails before writing and leaves the layout as it was") {
    std::string before = read_file(o.dest / "index.json");
    fs::remove(inputs[1].out_dir / "hello");
    ExportOptions o2 = o;
    o2.tags = {"hello:broken"};
    std::string err = error_of([&] { export_images(project, inputs, o2); });
    CHECK(err.find("linux/arm64") != std::string::npos);
    CHECK(err.find("does not exist") != std::string::npos);
    CHECK(read_file(o.dest / "index.json") == before);
  }
}

TEST_CASE("export_images: bad input") {
  TempDir t;
  ImageSpec project = make_project(t.path / "proj");
  auto inputs = make_outputs(t.path / "out", {"linux/amd64"});
  ExportOptions o;
  o.checks = ImageChecks::skip;  // the fixtures are #!/bin/sh scripts without a /bin/sh; test_oci_lint.cpp covers the checks
  o.dest = t.path / "layout";
  SUBCASE("unknown compression") {
    CHECK(error_of([&] { parse_compression("lz4", "--compression"); }).find("lz4") != std::string::npos);
    o.type = OutputType::local;
    CHECK(error_of([&] { export_images(project, inputs, o); }).find("type=local") != std::string::npos);
    CHECK_FALSE(fs::exists(o.dest));
  }
  SUBCASE("image path with ..") {
    project.image.files = {{"hello", "/usr/../../etc/hello"}};
    CHECK(error_of([&] { export_images(project, inputs, o); }).find("..") != std::string::npos);
    CHECK_FALSE(fs::exists(o.dest));
  }
  SUBCASE("from outside the output dir") {
    project.image.files = {{"../hello", "/hello"}};
    CHECK(error_of([&] { export_images(project, inputs, o); }).find("from") != std::string::npos);
  }
  SUBCASE("dest is a file") {
    write_file_atomic(o.dest, "x");
    CHECK(error_of([&] { export_images(project, inputs, o); }).find("not a directory") != std::string::npos);
  }
  SUBCASE("dest is a non-layout directory") {
    fs::create_directories(o.dest);
    write_file_atomic(o.dest / "precious", "x");
    CHECK(error_of([&] { export_images(project, inputs, o); }).find("not an OCI layout") != std::string::npos);
    CHECK(fs::exists(o.dest / "precious"));
  }
  SUBCASE("several tags: one index.json entry each, all naming the same index") {
    o.tags = {"hello:1", "registry.example.com/team/hello:2", "hello:1"};
    auto r = export_images(project, inputs, o);
    CHECK(r.ref_names == std::vector<std::string>{"1", "2"});
    auto idx = json_file(o.dest / "index.json");
    REQUIRE(LayoutSource(o.dest).entries().size() == 2);
    CHECK(LayoutSource(o.dest).referrers().size() == inputs.size());  // each platform's SBOM, once
    for (const auto& e : idx["manifests"].as_array())
      if (!e.as_object().contains("artifactType")) CHECK(e.as_object().at("digest").as_string() == r.index_digest);
  }
  SUBCASE("default tag is <name>:latest") {
    auto r = export_images(project, inputs, o);
    CHECK(r.ref_names == std::vector<std::string>{"latest"});
  }
}

TEST_CASE("export_images: oci-archive holds the same layout") {
  TempDir t;
  ImageSpec project = make_project(t.path / "proj");
  auto inputs = make_outputs(t.path / "out", {"linux/amd64", "linux/riscv64"});
  ExportOptions o;
  o.checks = ImageChecks::skip;  // the fixtures are #!/bin/sh scripts without a /bin/sh; test_oci_lint.cpp covers the checks
  o.type = OutputType::oci_archive;
  o.dest = t.path / "image.tar";
  o.tags = {"hello:1"};
  auto r = export_images(project, inputs, o);
  ExportOptions l = o;
  l.type = OutputType::oci;
  l.dest = t.path / "layout";
  auto r2 = export_images(project, inputs, l);
  CHECK(r.index_digest == r2.index_digest);
  std::string first = read_file(o.dest);
  export_images(project, inputs, o);
  CHECK(read_file(o.dest) == first);  // the archive itself is reproducible
  for (auto& f : fs::directory_iterator(t.path)) CHECK(f.path().filename().string().front() != '.');
}

TEST_CASE("export_images: base images per platform") {
  TempDir t;
  // A base with amd64 and arm/v6 only, made by the exporter itself.
  ImageSpec base_project = make_project(t.path / "base");
  base_project.image.files = {{"hello", "/bin/base-tool"}};
  base_project.image.entrypoint = {"/bin/base-tool"};
  base_project.image.cmd = {"--help"};
  base_project.image.env = {"BASE=1", "GREETING=base"};
  base_project.image.workdir = "/srv";
  ExportOptions bo;
  bo.checks = ImageChecks::skip;  // the fixtures are #!/bin/sh scripts without a /bin/sh; test_oci_lint.cpp covers the checks
  bo.dest = t.path / "base-layout";
  bo.tags = {"base:1"};
  ExportResult base_result = export_images(base_project, make_outputs(t.path / "base-out", {"linux/amd64", "linux/arm/v6"}), bo);

  ImageSpec project = make_project(t.path / "proj");
  project.image.entrypoint = {};
  ExportOptions o;
  o.checks = ImageChecks::skip;  // the fixtures are #!/bin/sh scripts without a /bin/sh; test_oci_lint.cpp covers the checks
  o.dest = t.path / "layout";
  SUBCASE("layers and config are inherited") {
    project.image.base = "oci:" + bo.dest.string() + ":base:1";
    project.image.base = "oci:" + bo.dest.string() + ":1";
    auto r = export_images(project, make_outputs(t.path / "out", {"linux/amd64"}), o);
    auto manifest = blob_json(o.dest, r.manifests[0].second);
    CHECK(manifest["layers"].as_array().size() == 2);
    CHECK(manifest["annotations"].as_object().contains("org.opencontainers.image.base.digest"));
    auto config = blob_json(o.dest, std::string(manifest["config"].as_object()["digest"].as_string()));
    auto& rc = config["config"].as_object();
    CHECK(rc["Entrypoint"].as_array()[0].as_string() == "/bin/base-tool");
    CHECK(rc["Cmd"].as_array()[0].as_string() == "--help");
    CHECK(rc["WorkingDir"].as_string() == "/srv");
    auto env = boost::json::serialize(rc["Env"]);
    CHECK(env.find("BASE=1") != std::string::npos);
    CHECK(env.find("GREETING=hi") != std::string::npos);  // ours overrides the base's
    CHECK(env.find("GREETING=base") == std::string::npos);
    CHECK(config["history"].as_array().size() == 2);
    CHECK(config["rootfs"].as_object()["diff_ids"].as_array().size() == 2);
    // Every blob the manifest names is in our layout.
    for (const auto& l : manifest["layers"].as_array())
      CHECK(fs::exists(o.dest / Digest::parse(l.as_object().at("digest").as_string()).blob_path()));
  }
  SUBCASE("a base lacking a platform is an error naming both; v6 does not serve v7") {
    project.image.base = "oci:" + bo.dest.string();
    std::string err = error_of([&] { export_images(project, make_outputs(t.path / "out", {"linux/amd64", "linux/arm/v7"}), o); });
    CHECK(err.find("linux/arm/v7") != std::string::npos);
    CHECK(err.find(bo.dest.string()) != std::string::npos);
    CHECK(err.find("linux/arm/v6") != std::string::npos);
    CHECK_FALSE(fs::exists(o.dest));
    CHECK(error_of([&] { check_export(project, {Platform::parse("linux/arm/v7")}, o); }).find("linux/arm/v7") != std::string::npos);
  }
  SUBCASE("pinned by digest: the index, or one platform's manifest") {
    project.image.base = "oci:" + bo.dest.string() + "@" + base_result.index_digest;
    auto r = export_images(project, make_outputs(t.path / "out", {"linux/amd64"}), o);
    auto manifest = blob_json(o.dest, r.manifests[0].second);
    CHECK(manifest["annotations"].as_object()["org.opencontainers.image.base.digest"].as_string() == base_result.manifests[0].second);
    project.image.base = "oci:" + bo.dest.string() + "@" + base_result.manifests[0].second;
    CHECK(export_images(project, make_outputs(t.path / "out", {"linux/amd64"}), o).manifests.size() == 1);
    std::string err = error_of([&] { export_images(project, make_outputs(t.path / "out", {"linux/arm/v6"}), o); });
    CHECK(err.find("linux/amd64") != std::string::npos);  // a single amd64 image cannot serve arm/v6
    CHECK(err.find("linux/arm/v6") != std::string::npos);
  }
  SUBCASE("an oci-archive base gives the same image as the layout it packs") {
    ExportOptions ao = bo;
    ao.type = OutputType::oci_archive;
    ao.dest = t.path / "base.tar";
    export_images(base_project, make_outputs(t.path / "base-out", {"linux/amd64", "linux/arm/v6"}), ao);
    project.image.base = "oci-archive:" + ao.dest.string() + ":1";
    auto from_archive = export_images(project, make_outputs(t.path / "out", {"linux/arm/v6"}), o);
    project.image.base = "oci:" + bo.dest.string() + ":1";
    auto from_layout = export_images(project, make_outputs(t.path / "out", {"linux/arm/v6"}), o);
    CHECK(from_archive.index_digest == from_layout.index_digest);  // no host path in base.name
    CHECK(from_archive.manifests.size() == 1);
    auto m1 = blob_json(o.dest, from_layout.manifests[0].second);
    CHECK_FALSE(m1["annotations"].as_object().contains("org.opencontainers.image.base.name"));
    CHECK(m1["annotations"].as_object().contains("org.opencontainers.image.base.digest"));
  }
  SUBCASE("the same base from two layout paths gives the same image; a pulled base records its reference") {
    fs::path moved = t.path / "elsewhere" / "base";
    fs::create_directories(moved.parent_path());
    fs::copy(bo.dest, moved, fs::copy_options::recursive);
    project.image.base = "oci:" + bo.dest.string() + ":1";
    auto here = export_images(project, make_outputs(t.path / "out", {"linux/arm/v6"}), o);
    project.image.base = "oci:" + moved.string() + ":1";
    auto there = export_images(project, make_outputs(t.path / "out", {"linux/arm/v6"}), o);
    CHECK(here.index_digest == there.index_digest);
    project.image.base = pulled_base_text(moved, base_result.index_digest, "registry.example.com/team/base:1");
    auto pulled = export_images(project, make_outputs(t.path / "out", {"linux/arm/v6"}), o);
    auto m = blob_json(o.dest, pulled.manifests[0].second);
    CHECK(m["annotations"].as_object()["org.opencontainers.image.base.name"].as_string() == "registry.example.com/team/base:1");
    project.image.base = pulled_base_text(moved, base_result.index_digest, "registry.example.com/team/base:1");
    std::string err = error_of([&] { export_images(project, make_outputs(t.path / "out", {"linux/riscv64"}), o); });
    CHECK(err.find("registry.example.com/team/base:1") != std::string::npos);  // messages name the reference
  }
  SUBCASE("a relative base dir is relative to the project") {
    fs::create_directories(project.dir);
    project.image.base = "oci:" + fs::relative(bo.dest, project.dir).string() + ":1";
    CHECK(export_images(project, make_outputs(t.path / "out", {"linux/arm/v6"}), o).manifests.size() == 1);
  }
  SUBCASE("unknown tag and non-layout base") {
    project.image.base = "oci:" + bo.dest.string() + ":nope";
    CHECK(error_of([&] { export_images(project, make_outputs(t.path / "out", {"linux/amd64"}), o); }).find("nope") != std::string::npos);
    project.image.base = "docker.io/library/alpine:3";
    CHECK(error_of([&] { export_images(project, make_outputs(t.path / "out", {"linux/amd64"}), o); }).find("alpine") != std::string::npos);
  }
}
