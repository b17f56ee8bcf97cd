// `xbuild completion bash|zsh|fish`: a shell completion script, written from the CLI11 app
// itself (its commands, their options and descriptions), so it cannot fall behind the
// flags. Each script finds the command as the first word that is not an option (skipping
// the values of -C and -f), offers that command's options and subcommands, and completes the
// values of --platform (the platform table) and --progress; anything else falls back to file
// names. Hidden commands and options (group "") are left out.

#include "cli/commands.hpp"
#include "platform/platform.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace xb::cli {

namespace {

/// What a script needs to know about one command.
struct CommandWords {
  std::string name;                 ///< "" for xbuild itself
  std::string description;
  std::vector<std::string> words;   ///< its options (--long and -s) and subcommands
  std::vector<const CLI::Option*> options;
  std::vector<const CLI::App*> subcommands;
};

bool hidden(const CLI::App* a) { return a->get_group().empty(); }

std::string first_line_of(std::string_view s) { return std::string(s.substr(0, s.find('\n'))); }

CommandWords words_of(const CLI::App& app, std::string name) {
  CommandWords c{std::move(name), app.get_description(), {}, {}, {}};
  for (const auto* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;
    c.options.push_back(opt);
    for (const auto& l : opt->get_lnames()) c.words.push_back("--" + l);
    for (const auto& s : opt->get_snames()) c.words.push_back("-" + s);
  }
  for (const auto* sub : app.get_subcommands(std::function<bool(const CLI::App*)>{})) {
    if (hidden(sub)) continue;
    c.subcommands.push_back(sub);
    c.words.push_back(sub->get_name());
  }
  return c;
}

/// xbuild itself, then every visible command (and, for rootfs, its subcommands' options).
std::vector<CommandWords> all_commands(const CLI::App& app) {
  std::vector<CommandWords> out{words_of(app, "")};
  for (const auto* sub : out.front().subcommands) {
    CommandWords c = words_of(*sub, sub->get_name());
    for (const auto* nested : c.subcommands)
      for (auto& w : words_of(*nested, nested->get_name()).words)
        if (std::find(c.words.begin(), c.words.end(), w) == c.words.end()) c.words.push_back(w);
    out.push_back(std::move(c));
  }
  return out;
}

/// What --platform takes: every known platform, and `cluster` (the Kubernetes nodes' platforms).
std::vector<std::string> platform_names() {
  auto names = split(known_platforms(), ',');
  names.push_back("cluster");
  return names;
}

const char* k_progress_values = "auto plain tty json quiet";

std::string bash_script(const CLI::App& app) {
  std::string cases;
  for (const auto& c : all_commands(app))
    cases += fmt::format("    {}) words={} ;;\n", c.name.empty() ? "''" : c.name, shell_quote(join(c.words, " ")));
  return fmt::format(R"(# bash completion for xbuild: source <(xbuild completion bash)
_xbuild() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} cmd= words i
  case $prev in
    --platform|--platforms) COMPREPLY=($(compgen -W {} -- "$cur")); return ;;
    --progress) COMPREPLY=($(compgen -W '{}' -- "$cur")); return ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${{COMP_WORDS[i]}} in
      -C|--directory|-f|--file) ((i++)) ;;
      -*) ;;
      *) cmd=${{COMP_WORDS[i]}}; break ;;
    esac
  done
  case $cmd in
{}    *) words= ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _xbuild xbuild
)",
                     shell_quote(join(platform_names(), " ")), k_progress_values, cases);
}

std::string zsh_script(const CLI::App& app) {
  std::string cases;
  for (const auto& c : all_commands(app)) {
    std::vector<std::string> quoted;
    for (const auto& w : c.words) quoted.push_back(shell_quote(w));
    cases += fmt::format("    {}) compadd -- {} ;;\n", c.name.empty() ? "''" : c.name, join(quoted, " "));
  }
  std::vector<std::string> platforms;
  for (const auto& p : platform_names()) platforms.push_back(shell_quote(p));
  return fmt::format(R"(#compdef xbuild
# zsh completion for xbuild: source <(xbuild completion zsh), after compinit
_xbuild() {{
  local cmd= i
  case ${{words[CURRENT-1]}} in
    --platform|--platforms) compadd -- {}; return ;;
    --progress) compadd -- {}; return ;;
  esac
  for ((i = 2; i < CURRENT; i++)); do
    case ${{words[i]}} in
      -C|--directory|-f|--file) ((i++)) ;;
      -*) ;;
      *) cmd=${{words[i]}}; break ;;
    esac
  done
  case $cmd in
{}  esac
  _files
}}
compdef _xbuild xbuild
)",
                     join(platforms, " "), k_progress_values, cases);
}

/// A fish single-quoted string ('\' and '\'' escaped).
std::string fish_quote(std::string_view s) { return "'" + replace_all(replace_all(std::string(s), "\\", "\\\\"), "'", "\\'") + "'"; }

std::string fish_script(const CLI::App& app) {
  std::string out = "# fish completion for xbuild: xbuild completion fish | source\n";
  auto commands = all_commands(app);
  std::vector<std::string> names;
  for (const auto* s : commands.front().subcommands) names.push_back(s->get_name());
  std::string all = join(names, " ");
  auto add_options = [&](const CommandWords& c, const std::string& condition) {
    for (const auto* opt : c.options) {
      std::string line = "complete -c xbuild";
      if (!condition.empty()) line += " -n " + fish_quote(condition);
      for (const auto& l : opt->get_lnames()) line += " -l " + l;
      for (const auto& s : opt->get_snames()) line += " -s " + s;
      if (opt->get_items_expected_min() > 0) line += " -r";
      if (opt->check_lname("platform")) line += " -f -a " + fish_quote(join(platform_names(), " "));
      if (opt->check_lname("progress")) line += std::string(" -f -a '") + k_progress_values + "'";
      out += line + " -d " + fish_quote(first_line_of(opt->get_description())) + "\n";
    }
  };
  add_options(commands.front(), "");
  for (std::size_t i = 1; i < commands.size(); ++i) {
    const auto& c = commands[i];
    out += fmt::format("complete -c xbuild -f -n {} -a {} -d {}\n", fish_quote("not __fish_seen_subcommand_from " + all),
                       c.name, fish_quote(first_line_of(c.description)));
    std::string in = "__fish_seen_subcommand_from " + c.name;
    add_options(c, in);
    for (const auto* nested : c.subcommands) {
      out += fmt::format("complete -c xbuild -f -n {} -a {} -d {}\n", fish_quote(in), nested->get_name(),
                         fish_quote(first_line_of(nested->get_description())));
      add_options(words_of(*nested, nested->get_name()), in);
    }
  }
  return out;
}

}  // namespace

void register_completion(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("completion", "Print a shell completion script: bash, zsh or fish");
  cmd->add_option("shell", *shell, "bash | zsh | fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  cmd->footer("bash: source <(xbuild completion bash)   zsh: source <(xbuild completion zsh)   "
              "fish: xbuild completion fish | source");
  const CLI::App* root = &app;  // the app outlives its subcommands' callbacks
  cmd->callback([shell, root] {
    if (*shell == "bash") fmt::print("{}", bash_script(*root));
    else if (*shell == "zsh") fmt::print("{}", zsh_script(*root));
    else fmt::print("{}", fish_script(*root));
  });
}

}  // namespace xb::cli
