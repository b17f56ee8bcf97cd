// Parse errors in xbuild's words (see parse_errors.hpp). CLI11 stops at the first problem its
// own phases meet (conversions and validators, then requirements, then leftover arguments),
// so a bad value typed after an unknown option is reported first; and the leftovers of a
// subcommand that falls through to its parent come out in reverse. Each problem is therefore
// located in argv (the option named by CLI11's "--name: ..." message, each leftover
// argument) and the messages are sorted by that position.

#include "cli/parse_errors.hpp"

#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <numeric>
#include <set>

namespace xb::cli {

namespace {

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

/// Replaces `secret` where it is not part of a longer word.
std::string replace_word(std::string s, std::string_view secret) {
  if (secret.empty()) return s;
  std::string out;
  std::size_t at = 0;
  for (std::size_t i; (i = s.find(secret, at)) != std::string::npos;) {
    bool left = i == 0 || !is_word_char(s[i - 1]) || !is_word_char(secret.front());
    std::size_t end = i + secret.size();
    bool right = end >= s.size() || !is_word_char(s[end]) || !is_word_char(secret.back());
    out.append(s, at, i - at);
    out += left && right ? std::string("***") : std::string(secret);
    at = end;
  }
  out.append(s, at);
  return out;
}

/// The password of each USER:PASSWORD@ (a URL's or a reference's user info) becomes ***.
std::string redact_user_info(std::string s) {
  for (std::size_t at = s.find('@'); at != std::string::npos; at = s.find('@', at + 1)) {
    std::size_t start = at;
    while (start > 0 && std::string_view(" \t\n'\"`/,()[]<>").find(s[start - 1]) == std::string_view::npos) --start;
    std::size_t colon = s.find(':', start);
    if (colon == std::string::npos || colon >= at || colon + 1 == at) continue;
    if (std::string_view(s).substr(colon + 1, at - colon - 1) == "***") continue;
    s.replace(colon + 1, at - colon - 1, "***");
    at = colon + 4;
  }
  return s;
}

/// The parsed subcommands from `app` down, `app` first.
std::vector<const CLI::App*> parsed_chain(const CLI::App& app) {
  std::vector<const CLI::App*> chain{&app};
  while (!chain.back()->get_subcommands().empty()) chain.push_back(chain.back()->get_subcommands().front());
  return chain;
}

/// Every long option name (with --) of the chain's commands.
std::vector<std::string> option_names(const std::vector<const CLI::App*>& chain) {
  std::vector<std::string> names;
  for (const auto* a : chain)
    for (const auto* opt : a->get_options())
      for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* s : app.get_subcommands(std::function<bool(const CLI::App*)>{}))
    if (!s->get_group().empty()) names.push_back(s->get_name());  // hidden commands (group "") are not suggested
  return names;
}

/// One problem and the index in args of the argument it is about (args.size() if unknown).
struct Problem {
  std::size_t position;
  std::string message;
};

/// "--name" of an "--name: ..." message, when it names an option of the chain.
const CLI::Option* option_of(const std::vector<const CLI::App*>& chain, std::string_view message) {
  if (message.empty() || message.front() != '-') return nullptr;
  std::string name(message.substr(0, message.find(':')));
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    if (const auto* opt = (*it)->get_option_no_throw(name)) return opt;
  return nullptr;
}

/// Takes the first unused index of args whose text (up to an '=' for options) satisfies `match`.
std::size_t take_position(const std::vector<std::string>& args, std::set<std::size_t>& used,
                          const std::function<bool(const std::string&)>& match) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (used.count(i) == 0 && match(args[i])) {
      used.insert(i);
      return i;
    }
  }
  return args.size();
}

}  // namespace

std::vector<std::string> secrets_in(const std::vector<std::string>& args, SecretGuess guess) {
  std::vector<std::string> secrets;
  auto add_value = [&](std::string_view v) {
    auto colon = v.find(':');
    std::string_view pw = colon == std::string_view::npos ? v : v.substr(colon + 1);
    if (!pw.empty()) secrets.emplace_back(pw);
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--creds" && i + 1 < args.size()) add_value(args[i + 1]);
    else if (a.substr(0, 8) == "--creds=") add_value(a.substr(8));
    if (guess == SecretGuess::creds_only) continue;
    auto colon = a.find(':');
    if (colon == std::string_view::npos || colon == 0 || a.front() == '-') continue;
    if (a.find_first_of("/@=") != std::string_view::npos) continue;
    std::string_view after = a.substr(colon + 1);
    if (after.empty() || all_digits(after)) continue;  // HOST:PORT
    secrets.emplace_back(after);
  }
  // Longest first, so a password that contains another is replaced whole.
  std::sort(secrets.begin(), secrets.end(), [](const auto& x, const auto& y) { return x.size() > y.size(); });
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  return secrets;
}

