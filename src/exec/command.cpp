#include "exec/command.hpp"

#include "util/strings.hpp"

namespace xb {

std::string Command::display() const { return shell_display(argv); }

}  // namespace xb
