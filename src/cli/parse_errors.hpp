#pragma once
// What xbuild says when its command line does not parse, kept apart from main.cpp so it is
// unit-tested: CLI11 throws one exception for the first problem it checks (not the first the
// user typed), echoes arguments verbatim (a misplaced `--creds alice:S3cretPW` included), and
// knows nothing of "did you mean". Here the problems are gathered, put in the order of the
// arguments they name, worded as xbuild's other errors are, and stripped of credentials.

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace xb::cli {

/// Which arguments secrets_in takes for passwords.
enum class SecretGuess {
  creds_only,        ///< only --creds values: for messages that quote what xbuild did (-t app:1.0 stays)
  user_pass_shapes,  ///< also any USER:PASSWORD-shaped argument: for messages that echo arguments
};

/// The passwords `args` carries: the value of every --creds (after its first ':', or whole
/// when it has none), and with SecretGuess::user_pass_shapes the part after ':' of any
/// argument shaped USER:PASSWORD (no '/', '@' or '=', and not HOST:PORT).
std::vector<std::string> secrets_in(const std::vector<std::string>& args, SecretGuess guess);

/// `message` with each of `secrets` (where it stands as a word of its own) and the password
/// of every USER:PASSWORD@HOST replaced by "***".
std::string redact(std::string message, const std::vector<std::string>& secrets);


/// The messages for a parse of `args` (argv without argv[0]) into `app` that threw `e`, each
/// without the "xbuild: error: " prefix, in the order of the arguments they are about, with
/// credentials redacted.
std::vector<std::string> describe_parse_error(const CLI::App& app, const CLI::ParseError& e,
                                              const std::vector<std::string>& args);

/// "xbuild build" for the deepest subcommand `app` parsed ("xbuild" when none).
std::string command_path(const CLI::App& app);

}  // namespace xb::cli
