// Config, manifest and index serialisation with Boost.JSON; objects keep insertion order,
// which is what makes these bytes the same on every run.

#include "oci/image.hpp"

#include "oci/media_types.hpp"
#include "util/error.hpp"

#include <boost/json.hpp>

#include <ctime>

namespace xb::oci {

namespace json = boost::json;

namespace {

std::vector<std::string> strings_of(const json::value* v) {
  std::vector<std::string> out;
  if (v && v->is_array())
    for (const auto& e : v->get_array())
      if (e.is_string()) out.emplace_back(e.get_string());
  return out;
}

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::string key_of(const std::string& kv) { return kv.substr(0, kv.find('=')); }

}  // namespace

RuntimeConfig RuntimeConfig::from_json(const json::object& o) {
  RuntimeConfig rc;
  rc.env = strings_of(o.if_contains("Env"));
  if (const auto* v = o.if_contains("Entrypoint"); v && v->is_array()) rc.entrypoint = strings_of(v);
  if (const auto* v = o.if_contains("Cmd"); v && v->is_array()) rc.cmd = strings_of(v);
  if (const auto* v = o.if_contains("WorkingDir"); v && v->is_string()) rc.workdir = v->get_string();
  if (const auto* v = o.if_contains("User"); v && v->is_string()) rc.user = v->get_string();
  if (const auto* v = o.if_contains("Labels"); v && v->is_object())
    for (const auto& [k, val] : v->get_object())
      if (val.is_string()) rc.labels[std::string(k)] = std::string(val.get_string());
  if (const auto* v = o.if_contains("ExposedPorts"); v && v->is_object())
    for (const auto& kv : v->get_object()) rc.exposed_ports.emplace_back(kv.key());
  return rc;
}

void RuntimeConfig::override_with(const std::vector<std::string>& env_, const std::vector<std::string>& entrypoint_,
                                  const std::vector<std::string>& cmd_, const std::string& workdir_, const std::string& user_,
                                  const std::map<std::string, std::string>& labels_, const std::vector<std::string>& ports_) {
  for (const auto& kv : env_) {
    if (kv.find('=') == std::string::npos || kv.front() == '=')
      fail(Exit::usage, "[image] env entry '{}' is not KEY=VALUE", kv);
    bool replaced = false;
    for (auto& old : env)
      if (key_of(old) == key_of(kv)) {
        old = kv;
        replaced = true;
      }
    if (!replaced) env.push_back(kv);
  }
  if (!entrypoint_.empty()) {
    entrypoint = entrypoint_;
    if (cmd_.empty()) cmd.reset();
  }
  if (!cmd_.empty()) cmd = cmd_;
  if (!workdir_.empty()) workdir = workdir_;
  if (!user_.empty()) user = user_;
  for (const auto& [k, v] : labels_) labels[k] = v;
  for (const auto& p : ports_) {
    std::string port = p.find('/') == std::string::npos ? p + "/tcp" : p;
    if (std::find(exposed_ports.begin(), exposed_ports.end(), port) == exposed_ports.end()) exposed_ports.push_back(port);
  }
}

std::string rfc3339(long long epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string make_config(const Platform& p, const std::string& created, const RuntimeConfig& rc,
                        const std::vector<std::string>& diff_ids, const json::array& history) {
  json::object cfg;
  if (!rc.env.empty()) cfg["Env"] = to_array(rc.env);
  if (rc.entrypoint) cfg["Entrypoint"] = to_array(*rc.entrypoint);
  if (rc.cmd) cfg["Cmd"] = to_array(*rc.cmd);
  if (!rc.workdir.empty()) cfg["WorkingDir"] = rc.workdir;
  if (!rc.user.empty()) cfg["User"] = rc.user;
  if (!rc.labels.empty()) {
    json::object l;
    for (const auto& [k, v] : rc.labels) l[k] = v;
    cfg["Labels"] = std::move(l);
  }
  if (!rc.exposed_ports.empty()) {
    json::object ports;
    for (const auto& port : rc.exposed_ports) ports[port] = json::object();
    cfg["ExposedPorts"] = std::move(ports);
  }
  json::object o;
  o["created"] = created;
  o["architecture"] = p.arch;
  o["os"] = p.os;
  if (!p.variant.empty()) o["variant"] = p.variant;
  o["config"] = std::move(cfg);
  json::object rootfs;
  rootfs["type"] = "layers";
  rootfs["diff_ids"] = to_array(diff_ids);
  o["rootfs"] = std::move(rootfs);
  o["history"] = history;
  return json::serialize(o);
}

std::string make_manifest(const Descriptor& config, const std::vector<Descriptor>& layers,
                          const std::map<std::string, std::string>& annotations) {
  json::object o;
  o["schemaVersion"] = 2;
  o["mediaType"] = media::k_manifest;
  o["config"] = to_json(config);
  json::array l;
  for (const auto& d : layers) l.push_back(to_json(d));
  o["layers"] = std::move(l);
  if (!annotations.empty()) {
    json::object a;
    for (const auto& [k, v] : annotations) a[k] = v;
    o["annotations"] = std::move(a);
  }
  return json::serialize(o);
}

std::string make_index(const std::vector<Descriptor>& manifests, const std::map<std::string, std::string>& annotations) {
  json::object o;
  o["schemaVersion"] = 2;
  o["mediaType"] = media::k_index;
  json::array m;
  for (const auto& d : manifests) m.push_back(to_json(d));
  o["manifests"] = std::move(m);
  if (!annotations.empty()) {
    json::object a;
    for (const auto& [k, v] : annotations) a[k] = v;
    o["annotations"] = std::move(a);
  }
  return json::serialize(o);
}

}  // namespace xb::oci
