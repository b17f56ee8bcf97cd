#pragma once
/* What confcalc knows of the machine it runs on, measured at run time. */
unsigned measured_size(const char *type);
int measured_little_endian(void);
int measured_char_signed(void);
double cube_root(double x);
