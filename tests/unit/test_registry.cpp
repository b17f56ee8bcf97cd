// Registry value types and parsers with the odd inputs users type: references, the
// WWW-Authenticate grammar, URL handling, and credentials from a docker config
// (with a real credential helper program on PATH).

#include "oci/descriptor.hpp"
#include "registry/auth.hpp"
#include "registry/client.hpp"
#include "registry/http.hpp"
#include "registry/reference.hpp"
#include "registry/source.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/host.hpp"

#include "temp_dir.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>
#include <unistd.h>

using xb::registry::Reference;
namespace reg = xb::registry;
namespace fs = std::filesystem;

namespace {

const std::string k_digest = "sha256:" + std::string(64, 'a');

std::string error_of(const std::string& text) {
  try {
    Reference::parse(text);
  } catch (const xb::Error& e) {
    CHECK(e.code() == xb::Exit::usage);
    return e.what();
  }
  return "";
}

// Sets an environment variable for one scope.
struct EnvGuard {
  std::string name;
  std::string old;
  bool had;
  EnvGuard(std::string n, const std::string& value) : name(std::move(n)) {
    const char* o = std::getenv(name.c_str());
    had = o != nullptr;
    if (had) old = o;
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~EnvGuard() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("xbuild-unit-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("Reference::parse: hosts, ports, nested paths, tags and digests") {
  auto r = Reference::parse("host:5000/a/b/c:tag@" + k_digest);
  CHECK(r.registry == "host:5000");
  CHECK(r.repository == "a/b/c");
  CHECK(r.tag == "tag");
  CHECK(r.digest == k_digest);
  CHECK(r.str() == "host:5000/a/b/c:tag@" + k_digest);
  CHECK(r.manifest_ref() == k_digest);
  CHECK(r.with_digest(k_digest) == "host:5000/a/b/c@" + k_digest);

  auto d = Reference::parse("127.0.0.1:5000/app");
  CHECK(d.tag == "latest");
  CHECK(d.is_loopback());
  CHECK(d.api_host() == "127.0.0.1:5000");

  auto l = Reference::parse("localhost/team/app:1.0");
  CHECK(l.registry == "localhost");
  CHECK(l.is_loopback());

  auto v6 = Reference::parse("[::1]:5000/x:y");
  CHECK(v6.registry == "[::1]:5000");
  CHECK(v6.hostname() == "::1");
  CHECK(v6.is_loopback());

  auto only_digest = Reference::parse("ghcr.io/o/r@" + k_digest);
  CHECK(only_digest.tag.empty());
  CHECK(only_digest.manifest_ref() == k_digest);
  CHECK_FALSE(only_digest.is_loopback());

  CHECK(Reference::parse("Registry.Example.COM/app:v1").registry == "registry.example.com");
  CHECK(Reference::parse("a.b/x__y/z-w.v:T_1.2-3").repository == "x__y/z-w.v");
  CHECK(Reference::parse("127.1.2.3:80/x").is_loopback());
  CHECK_FALSE(Reference::parse("128.0.0.1:80/x").is_loopback());
  CHECK_FALSE(Reference::parse("localhost.example.com/x").is_loopback());
}

TEST_CASE("Reference::parse: Docker Hub short names") {
  auto a = Reference::parse("alpine");
  CHECK(a.registry == "docker.io");
  CHECK(a.repository == "library/alpine");
  CHECK(a.tag == "latest");
  CHECK(a.api_host() == "registry-1.docker.io");
  CHECK(Reference::parse("user/app:1").repository == "user/app");
  CHECK(Reference::parse("docker.io/alpine:3").repository == "library/alpine");
  CHECK(Reference::parse("index.docker.io/library/alpine").registry == "docker.io");
  // A first component without '.', ':' or "localhost" is a Docker Hub namespace.
  CHECK(Reference::parse("myhost/app").registry == "docker.io");
}

TEST_CASE("Reference::parse: bad input names what is wrong") {
  CHECK(error_of("").find("empty") != std::string::npos);
  CHECK(error_of("host:5000/App:1").find("lowercase") != std::string::npos);
  CHECK(error_of("app@sha256:abc").find("64") != std::string::npos);
  CHECK(error_of("app@md5:" + std::string(32, 'a')).find("unsupported digest algorithm") != std::string::npos);
  CHECK(error_of("app@" + std::string(64, 'a')).find("sha256") != std::string::npos);
  CHECK(error_of("app@sha256:" + std::string(64, 'A')).find("lowercase") != std::string::npos);
  CHECK(error_of("app:-bad").find("bad tag") != std::string::npos);
  CHECK(error_of("app:" + std::string(129, 'a')).find("bad tag") != std::string::npos);
  CHECK(error_of("host:5000/").find("missing") != std::string::npos);
  CHECK(error_of("host:5000//x").find("empty path component") != std::string::npos);
  CHECK(error_of("host:5000/a/-b").find("bad path component") != std::string::npos);
  CHECK(error_of("host:port/x").find("bad registry host") != std::string::npos);
  CHECK(error_of("host:5000/a b").find("whitespace") != std::string::npos);
  CHECK(error_of("a..b/c").find("registry host") != std::string::npos);
  CHECK(error_of("[::1]:/c").find("registry host") != std::string::npos);
  CHECK_FALSE(Reference::valid("./out/layout"));
  CHECK(Reference::valid("127.0.0.1:5000/x:y"));
}

TEST_CASE("digest and host helpers") {
  CHECK(reg::valid_digest(k_digest));
  CHECK_FALSE(reg::valid_digest("sha256:abc"));
  CHECK_FALSE(reg::valid_digest("sha512:" + std::string(64, 'a')));
  CHECK(reg::host_without_port("h:1") == "h");
  CHECK(reg::host_without_port("[::1]:5000") == "::1");
  CHECK(reg::is_loopback_host("LOCALHOST"));
  CHECK_FALSE(reg::is_loopback_host("127.0.0"));
}

TEST_CASE("parse_www_authenticate") {
  auto c = reg::parse_www_authenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push",error="insufficient_scope")");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "bearer");
  CHECK(c[0].params["realm"] == "https://auth.example.com/token");
  CHECK(c[0].params["service"] == "registry.example.com");
  CHECK(c[0].params["scope"] == "repository:a/b:pull,push");
  CHECK(c[0].params["error"] == "insufficient_scope");

