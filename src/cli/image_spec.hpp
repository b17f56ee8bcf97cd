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
#include <string_view>

namespace xb::cli {

/// The [image] section, outputs, name and location of `project`.
oci::ImageSpec image_spec_of(const Project& project);

/// Where a build's -o sends the result (stdout: only an oci-archive, the caller streams it).
enum class OutputSink { path, stdout_stream };

/// Whether -o asks for a push (type=registry, type=image,push=true).
enum class OutputPush { no, yes };

/// A parsed `build -o` value.
struct BuildOutput {
  oci::OutputSpec spec;                         ///< type and dest; dest empty: the default layout
  OutputSink sink = OutputSink::path;           ///< stdout_stream for type=oci-archive,dest=-
  OutputPush push = OutputPush::no;             ///< yes: behave as --push
  std::optional<oci::Compression> compression;  ///< compression=gzip|zstd|none
};

/// Parses "type=oci|oci-archive|local,dest=PATH", "type=registry", "type=image[,push=true]",
/// each with an optional compression=, or a bare path (type=local). dest=- is stdout and
/// only for oci-archive. Throws Error (Exit::usage) naming --output and the bad attribute.
BuildOutput parse_build_output(std::string_view text);

}  // namespace xb::cli
