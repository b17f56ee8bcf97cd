#pragma once
/* The architecture this file was compiled for, from the compiler's own macros. */
const char *built_for(void);
/* What the kernel (or qemu-user) says the machine is. */
const char *running_on(void);
