#pragma once
// A command is a value: argv, environment additions and a working directory. Never a
// string glued together for a shell; when a project gives a script, argv is {"sh","-c",..}.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xb {

/// A process to run.
struct Command {
  std::vector<std::string> argv;               ///< argv[0] is looked up on PATH
  std::map<std::string, std::string> env;      ///< set on top of the inherited environment
  std::filesystem::path cwd;                   ///< "" = inherit
  /// Human-readable form, each argument quoted where needed (for plan and logs).
  std::string display() const;
};

}  // namespace xb