std::string redact(std::string message, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) message = replace_word(std::move(message), s);
  return redact_user_info(std::move(message));
}

std::string command_path(const CLI::App& app) {
  std::vector<std::string> names{"xbuild"};
  auto chain = parsed_chain(app);
  for (std::size_t i = 1; i < chain.size(); ++i) names.push_back(chain[i]->get_name());
  return join(names, " ");
}

std::vector<std::string> describe_parse_error(const CLI::App& app, const CLI::ParseError& e,
                                              const std::vector<std::string>& args) {
  auto chain = parsed_chain(app);
  std::vector<std::string> leftovers = app.remaining(true);
  std::vector<Problem> problems;
  std::set<std::size_t> used;

  const CLI::App& last = *chain.back();
  bool no_command = dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && last.get_subcommands().empty() &&
                    last.get_require_subcommand_min() > 0;
  if (no_command) {
    // xbuild bulid: the word is a leftover of the command, which only takes subcommands.
    std::vector<std::string> names = subcommand_names(last);
    std::string path = command_path(app);
    auto word = std::find_if(leftovers.begin(), leftovers.end(), [](const std::string& s) { return s.empty() || s[0] != '-'; });
    if (word == leftovers.end()) {
      problems.push_back({args.size(), chain.size() == 1 ? std::string("a command is required, e.g. xbuild build (see xbuild --help)")
                                                         : fmt::format("'{}' needs a subcommand: {}", path, join(names, ", "))});
    } else {
      std::string guess = closest_name(*word, names);
      std::size_t at = take_position(args, used, [&](const std::string& a) { return a == *word; });
      problems.push_back({at, guess.empty() ? fmt::format("unknown command '{}' (see xbuild --help)", *word)
                                            : fmt::format("unknown command '{}'; did you mean '{}'?", *word, guess)});
      leftovers.clear();  // the rest belongs to the command that was meant
    }
  } else if (dynamic_cast<const CLI::ExtrasError*>(&e) == nullptr) {
    std::string message = e.what();
    std::size_t at = args.size();
    if (const auto* opt = option_of(chain, message))
      at = take_position(args, used, [&](const std::string& a) { return opt->check_name(a.substr(0, a.find('='))); });
    problems.push_back({at, message});
  }

  std::vector<std::string> known = option_names(chain);
  for (std::size_t k = 0; k < leftovers.size(); ++k) {
    const std::string& left = leftovers[k];
    std::size_t at = take_position(args, used, [&](const std::string& a) { return a == left; });
    if (!left.empty() && left[0] == '-') {
      std::string name = left.substr(0, left.find('='));
      std::string guess = name.size() > 2 ? closest_name(name, known) : std::string();
      if (guess == name) {
        // An option of the command typed before it (xbuild --creds U:P build): its value,
        // if it takes one, is the next leftover and is not a problem of its own.
        const CLI::Option* opt = option_of(chain, name);
        problems.push_back({at, fmt::format("option '{}' goes after the command: {} {} ...", name, command_path(app), name)});
        if (opt != nullptr && opt->get_items_expected_min() > 0 && left.find('=') == std::string::npos && k + 1 < leftovers.size()) {
          take_position(args, used, [&](const std::string& a) { return a == leftovers[k + 1]; });
          ++k;
        }
        continue;
      }
      problems.push_back({at, guess.empty() ? fmt::format("unknown option '{}'", name)
                                            : fmt::format("unknown option '{}'; did you mean '{}'?", name, guess)});
    } else {
      problems.push_back({at, fmt::format("unexpected argument '{}'", left)});
    }
  }

  std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) { return a.position < b.position; });
  std::vector<std::string> secrets = secrets_in(args, SecretGuess::user_pass_shapes);
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(redact(p.message, secrets));
  return out;
}

}  // namespace xb::cli
