"""The per-platform compiler caches (issue 11, first part): ccache in masquerade mode for C/C++
and a GOCACHE per platform, under .xbuild/cache/<platform>-<key>/. A rebuild after the state's
build and output dirs are gone must get every compile from the cache, produce the same bytes,
and still run; platforms never share a cache; a codegen change starts a new one; --no-cache
and `[cache] enabled = false` use none. Real compilers, ccache and qemu-user: no mocks."""
import json
import shutil
from pathlib import Path

import pytest

from conftest import need, run

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/riscv64"]
QEMU = {"linux/arm64": "qemu-aarch64-static", "linux/riscv64": "qemu-riscv64-static"}
N_SOURCES = 30


def build_json(xbuild, project: Path, *extra) -> dict:
    p = run([xbuild, "-C", project, "build", "--platform", ",".join(PLATFORMS), "--json", *extra])
    result = json.loads(p.stdout)
    assert result["ok"], p.stdout
    return {r["platform"]: r for r in result["platforms"]}


def plan_json(xbuild, project: Path, *extra) -> dict:
    p = run([xbuild, "-C", project, "plan", "--platform", ",".join(PLATFORMS), "--json", *extra])
    return {r["platform"]: r for r in json.loads(p.stdout)["platforms"]}


def wipe_build_state(project: Path):
    """What a fresh checkout lacks: outputs, build dirs, source snapshots; only the cache stays."""
    for d in ("out", "build", "src", "oci"):
        shutil.rmtree(project / ".xbuild" / d, ignore_errors=True)


def run_output(platform: str, binary: Path) -> str:
    argv = [binary] if platform == "linux/amd64" else [need(QEMU[platform]), binary]
    return run(argv).stdout


