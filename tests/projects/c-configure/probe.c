#include "calc.h"

#include <stddef.h>
#include <string.h>

unsigned measured_size(const char *type) {
  if (strcmp(type, "int") == 0) return sizeof(int);
  if (strcmp(type, "long") == 0) return sizeof(long);
  if (strcmp(type, "long long") == 0) return sizeof(long long);
  if (strcmp(type, "void *") == 0) return sizeof(void *);
  return sizeof(size_t);
}

int measured_little_endian(void) {
  unsigned x = 1;
  return *(unsigned char *)&x;
}

int measured_char_signed(void) { return (char)-1 < 0; }
