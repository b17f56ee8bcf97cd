#pragma once
// The one place a config Project becomes the oci stage's ImageSpec: oci sees the [image]
// values and outputs it needs, never the whole project (see docs/ARCHITECTURE.md). The
// `build -o` value is parsed here too, since its attributes (push, compression) are cli
// choices layered over the same [image] values, and oci only ever sees a type and a path.

#include "config/project.hpp"
#include "oci/compress.hpp"
#include "oci/export.hpp"
#include "oci/image_spec.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb::cli {

/// The [image] section, outputs, name and location of `project`.
oci::ImageSpec image_spec_of(const Project& project);

/// Whether the image is pushed, which makes a name necessary.
enum class Pushing { yes, no };

/// The image name a project gets under a repository (XBUILD_REPO, `resolve -t REPO`): its
/// `name`, else its directory's name, lowercased.
std::string image_name_of(const Project& project);

/// The -t values with the default repository of $XBUILD_REPO (as ko's KO_DOCKER_REPO): a
/// `:TAG` becomes XBUILD_REPO/<name>:TAG, where <name> is the project's `name` (default: its
/// directory's name), lowercased; with Pushing::yes and neither -t nor [image] tags,
/// XBUILD_REPO/<name>:latest. Error(usage) for a `:TAG` without XBUILD_REPO.
std::vector<std::string> resolve_tags(const std::vector<std::string>& tags, const Project& project, Pushing pushing);

/// Where a build's -o sends the result (stdout: only an oci-archive or docker archive, the
/// caller streams it).
enum class OutputSink { path, stdout_stream };

/// A parsed `build -o` value.
struct BuildOutput {
  oci::OutputSpec spec;                         ///< type and dest; dest empty: the default layout
  OutputSink sink = OutputSink::path;           ///< stdout_stream for type=oci-archive|docker,dest=-
  Pushing push = Pushing::no;                   ///< yes (type=registry, type=image,push=true): as --push
  std::optional<oci::Compression> compression;  ///< compression=gzip|zstd|none
};

/// Parses "type=oci|oci-archive|docker|local,dest=PATH", "type=registry",
/// "type=image[,push=true]", each with an optional compression=, or a bare path
/// (type=local). dest=- is stdout and only for the archives (oci-archive, docker). Throws Error (Exit::usage) naming --output and the bad attribute.
BuildOutput parse_build_output(std::string_view text);

}  // namespace xb::cli
