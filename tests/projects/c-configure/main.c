/* confcalc: prints what configure found and, with --check, compares it with what the running
 * program measures. A configure that ran the build machine's programs instead of the
 * target's (a cross build of a project that cannot cross-compile) fails the check. */
#include "calc.h"
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#ifndef WORDS_LITTLE_ENDIAN
#define WORDS_LITTLE_ENDIAN 0
#endif
#ifndef CHAR_IS_SIGNED
#define CHAR_IS_SIGNED 0
#endif

static int check(const char *what, long configured, long measured) {
  if (configured == measured) return 0;
  printf("MISMATCH %s: configure found %ld, the program measures %ld\n", what, configured, measured);
  return 1;
}

int main(int argc, char **argv) {
  struct utsname u;
  uname(&u);
  printf("confcalc: configured on %s, running on %s: long %d, pointer %d, %s endian, char %s, cbrt(27) = %.1f\n",
         CONFIGURE_MACHINE, u.machine, SIZEOF_LONG, SIZEOF_VOID_P, WORDS_LITTLE_ENDIAN ? "little" : "big",
         CHAR_IS_SIGNED ? "signed" : "unsigned", cube_root(27.0));
  if (argc > 1 && strcmp(argv[1], "--check") == 0) {
    int bad = check("sizeof(int)", SIZEOF_INT, measured_size("int")) + check("sizeof(long)", SIZEOF_LONG, measured_size("long")) +
              check("sizeof(long long)", SIZEOF_LONG_LONG, measured_size("long long")) +
              check("sizeof(void *)", SIZEOF_VOID_P, measured_size("void *")) +
              check("sizeof(size_t)", SIZEOF_SIZE_T, measured_size("size_t")) +
              check("byte order", WORDS_LITTLE_ENDIAN, measured_little_endian()) +
              check("char signedness", CHAR_IS_SIGNED, measured_char_signed()) +
              check("configure ran on this machine", 0, strcmp(CONFIGURE_MACHINE, u.machine) != 0);
    if (cube_root(27.0) < 2.999 || cube_root(27.0) > 3.001) bad += check("cbrt(27)", 3, (long)cube_root(27.0));
    if (bad) return 1;
    puts("confcalc: check ok");
  }
  return 0;
}