  auto b = reg::parse_www_authenticate(R"(Basic realm="Registry Realm")");
  REQUIRE(b.size() == 1);
  CHECK(b[0].scheme == "basic");
  CHECK(b[0].params["realm"] == "Registry Realm");

  auto two = reg::parse_www_authenticate(R"(Basic realm="a, b", Bearer realm=x,service=y)");
  REQUIRE(two.size() == 2);
  CHECK(two[0].params["realm"] == "a, b");
  CHECK(two[1].scheme == "bearer");
  CHECK(two[1].params["service"] == "y");

  auto esc = reg::parse_www_authenticate(R"(Bearer realm="a\"b")");
  CHECK(esc[0].params["realm"] == "a\"b");
  CHECK(reg::parse_www_authenticate("").empty());
}

TEST_CASE("URL handling: relative Locations, queries, redaction") {
  CHECK(reg::resolve_url("http://h:5000/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/u1?_state=x") ==
        "http://h:5000/v2/a/blobs/uploads/u1?_state=x");
  CHECK(reg::resolve_url("http://h:5000/v2/a/blobs/uploads/", "https://other/up?x=1") == "https://other/up?x=1");
  CHECK(reg::resolve_url("http://h:5000/v2/a/blobs/uploads/", "u2") == "http://h:5000/v2/a/blobs/uploads/u2");
  CHECK(reg::append_query("http://h/u?_state=s", "digest", "sha256:ab") == "http://h/u?_state=s&digest=sha256%3Aab");
  CHECK(reg::append_query("http://h/u", "digest", "sha256:ab") == "http://h/u?digest=sha256%3Aab");
  CHECK(reg::url_origin("HTTP://Host:5000/x") == "http://host:5000");
  CHECK(reg::url_origin("https://host/x") == "https://host:443");
  CHECK(reg::url_origin("https://host/x") != reg::url_origin("https://other/x"));
  CHECK(reg::redact_url("https://user:secret@h/v2/?_state=abc&digest=sha256%3Aab") ==
        "https://h/v2/?_state=...&digest=sha256%3Aab");
  CHECK(reg::redact_url("https://h/token?service=s&scope=repository:a:pull&password=x") ==
        "https://h/token?service=s&scope=repository:a:pull&password=...");
}

TEST_CASE("registry errors keep status, codes and the request") {
  auto errs = reg::parse_errors(R"({"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}},{"code":"X"}]})");
  REQUIRE(errs.size() == 2);
  CHECK(errs[0].code == "MANIFEST_INVALID");
  CHECK(errs[0].message == "manifest invalid");
  CHECK(errs[1].message.empty());
  CHECK(reg::parse_errors("not json").empty());
  CHECK(reg::parse_errors(R"({"errors":"x"})").empty());

  reg::HttpRequest req;
  req.method = "PUT";
  req.url = "http://h/v2/a/manifests/t?token=secret";
  reg::HttpResponse resp;
  resp.status = 400;
  resp.body = R"({"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]})";
  auto e = reg::error_from_response("pushing", req, resp);
  CHECK(e.status() == 400);
  CHECK(e.has_code("MANIFEST_INVALID"));
  CHECK_FALSE(e.retryable());
  CHECK(e.code() == xb::Exit::registry);
  CHECK(std::string(e.what()).find("PUT http://h/v2/a/manifests/t?token=... answered 400") != std::string::npos);
  CHECK(std::string(e.what()).find("secret") == std::string::npos);
  resp.status = 503;
  CHECK(reg::error_from_response("x", req, resp).retryable());
}

