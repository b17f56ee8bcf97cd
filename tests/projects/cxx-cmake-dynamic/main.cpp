#include <sys/utsname.h>

#include <iostream>
#include <string>

static std::string built_for() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "other";
#endif
}

int main() {
  utsname u{};
  uname(&u);
  std::cout << "hello from c++: built for " << built_for() << ", running on " << u.machine << "\n";
  return 0;
}
