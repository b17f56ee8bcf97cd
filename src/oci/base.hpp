#pragma once
// Base images. `[image] base` is "scratch" (the default: our layer alone) or a local OCI
// layout: "oci:DIR" (the layout's only image), "oci:DIR:TAG" (by ref name) or
// "oci:DIR@sha256:..." (by digest of an index or manifest in it); an oci-archive tar works
// the same way as "oci-archive:FILE.tar[:TAG|@sha256:...]". Paths are relative to the
// project. For each target the base's matching platform is chosen (variant-aware:
// linux/arm/v7 never takes v6, arm64's "v8" equals no variant); a base lacking a target is
// an error, never a silently dropped platform.
//
// The base is read through BlobSource only. A registry base is meant to be pulled by the
// registry code into a cached local layout and then named here as "oci:CACHE@sha256:...";
// "oci:CACHE@sha256:...#REF" (written by pulled_base_text), which also carries the
// reference the user wrote, for the base.name annotation. Only a registry reference is
// recorded there: a local layout's or archive's path would make the digest depend on
// where the base happens to sit on the building machine.

#include "oci/layout.hpp"
#include "platform/platform.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xb::oci {

/// A parsed `base = "..."` value.
struct BaseSpec {
  std::string text;               ///< as written, for messages
  bool scratch = true;            ///< no base
  bool archive = false;           ///< `dir` is an oci-archive tar, not a layout directory
  std::filesystem::path dir;      ///< the layout directory or archive file (absolute)
  std::string tag;                ///< ref name, "" when none
  std::optional<Digest> digest;   ///< a pinned index or manifest digest
  std::string reference;          ///< the registry reference a pulled base came from, "" for a local one

  /// Parses "scratch", "oci:DIR", "oci:DIR:TAG", "oci:DIR@sha256:HEX" (or oci-archive:FILE...); relative to
  /// `project_dir`. Throws Error (Exit::usage) for anything else (registry bases are not
  /// supported here yet) naming the value.
  static BaseSpec parse(std::string_view text, const std::filesystem::path& project_dir);
};

/// The `base` text that names a registry base pulled into `layout` as `digest`, remembering `reference`.
std::string pulled_base_text(const std::filesystem::path& layout, const std::string& digest, const std::string& reference);

/// The part of a base image that goes under ours, for one platform.
struct BaseImage {
  Descriptor manifest;                ///< the chosen platform manifest
  std::vector<Descriptor> layers;     ///< its layers, bottom first
  std::vector<std::string> diff_ids;  ///< its rootfs.diff_ids
  boost::json::object config;         ///< its config's "config" object (Env, Entrypoint, ...)
  boost::json::array history;         ///< its history
};

/// Resolves a base per platform from one BlobSource.
class BaseResolver {
public:
  /// Opens the base's layout and finds its top descriptor; throws Error naming the base.
  explicit BaseResolver(const BaseSpec& spec);
  /// Opens a base from any blob source, starting at `top`.
  BaseResolver(std::string name, std::unique_ptr<BlobSource> source, Descriptor top);
  /// The image for `target`; throws Error naming the base, the target and what the base has.
  BaseImage for_platform(const Platform& target);
  /// Where the base's blobs are read from (to copy its layers).
  BlobSource& source() { return *m_source; }
  /// The index or manifest the base names.
  const Descriptor& top() const { return m_top; }
  /// The base as the user wrote it (a pulled base: its registry reference).
  const std::string& name() const { return m_name; }
  /// The registry reference to record as base.name; "" for a local layout or archive.
  const std::string& reference() const { return m_reference; }

private:
  std::string m_name;
  std::string m_reference;
  std::unique_ptr<BlobSource> m_source;
  Descriptor m_top;
};

}  // namespace xb::oci
