#include "calc.h"
#include "config.h"

#include <math.h>

double cube_root(double x) {
#ifdef HAVE_CBRT
  return cbrt(x);
#else
  return pow(x, 1.0 / 3.0);
#endif
}
