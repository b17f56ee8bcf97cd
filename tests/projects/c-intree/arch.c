#include "arch.h"

#include <sys/utsname.h>

const char *built_for(void) {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__powerpc64__)
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__i386__)
  return "i386";
#else
  return "unknown";
#endif
}

const char *running_on(void) {
  static struct utsname u;
  if (uname(&u) != 0) return "unknown";
  return u.machine;
}
