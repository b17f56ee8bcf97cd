#include "arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Dynamically linked against libc and libm: the image needs the loader and both libraries. */
int main(int argc, char **argv) {
  double x = argc > 1 ? atof(argv[1]) : 2.0;  /* a run-time value, so sqrt is really called */
  printf("hello from dynamic c: built for %s, running on %s, sqrt(%g) = %.4f\n", built_for(), running_on(), x, sqrt(x));
  return 0;
}