def make_multi_file_project(root: Path) -> Path:
    """A C program of N_SOURCES+1 translation units built by make, objects in {build}."""
    root.mkdir()
    for i in range(N_SOURCES):
        (root / f"part{i:02d}.c").write_text(
            f'#include "parts.h"\nint part{i:02d}(int x) {{ return x * {i + 3} + {i}; }}\n')
    (root / "parts.h").write_text("".join(f"int part{i:02d}(int x);\n" for i in range(N_SOURCES)))
    calls = " + ".join(f"part{i:02d}(1)" for i in range(N_SOURCES))
    (root / "main.c").write_text(
        '#include <stdio.h>\n#include "parts.h"\n'
        '#if defined(__aarch64__)\n#define ARCH "aarch64"\n#elif defined(__riscv)\n#define ARCH "riscv64"\n'
        '#elif defined(__x86_64__)\n#define ARCH "x86_64"\n#else\n#define ARCH "unknown"\n#endif\n'
        f'int main(void) {{ printf("sum %d on " ARCH "\\n", {calls}); return 0; }}\n')
    objs = " ".join(f"$(BUILD)/part{i:02d}.o" for i in range(N_SOURCES))
    (root / "Makefile").write_text(
        "CC ?= cc\nCFLAGS ?= -O2\n"
        f"OBJS = $(BUILD)/main.o {objs}\n"
        "$(OUT)/many: $(OBJS)\n\t$(CC) $(CFLAGS) -static -o $@ $(OBJS)\n"
        "$(BUILD)/%.o: %.c parts.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
    (root / "xbuild.toml").write_text(
        'name = "many"\nlanguage = "c"\n'
        'build = ["make", "-C", "{src}", "-j{jobs}", "OUT={out}", "BUILD={build}"]\noutputs = ["many"]\n')
    return root


COMPILER = {"linux/amd64": "gcc", "linux/arm64": "aarch64-linux-gnu-gcc", "linux/riscv64": "riscv64-linux-gnu-gcc"}
EXPECTED_ARCH = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/riscv64": "riscv64"}


@pytest.mark.parametrize("kind", ["c-make", "multi-file"])
def test_warm_rebuild_hits_the_cache_on_every_platform_and_is_byte_identical(xbuild, project_copy, tmp_path, kind):
    need("ccache")
    if kind == "c-make":
        project, binary, compiles = project_copy("c-make"), "hello", 2
    else:
        project, binary, compiles = make_multi_file_project(tmp_path / "many"), "many", N_SOURCES + 1

    cold = build_json(xbuild, project)
    cold_bytes = {p: (project / ".xbuild/out" / p.replace("/", "_") / binary).read_bytes() for p in PLATFORMS}
    dirs = {p: cold[p]["cache"]["dir"] for p in PLATFORMS}
    for p in PLATFORMS:
        c = cold[p]["cache"]
        assert c["kind"] == "ccache", c
        # Every compile went through ccache (a fresh cache: all misses).
        assert (c["hits"], c["misses"]) == (0, compiles), (p, c)
        assert Path(c["dir"]).parent == project / ".xbuild" / "cache", c
        # The compiler CC names is ccache, masquerading under that name, first on PATH.
        assert (Path(c["dir"]) / "bin" / COMPILER[p]).resolve() == Path(need("ccache")).resolve(), p
    assert len(set(dirs.values())) == len(PLATFORMS), f"two platforms share a cache: {dirs}"

    wipe_build_state(project)
    warm = build_json(xbuild, project)
    for p in PLATFORMS:
        c = warm[p]["cache"]
        assert c["dir"] == dirs[p], (p, c, dirs[p])
        assert (c["hits"], c["misses"]) == (compiles, 0), (p, c)
        assert c["hit_rate"] == 1.0
        out = project / ".xbuild/out" / p.replace("/", "_") / binary
        assert out.read_bytes() == cold_bytes[p], f"{p}: the warm build's {binary} differs from the cold one's"
        printed = run_output(p, out)
        assert EXPECTED_ARCH[p] in printed, (p, printed)


def test_plain_summary_reports_ccache_hits(xbuild, project_copy):
    project = project_copy("c-make")
    run([xbuild, "-C", project, "build", "--platform", "linux/arm64"])
    wipe_build_state(project)
    p = run([xbuild, "-C", project, "build", "--platform", "linux/arm64", "--progress", "plain"])
    assert "xbuild: linux/arm64 ok (cross," in p.stderr and "ccache 2/2 hits)" in p.stderr, p.stderr


def test_plan_shows_cache_dir_and_kind_and_a_codegen_change_is_a_new_key(xbuild, project_copy):
    project = project_copy("c-make")
    before = plan_json(xbuild, project)
    for p in PLATFORMS:
        c = before[p]["cache"]
        assert c["kind"] == "ccache" and c["dir"].startswith(str(project / ".xbuild" / "cache")), c
        env = before[p]["env"]
        assert env["CCACHE_DIR"] == c["dir"] + "/ccache"
        assert env["PATH"].split(":")[0] == c["dir"] + "/bin"
        assert env["CC"] == ("gcc" if p == "linux/amd64" else env["XBUILD_TRIPLE"] + "-gcc"), "CC must stay the compiler"
    text = run([xbuild, "-C", project, "plan", "--platform", "linux/arm64"]).stdout
    assert f"cache:     ccache in {before['linux/arm64']['cache']['dir']}" in text, text
    assert not (project / ".xbuild" / "cache").exists(), "plan must create nothing"

    toml = project / "xbuild.toml"
    toml.write_text(toml.read_text().replace("[image]", '[env]\nCFLAGS = "-O1"\n\n[image]'))
    after = plan_json(xbuild, project)
    for p in PLATFORMS:
        assert after[p]["cache"]["dir"] != before[p]["cache"]["dir"], p
    # The new key is a cold cache: the -O1 objects are compiled, not taken from the -O2 ones.
    built = build_json(xbuild, project)
    assert all(built[p]["cache"]["misses"] == 2 and built[p]["cache"]["dir"] == after[p]["cache"]["dir"] for p in PLATFORMS), built


def test_max_size_is_passed_as_ccache_maxsize(xbuild, project_copy):
    project = project_copy("c-make")
    (project / "xbuild.toml").write_text((project / "xbuild.toml").read_text().replace(
        "[image]", '[cache]\nmax_size = "500M"\n\n[image]'))
    plans = plan_json(xbuild, project)
    assert all(plans[p]["env"]["CCACHE_MAXSIZE"] == "500M" for p in PLATFORMS)
    # ccache itself reads it so: its config as the build's environment sets it.
    env = plans["linux/arm64"]["env"]
    shown = run([need("ccache"), "-p"], env={"CCACHE_DIR": env["CCACHE_DIR"], "CCACHE_MAXSIZE": env["CCACHE_MAXSIZE"],
                                              "PATH": "/usr/bin:/bin"}).stdout
    assert "(environment) max_size = 500.0M" in shown, shown


def assert_uncached(xbuild, project: Path, *flags):
    plans = plan_json(xbuild, project, *flags)
    for p in PLATFORMS:
        assert plans[p]["cache"]["kind"] == "none" and plans[p]["cache"]["dir"] is None, plans[p]["cache"]
        env = plans[p]["env"]
        assert "CCACHE_DIR" not in env and ".xbuild/cache" not in env.get("PATH", ""), env
    built = build_json(xbuild, project, *flags)
    assert all("cache" not in built[p] for p in PLATFORMS), built
    assert not (project / ".xbuild" / "cache").exists(), "an uncached build created a cache dir"


def test_a_cache_dir_that_cannot_be_made_is_a_warning_and_an_uncached_build(xbuild, project_copy):
    project = project_copy("c-make")
    (project / ".xbuild").mkdir(exist_ok=True)
    (project / ".xbuild" / "cache").write_text("a file where the cache dir should be\n")
    p = run([xbuild, "-C", project, "build", "--platform", "linux/arm64", "--json"])
    result = json.loads(p.stdout)
    assert result["ok"], p.stdout
    assert "cache" not in result["platforms"][0], result["platforms"][0]
    assert "building without the compiler cache" in p.stderr and "cannot create the cache dir" in p.stderr, p.stderr
    log = (project / ".xbuild" / "logs" / "linux_arm64.log").read_text()
    assert "ccache" not in log, log
    out = project / ".xbuild" / "out" / "linux_arm64" / "hello"
    assert "ARM aarch64" in run([need("file"), out]).stdout
    assert "aarch64" in run_output("linux/arm64", out)


def test_no_cache_flag_uses_no_ccache(xbuild, project_copy):
    project = project_copy("c-make")
    assert_uncached(xbuild, project, "--no-cache")
    note = run([xbuild, "-C", project, "plan", "--platform", "linux/arm64", "--no-cache"]).stdout
    assert "cache note: off (--no-cache)" in note, note


def test_enabled_false_uses_no_ccache(xbuild, project_copy):
    project = project_copy("c-make")
    (project / "xbuild.toml").write_text((project / "xbuild.toml").read_text().replace(
        "[image]", "[cache]\nenabled = false\n\n[image]"))
    assert_uncached(xbuild, project)


@pytest.mark.parametrize("section, line_no, says", [
    ('[cache]\nenabled = "no"\n', 2, "'cache.enabled' must be true or false"),
    ('[cache]\nmax_size = "lots"\n', 2, "'cache.max_size' must be a size"),
    ('[cache]\nmax_size = 2\n', 2, "'cache.max_size' must be a size string"),
    ('[cache]\nmaxsize = "2G"\n', 2, "max_size"),
])
def test_bad_cache_value_is_a_usage_error_with_file_and_line(xbuild, tmp_path, section, line_no, says):
    project = tmp_path / "p"
    project.mkdir()
    head = 'name = "x"\nbuild = ["true"]\noutputs = ["x"]\n'
    (project / "xbuild.toml").write_text(head + section)
    p = run([xbuild, "-C", project, "plan"], check=False)
    assert p.returncode == 2, p.stderr
    assert f"xbuild.toml:{head.count(chr(10)) + line_no}:" in p.stderr and says in p.stderr, p.stderr


def test_go_gets_a_gocache_per_platform_and_the_rebuild_reuses_it(xbuild, project_copy):
    need("go")
    project = project_copy("go")
    toml = project / "xbuild.toml"
    # The example keeps its own GOCACHE in {build}: xbuild says so and adds none ...
    plans = plan_json(xbuild, project)
    assert all(plans[p]["cache"]["kind"] == "none" for p in PLATFORMS)
    assert any("GOCACHE is set by the project" in n for n in plans["linux/arm64"]["cache"]["notes"])
    # ... without it, each platform gets one, and `go build -x` shows what it compiles.
    text = toml.read_text().replace('[env]\nGOCACHE = "{build}/gocache"\n', "")
    toml.write_text(text.replace('build = ["go", "build",', 'build = ["go", "build", "-x",'))
    plans = plan_json(xbuild, project)
    gocaches = {p: plans[p]["env"]["GOCACHE"] for p in PLATFORMS}
    assert len(set(gocaches.values())) == len(PLATFORMS), gocaches
    for p in PLATFORMS:
        assert plans[p]["cache"]["kind"] == "gocache" and gocaches[p] == plans[p]["cache"]["dir"] + "/go-build"
        assert "GOMODCACHE" not in plans[p]["env"]

    def compiles(p):  # the compiler runs `go build -x` printed for this platform's build
        log = (project / ".xbuild" / "logs" / (p.replace("/", "_") + ".log")).read_text()
        return sum(1 for line in log.splitlines() if "/compile " in line and "-p main" in line)

    cold = build_json(xbuild, project)
    cold_bytes = {p: (project / ".xbuild/out" / p.replace("/", "_") / "hello").read_bytes() for p in PLATFORMS}
    for p in PLATFORMS:
        assert cold[p]["cache"]["kind"] == "gocache"
        assert any(Path(gocaches[p]).iterdir()), f"{p}: GOCACHE {gocaches[p]} is empty after the build"
        assert compiles(p) == 1, p
        # Go's own account: a cold cache reuses nothing and stores every action it ran.
        go = cold[p]["cache"]["go"]
        assert go["hits"] == 0 and go["misses"] > 0, (p, go)
    wipe_build_state(project)
    warm = build_json(xbuild, project)
    for p in PLATFORMS:
        assert compiles(p) == 0, f"{p}: main was compiled again instead of taken from GOCACHE"
        # ... and warm, nearly every action comes from the cache (the link step is run again).
        go = warm[p]["cache"]["go"]
        assert go["hits"] > 0 and go["misses"] <= 2 and go["hits"] > 10 * go["misses"], (p, go)
        out = project / ".xbuild/out" / p.replace("/", "_") / "hello"
        assert out.read_bytes() == cold_bytes[p], p


def test_cmake_through_the_generated_toolchain_file_is_cached(xbuild, project_copy):
    """CMake finds CC's first word on PATH, so the toolchain file (CMAKE_C/CXX_COMPILER) reaches
    the masquerade link unchanged."""
    project = project_copy("cxx-cmake")
    plats = ["linux/amd64", "linux/arm64"]

    def build():
        p = run([xbuild, "-C", project, "build", "--platform", ",".join(plats), "--json"])
        return {r["platform"]: r["cache"] for r in json.loads(p.stdout)["platforms"]}

    cold = build()
    cold_bytes = {p: (project / ".xbuild/out" / p.replace("/", "_") / "hello").read_bytes() for p in plats}
    wipe_build_state(project)
    warm = build()
    for p in plats:
        assert cold[p]["misses"] > 0 and cold[p]["hits"] == 0, (p, cold[p])
        assert (warm[p]["hits"], warm[p]["misses"]) == (cold[p]["misses"], 0), (p, warm[p])
        assert (project / ".xbuild/out" / p.replace("/", "_") / "hello").read_bytes() == cold_bytes[p], p


def test_a_compiler_upgrade_starts_a_new_cache(xbuild, project_copy, tmp_path):
    """The key holds the compiler's `--version`: a project descriptor puts a gcc first on PATH
    whose version line is read from a file, and changing that file changes the cache dir."""
    project = project_copy("c-make")
    bindir = tmp_path / "compiler"
    bindir.mkdir()
    (bindir / "version").write_text("gcc (Test) 12.2.0\n")
    gcc = bindir / "gcc"
    gcc.write_text(f'#!/bin/sh\n[ "$1" = --version ] && exec cat {bindir}/version\nexec /usr/bin/gcc "$@"\n')
    gcc.chmod(0o755)
    (project / "toolchains").mkdir()
    (project / "toolchains" / "mygcc.toml").write_text(
        f'languages = ["c"]\nnative = true\npath = ["{bindir}"]\n[env]\nCC = "gcc"\n')
    toml = project / "xbuild.toml"
    toml.write_text('toolchain = "mygcc"\n' + toml.read_text())

    def cache_dir():
        p = run([xbuild, "-C", project, "plan", "--platform", "linux/amd64", "--json"])
        plan = json.loads(p.stdout)["platforms"][0]
        assert plan["toolchain"] == "mygcc", plan
        return plan["cache"]["dir"]

    before = cache_dir()
    assert cache_dir() == before, "the same compiler must keep its cache"
    (bindir / "version").write_text("gcc (Test) 13.1.0\n")
    assert cache_dir() != before
    # And the build really compiles through ccache with that compiler behind the link.
    built = run([xbuild, "-C", project, "build", "--platform", "linux/amd64", "--json"])
    cache = json.loads(built.stdout)["platforms"][0]["cache"]
    assert cache["misses"] == 2, cache