TEST_CASE("credentials: --creds, docker config auths, credHelpers, credsStore") {
  fs::path dir = fresh_dir("creds");
  EnvGuard config("DOCKER_CONFIG", dir.string());

  SUBCASE("--creds wins and is checked") {
    auto c = reg::find_credentials("h:1", "u:p:w");
    CHECK(c.username == "u");
    CHECK(c.secret == "p:w");
    CHECK_THROWS_AS(reg::parse_creds_flag("nocolon"), xb::Error);
    CHECK_THROWS_AS(reg::parse_creds_flag(":x"), xb::Error);
  }
  SUBCASE("no config file: nothing") { CHECK(reg::docker_config_credentials("h:1").empty()); }
  SUBCASE("auths with auth and identitytoken, keys with scheme") {
    xb::write_file_atomic(dir / "config.json",
                          R"({"auths":{"https://h:1/v1/":{"auth":")" + xb::base64_encode("alice:s3cret") +
                              R"("},"docker.io":{"identitytoken":"tok"}}})");
    auto c = reg::docker_config_credentials("h:1");
    CHECK(c.username == "alice");
    CHECK(c.secret == "s3cret");
    CHECK(reg::docker_config_credentials("docker.io").identity_token == "tok");
    CHECK(reg::docker_config_credentials("other:2").empty());
  }
  SUBCASE("bad auth entry names the file") {
    xb::write_file_atomic(dir / "config.json", R"({"auths":{"h:1":{"auth":"bm9jb2xvbg=="}}})");
    try {
      reg::docker_config_credentials("h:1");
      FAIL("no error");
    } catch (const xb::Error& e) {
      CHECK(std::string(e.what()).find("config.json") != std::string::npos);
    }
  }
  SUBCASE("credential helpers run from PATH") {
    fs::path bin = dir / "bin";
    fs::create_directories(bin);
    // The helper reads the server URL on stdin and answers for h:1 only.
    xb::write_file_atomic(bin / "docker-credential-unit",
                          "#!/bin/sh\nread server\nif [ \"$server\" = h:1 ]; then\n"
                          "  echo '{\"ServerURL\":\"h:1\",\"Username\":\"bob\",\"Secret\":\"pw\"}'\n"
                          "else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n");
    fs::permissions(bin / "docker-credential-unit", fs::perms::owner_all);
    EnvGuard path("PATH", bin.string() + ":" + std::getenv("PATH"));
    SUBCASE("credHelpers") {
      xb::write_file_atomic(dir / "config.json", R"({"credHelpers":{"h:1":"unit"}})");
      auto c = reg::docker_config_credentials("h:1");
      CHECK(c.username == "bob");
      CHECK(c.secret == "pw");
      CHECK(c.source == "docker-credential-unit");
    }
    SUBCASE("credsStore, not found is no credentials") {
      xb::write_file_atomic(dir / "config.json", R"({"credsStore":"unit"})");
      CHECK(reg::docker_config_credentials("h:1").username == "bob");
      CHECK(reg::docker_config_credentials("other:1").empty());
    }
    SUBCASE("a missing helper is an error naming it") {
      xb::write_file_atomic(dir / "config.json", R"({"credHelpers":{"h:1":"absent"}})");
      try {
        reg::docker_config_credentials("h:1");
        FAIL("no error");
      } catch (const xb::Error& e) {
        CHECK(std::string(e.what()).find("docker-credential-absent") != std::string::npos);
        CHECK(e.code() == xb::Exit::registry);
      }
    }
  }
  fs::remove_all(dir);
}

