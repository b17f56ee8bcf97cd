#include "arch.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  printf("hello from c: built for %s, running on %s\n", built_for(), running_on());
  /* --check: the self-test `xbuild test` runs on every platform. */
  if (argc > 1 && strcmp(argv[1], "--check") == 0) return strcmp(built_for(), "unknown") == 0;
  return 0;
}
