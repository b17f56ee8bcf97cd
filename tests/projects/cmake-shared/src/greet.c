#include <stdio.h>
#include <sys/utsname.h>

/* Lives in libgreet.so.1: proves the program found its own library through $ORIGIN. */
void greet(const char *who) {
  struct utsname u;
  uname(&u);
  printf("hello %s from libgreet, running on %s\n", who, u.machine);
}