// ---- issue 13: hostile input ------------------------------------------------------------

namespace {

// A deterministic generator (the same references on every run, so a failure reproduces).
struct Gen {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
};

std::string generated_reference(Gen& g) {
  static const std::vector<std::string> hosts = {
      "",          "docker.io/",     "index.docker.io/", "registry-1.docker.io/", "Docker.IO/", "localhost/",
      "LOCALHOST/", "localhost:5000/", "127.0.0.1:5000/", "[::1]:5000/",         "[::1]/",     "[FE80::1]:80/",
      "calhOx/",   "CALHOX/",        "calhox.lan/",     "Registry.Example.COM/", "ghcr.io/",   "a-b.c:1/",
      "host:5000/", "x.y.z:65535/",  "Host:1/",         "a.b/"};
  static const std::vector<std::string> components = {"alpine", "library", "a", "x__y", "z-w.v", "a--b", "a.b",
                                                      "team",   "app",     "0", "9z",   "a_b",   "Ab",   "-x",
                                                      "x-",     "",        "a..b"};
  static const std::vector<std::string> tags = {"", ":latest", ":1.0", ":T_1.2-3", ":-bad", ":" + std::string(128, 'a'),
                                                ":" + std::string(129, 'b'), ":UPPER", ":"};
  std::string s = g.pick(hosts);
  std::size_t n = 1 + g.below(3);
  for (std::size_t i = 0; i < n; ++i) s += (i ? "/" : "") + g.pick(components);
  s += g.pick(tags);
  if (g.below(4) == 0) s += "@" + k_digest;
  if (g.below(8) == 0) s.insert(g.below(s.size() + 1), 1, "/:@.A_-"[g.below(7)]);  // one odd character anywhere
  return s;
}

}  // namespace

TEST_CASE("Reference: printing then parsing gives the same Reference (property, generated and edge inputs)") {
  std::vector<std::string> inputs = {"calhOx/2",  "CALHOX/2", "calhOx:5000/2", "LocalHost/x", "Docker.io/alpine",
                                     "index.docker.io/x", "[::1]/a",   "a.b/c@" + k_digest,    "user/app:1"};
  Gen g{0x9e3779b97f4a7c15ull};
  for (int i = 0; i < 20000; ++i) inputs.push_back(generated_reference(g));
  int parsed = 0;
  for (const auto& text : inputs) {
    Reference r;
    try {
      r = Reference::parse(text);
    } catch (const xb::Error&) {
      continue;
    }
    ++parsed;
    INFO("input: " << text << "  printed: " << r.str());
    Reference again = Reference::parse(r.str());
    CHECK(again == r);
    CHECK(again.str() == r.str());
  }
  CHECK(parsed > 2000);  // the generator must reach valid references, not only rejections

  // The case the review found: the capitals are what make "calhOx" a host.
  auto c = Reference::parse("calhOx/2");
  CHECK(c.registry == "calhOx");
  CHECK(c.str() == "calhOx/2:latest");
  CHECK(Reference::parse("Registry.Example.COM/app").registry == "registry.example.com");
  CHECK(Reference::parse("LOCALHOST/x").registry == "localhost");
}

TEST_CASE("invalid image reference never echoes a password") {
  for (std::string text : {"alice:S3cretPW@host/app:1", "alice:S3cretPW@host", "docker://alice:S3cretPW@h:5000/a",
                           "alice:S3c@ret/PW@host/app", "alice:S3cretPW@host/app@sha256:abc"}) {
    INFO(text);
    std::string e = error_of(text);
    CHECK(e.find("invalid image reference") != std::string::npos);
    CHECK(e.find("S3c") == std::string::npos);
    CHECK(e.find("alice:***@") != std::string::npos);
    CHECK(e.find("--creds") != std::string::npos);
  }
  // What carries no secret is shown as typed.
  CHECK(reg::redact_reference("app:1.0@sha256:bad") == "app:1.0@sha256:bad");
  CHECK(reg::redact_reference("app@md5:x") == "app@md5:x");
  CHECK(reg::redact_reference("host:5000/a/b:c") == "host:5000/a/b:c");
  CHECK(error_of("app@md5:" + std::string(32, 'a')).find("md5") != std::string::npos);
}

