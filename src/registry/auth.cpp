// Docker config parsing and credential helpers. A helper is run as
// `docker-credential-<name> get` with the server URL on stdin and answers JSON
// {"Username","Secret"}; it is run directly (no shell) through exec's capture(), with a pipe
// for each direction.

#include "registry/auth.hpp"

#include "exec/subprocess.hpp"
#include "registry/reference.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

#include <boost/json.hpp>

#include <cctype>
#include <cstdlib>
#include <filesystem>

namespace xb::registry {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

fs::path docker_config_file() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return fs::path(d) / "config.json";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".docker" / "config.json";
  return {};
}

// The keys a config may use for this registry, most specific first.
std::vector<std::string> config_keys(std::string_view registry) {
  if (registry == k_docker_hub)
    return {"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io",
            "https://registry-1.docker.io"};
  std::string r(registry);
  return {r, "https://" + r, "http://" + r};
}

// "https://host:5000/v1/" -> "host:5000", for matching auths keys written by other tools.
std::string normalise_key(std::string_view key) {
  std::string k(key);
  if (auto p = k.find("://"); p != std::string::npos) k = k.substr(p + 3);
  if (auto p = k.find('/'); p != std::string::npos) k = k.substr(0, p);
  return to_lower(k);
}

std::string server_url_for_helper(std::string_view registry) {
  return registry == k_docker_hub ? "https://index.docker.io/v1/" : std::string(registry);
}

// Runs `docker-credential-<helper> get`, writing `input` to its stdin; returns stdout.
Result<std::string> run_helper(const std::string& helper, const std::string& input) {
  std::string program = "docker-credential-" + helper;
  if (!find_program(program)) return Result<std::string>::failure(fmt::format("{} is not on PATH", program));
  CaptureOptions o;
  o.input = input;
  o.err = OutputTo::inherit;  // the helper's own complaints, never the secret (that is stdout)
  Captured c = capture(Command{{program, "get"}, {}, {}}, o);
  if (!c.ok()) {
    // The helper's stdout may say "credentials not found in native keychain": not secret.
    std::string first_line = c.output.substr(0, c.output.find('\n')).substr(0, 200);
    return Result<std::string>::failure(fmt::format("{} get failed: {}", program, first_line));
  }
  return std::move(c.output);
}

Credentials from_helper(const std::string& helper, std::string_view registry) {
  auto out = run_helper(helper, server_url_for_helper(registry));
  if (!out.ok()) {
    // "not found" from a store is normal: the user never logged in to this registry.
    if (out.error().find("not found") != std::string::npos) return {};
    fail(Exit::registry, "credential helper for {}: {}", registry, out.error());
  }
  Credentials c;
  try {
    auto v = json::parse(*out).as_object();
    std::string user = v.contains("Username") ? std::string(v.at("Username").as_string()) : "";
    std::string secret = v.contains("Secret") ? std::string(v.at("Secret").as_string()) : "";
    if (user == "<token>") c.identity_token = secret;
    else {
      c.username = user;
      c.secret = secret;
    }
  } catch (const std::exception&) {
    fail(Exit::registry, "credential helper docker-credential-{} printed something that is not JSON", helper);
  }
  c.source = "docker-credential-" + helper;
  return c;
}

}  // namespace

Credentials parse_creds_flag(std::string_view creds) {
  auto colon = creds.find(':');
  if (colon == std::string_view::npos || colon == 0)
    fail(Exit::usage, "--creds must be USER:PASSWORD (the password may be a token)");
  Credentials c;
  c.username = std::string(creds.substr(0, colon));
  c.secret = std::string(creds.substr(colon + 1));
  c.source = "--creds";
  return c;
}

Credentials docker_config_credentials(std::string_view registry) {
  fs::path file = docker_config_file();
  std::error_code ec;
  if (file.empty() || !fs::exists(file, ec)) return {};
  json::object cfg;
  try {
    cfg = json::parse(read_file(file)).as_object();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(Exit::usage, "{}: not valid JSON ({}); fix or remove it", file.string(), e.what());
  }
  auto keys = config_keys(registry);
  if (auto it = cfg.find("credHelpers"); it != cfg.end() && it->value().is_object()) {
    for (const auto& key : keys)
      for (const auto& [k, v] : it->value().as_object())
        if ((k == key || normalise_key(k) == normalise_key(key)) && v.is_string())
          return from_helper(std::string(v.as_string()), registry);
  }
  if (auto it = cfg.find("auths"); it != cfg.end() && it->value().is_object()) {
    for (const auto& key : keys) {
      for (const auto& [k, v] : it->value().as_object()) {
        if (!(k == key || normalise_key(k) == normalise_key(key)) || !v.is_object()) continue;
        const auto& entry = v.as_object();
        Credentials c;
        c.source = file.string();
        if (auto a = entry.find("identitytoken"); a != entry.end() && a->value().is_string() &&
                                                  !a->value().as_string().empty())
          c.identity_token = std::string(a->value().as_string());
        if (auto a = entry.find("auth"); a != entry.end() && a->value().is_string() && !a->value().as_string().empty()) {
          std::string decoded;
          try {
            decoded = base64_decode(std::string(a->value().as_string()));
          } catch (const Error&) {
            fail(Exit::usage, "{}: the auth entry for {} is not base64 of user:password", file.string(), k);
          }
          auto colon = decoded.find(':');
          if (colon == std::string::npos)
            fail(Exit::usage, "{}: the auth entry for {} is not base64 of user:password", file.string(), k);
          c.username = decoded.substr(0, colon);
          c.secret = decoded.substr(colon + 1);
        } else {
          if (auto u = entry.find("username"); u != entry.end() && u->value().is_string())
            c.username = std::string(u->value().as_string());
          if (auto p = entry.find("password"); p != entry.end() && p->value().is_string())
            c.secret = std::string(p->value().as_string());
        }
        if (!c.empty()) return c;
      }
    }
  }
  if (auto it = cfg.find("credsStore"); it != cfg.end() && it->value().is_string() && !it->value().as_string().empty())
    return from_helper(std::string(it->value().as_string()), registry);
  return {};
}

Credentials find_credentials(std::string_view registry, std::string_view creds_flag) {
  if (!creds_flag.empty()) return parse_creds_flag(creds_flag);
  return docker_config_credentials(registry);
}

std::vector<Challenge> parse_www_authenticate(std::string_view h) {
  std::vector<Challenge> out;
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
  };
  auto token = [&] {
    std::size_t s = i;
    while (i < h.size() && h[i] != ' ' && h[i] != '\t' && h[i] != '=' && h[i] != ',') ++i;
    return std::string(h.substr(s, i - s));
  };
  while (true) {
    skip_ws();
    if (i >= h.size()) break;
    std::string word = token();
    if (i < h.size() && h[i] == '=' && !out.empty()) {
      // A parameter of the current challenge.
      ++i;
      std::string value;
      if (i < h.size() && h[i] == '"') {
        ++i;
        while (i < h.size() && h[i] != '"') {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value += h[i++];
        }
        ++i;
      } else {
        std::size_t s = i;
        while (i < h.size() && h[i] != ',') ++i;
        value = std::string(trim(h.substr(s, i - s)));
      }
      out.back().params[to_lower(word)] = value;
    } else {
      out.push_back(Challenge{to_lower(word), {}});
    }
  }
  return out;
}

}  // namespace xb::registry
