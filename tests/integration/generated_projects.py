"""Projects the tests and benchmarks generate instead of keeping in tests/projects: plain
Python without pytest, so scripts/bench_cache.py can use them with any python3."""
from pathlib import Path

N_SOURCES = 30


def make_multi_file_project(root: Path, sources: int = N_SOURCES, funcs: int = 0) -> Path:
    """A C program of `sources`+1 translation units built by make, objects in {build}; `funcs`
    extra functions per file make each compile cost more (scripts/bench_cache.py)."""
    root.mkdir()
    for i in range(sources):
        extra = "".join(
            f"static int f{i}_{j}(int x) {{ int s = 0; for (int k = 0; k < x; ++k) s += (k * {j + 1}) ^ (s >> 3); return s; }}\n"
            for j in range(funcs))
        calls = "".join(f" + f{i}_{j}(x)" for j in range(funcs))
        (root / f"part{i:02d}.c").write_text(
            f'#include "parts.h"\n{extra}int part{i:02d}(int x) {{ return x * {i + 3} + {i}{calls}; }}\n')
    (root / "parts.h").write_text("".join(f"int part{i:02d}(int x);\n" for i in range(sources)))
    calls = " + ".join(f"part{i:02d}(1)" for i in range(sources))
    (root / "main.c").write_text(
        '#include <stdio.h>\n#include "parts.h"\n'
        '#if defined(__aarch64__)\n#define ARCH "aarch64"\n#elif defined(__riscv)\n#define ARCH "riscv64"\n'
        '#elif defined(__x86_64__)\n#define ARCH "x86_64"\n#else\n#define ARCH "unknown"\n#endif\n'
        f'int main(void) {{ printf("sum %d on " ARCH "\\n", {calls}); return 0; }}\n')
    objs = " ".join(f"$(BUILD)/part{i:02d}.o" for i in range(sources))
    (root / "Makefile").write_text(
        "CC ?= cc\nCFLAGS ?= -O2\n"
        f"OBJS = $(BUILD)/main.o {objs}\n"
        "$(OUT)/many: $(OBJS)\n\t$(CC) $(CFLAGS) -static -o $@ $(OBJS)\n"
        "$(BUILD)/%.o: %.c parts.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
    (root / "xbuild.toml").write_text(
        'name = "many"\nlanguage = "c"\n'
        'build = ["make", "-C", "{src}", "-j{jobs}", "OUT={out}", "BUILD={build}"]\noutputs = ["many"]\n')
    return root