TEST_CASE("loopback is decided on the exact host, never a prefix") {
  CHECK(xb::is_loopback_host("127.0.0.1"));
  CHECK(xb::is_loopback_host("127.255.0.9"));
  CHECK(xb::is_loopback_host("Localhost"));
  CHECK(xb::is_loopback_host("::1"));
  CHECK_FALSE(xb::is_loopback_host("127.0.0.1.nip.io"));
  CHECK_FALSE(xb::is_loopback_host("localhost.attacker.example"));
  CHECK_FALSE(xb::is_loopback_host("127.0.0.256"));
  CHECK_FALSE(xb::is_loopback_host("127..0.1"));
  CHECK_FALSE(xb::is_loopback_host("127.0.0.1:5000"));
  // The host of a docker:// source, as emulate/rootfs.cpp reads it for skopeo.
  auto loopback_ref = [](std::string_view ref) { return xb::is_loopback_host(xb::host_without_port(xb::reference_host(ref))); };
  CHECK(loopback_ref("127.0.0.1:5000/x:1"));
  CHECK(loopback_ref("localhost/x"));
  CHECK(loopback_ref("[::1]:5000/x"));
  CHECK_FALSE(loopback_ref("localhost.attacker.example/x"));
  CHECK_FALSE(loopback_ref("127.0.0.1.nip.io/x"));
  CHECK_FALSE(loopback_ref("localhost"));  // a Docker Hub name, not a host
  CHECK_FALSE(loopback_ref("library/localhost"));
  for (const char* ref : {"127.0.0.1:5000/x", "localhost.attacker.example/x", "calhOx/2", "alpine", "a/b"}) {
    INFO(ref);
    CHECK(xb::reference_host(ref) == (Reference::parse(ref).registry == "docker.io" ? "" : Reference::parse(ref).registry));
  }
}

TEST_CASE("descriptor sizes: a non-negative integer that fits int64, else rejected when parsed") {
  auto parse = [](const std::string& size) {
    return xb::oci::descriptor_from_json(
        boost::json::parse(R"({"mediaType":"x","digest":")" + k_digest + R"(","size":)" + size + "}"), "test");
  };
  CHECK(parse("0").size == 0);
  CHECK(parse("9223372036854775807").size == INT64_MAX);
  for (std::string bad : {"9223372036854775808", "18446744073709551615", "18446744073709551616", "-1", "1e3", "1.5",
                          "\"100\"", "null", "1e400"}) {
    INFO(bad);
    try {
      parse(bad);
      FAIL("accepted");
    } catch (const xb::Error& e) {
      CHECK(std::string(e.what()).find("bad \"size\"") != std::string::npos);
      CHECK(std::string(e.what()).find("test") != std::string::npos);
    }
  }
}

TEST_CASE("http helpers for caps and credential checks") {
  CHECK(reg::format_cap(4 << 20) == "4 MiB");
  CHECK(reg::format_cap(64 << 10) == "64 KiB");
  CHECK(reg::format_cap(100) == "100 bytes");
  auto u = reg::split_url("HTTP://[::1]:5000/token?x=1");
  CHECK(u.scheme == "http");
  CHECK(u.host == "::1");
  CHECK(u.port == "5000");
  CHECK(reg::split_url("https://auth.example.com/t").port == "443");
  CHECK(reg::split_url("not a url").scheme.empty());
}

