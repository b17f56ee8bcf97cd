#pragma once
// The OCI media types xbuild writes and reads, in one place. Docker's v2 schema 2 types are
// listed only so a base image from a Docker-built layout is recognised.

#include <string_view>

namespace xb::oci::media {

inline constexpr std::string_view k_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view k_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view k_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view k_layer_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view k_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view k_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The OCI 1.1 empty descriptor's media type and bytes: the config of artifacts (SBOM referrers, caches).
inline constexpr std::string_view k_empty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view k_empty_bytes = "{}";
inline constexpr std::string_view k_layout_file = R"({"imageLayoutVersion":"1.0.0"})";

inline constexpr std::string_view k_docker_list = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view k_docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";

/// True for an OCI index or a Docker manifest list.
inline bool is_index(std::string_view t) { return t == k_index || t == k_docker_list; }
/// True for an OCI image manifest or a Docker v2 schema 2 manifest.
inline bool is_manifest(std::string_view t) { return t == k_manifest || t == k_docker_manifest; }

}  // namespace xb::oci::media

namespace xb::oci::annotation {

inline constexpr std::string_view k_ref_name = "org.opencontainers.image.ref.name";
inline constexpr std::string_view k_created = "org.opencontainers.image.created";
inline constexpr std::string_view k_source = "org.opencontainers.image.source";
inline constexpr std::string_view k_revision = "org.opencontainers.image.revision";
inline constexpr std::string_view k_base_name = "org.opencontainers.image.base.name";
inline constexpr std::string_view k_base_digest = "org.opencontainers.image.base.digest";
inline constexpr std::string_view k_title = "org.opencontainers.image.title";

}  // namespace xb::oci::annotation