TEST_CASE("ca_file_problem: what is wrong with a --ca-file, and what to give instead") {
  xb::test::TempDir dir("cafile");
  const std::string advice = "give the PEM file of the CA certificate that signed the registry's certificate";
  CHECK(reg::ca_file_problem(dir.path / "missing.pem") == "no such file; " + advice);
  CHECK(reg::ca_file_problem(dir.path) == "not a regular file; " + advice);
  xb::write_file_atomic(dir.path / "der.crt", std::string("\x30\x82\x01\x0a binary", 14));
  CHECK(reg::ca_file_problem(dir.path / "der.crt").find("holds no PEM certificate") == 0);
  xb::write_file_atomic(dir.path / "empty.pem", "");
  CHECK(reg::ca_file_problem(dir.path / "empty.pem").find("holds no PEM certificate") == 0);
  xb::write_file_atomic(dir.path / "ca.pem", "# bundle\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  CHECK(reg::ca_file_problem(dir.path / "ca.pem").empty());
}

TEST_CASE("RegistryError::cause: one cause for the same answer whichever blob asked") {
  reg::HttpResponse resp;
  resp.status = 503;
  resp.body = R"({"errors":[{"code":"UNAVAILABLE","message":"try later"}]})";
  reg::HttpRequest a, b;
  a.method = b.method = "PUT";
  a.url = "http://h:5000/v2/app/blobs/uploads/1?digest=sha256:aa";
  b.url = "http://h:5000/v2/app/blobs/uploads/2?digest=sha256:bb";
  auto ea = reg::error_from_response("uploading blob sha256:aa", a, resp);
  auto eb = reg::error_from_response("uploading blob sha256:bb", b, resp);
  CHECK(std::string(ea.what()) != eb.what());
  CHECK(ea.cause() == eb.cause());
  CHECK(ea.cause() == "http://h:5000 answered 503 Service Unavailable: UNAVAILABLE: try later");
  resp.status = 500;
  CHECK(reg::error_from_response("x", a, resp).cause() != ea.cause());
}

TEST_CASE("parse_image_arg: layouts, archives and references, one classifier") {
  using reg::SourceKind;
  using xb::Error;
  using xb::Exit;
  xb::test::TempDir tmp("imgarg");
  std::filesystem::create_directories(tmp.path / "lay:out");  // a ':' inside an existing path
  std::filesystem::create_directories(tmp.path / "layout");
  xb::write_file_atomic(tmp.path / "image.tar", "x");
  std::string dir = (tmp.path / "layout").string();

  auto a = reg::parse_image_arg("oci:" + dir + ":v1", "REF");
  CHECK(a.kind == SourceKind::layout);
  CHECK(a.path == tmp.path / "layout");
  CHECK(a.tag == "v1");
  a = reg::parse_image_arg(dir + ":v1", "REF");  // an existing dir with :TAG needs no prefix
  CHECK((a.kind == SourceKind::layout && a.tag == "v1"));
  a = reg::parse_image_arg((tmp.path / "lay:out").string(), "REF");  // an existing path is never split
  CHECK((a.kind == SourceKind::layout && a.tag.empty() && a.path == tmp.path / "lay:out"));
  a = reg::parse_image_arg((tmp.path / "image.tar").string() + ":1.0", "REF");
  CHECK((a.kind == SourceKind::archive && a.tag == "1.0"));
  a = reg::parse_image_arg("oci-archive:" + (tmp.path / "missing.tar").string(), "REF");
  CHECK((a.kind == SourceKind::archive && a.tag.empty()));

  a = reg::parse_image_arg("localhost:5000/team/app:1.0", "REF");
  CHECK(a.kind == SourceKind::registry);
  CHECK(a.ref.registry == "localhost:5000");
  CHECK(a.ref.repository == "team/app");
  CHECK(a.ref.tag == "1.0");
  a = reg::parse_image_arg("docker://127.0.0.1:5000/app@sha256:" + std::string(64, 'a'), "REF");
  CHECK((a.kind == SourceKind::registry && a.ref.digest == "sha256:" + std::string(64, 'a')));

  auto code_of = [](const std::string& text) {
    try {
      reg::parse_image_arg(text, "copy source");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("copy source") != std::string::npos);
      CHECK(std::string(e.what()).find("secret") == std::string::npos);
      return e.code();
    }
    return Exit::ok;
  };
  // A Docker Hub short name is looked up only when asked for with docker://: "nonexist" is a
  // missing path, not a network request.
  a = reg::parse_image_arg("docker://alpine:3.19", "REF");
  CHECK((a.kind == SourceKind::registry && a.ref.registry == "docker.io" && a.ref.repository == "library/alpine"));
  CHECK(code_of("alpine:3.19") == Exit::usage);
  CHECK(code_of("nonexist.tar") == Exit::usage);
  CHECK(code_of("team/app:1") == Exit::usage);
  CHECK(code_of("Not A Ref") == Exit::usage);
  CHECK(code_of("oci:") == Exit::usage);
  CHECK(code_of("") == Exit::usage);
  CHECK(code_of("user:secret@host/x") == Exit::usage);
}

