#!/usr/bin/env python3
"""Fails when a file in src/<stage>/ includes a stage or a third-party library its stage may
not use (the arrows of docs/ARCHITECTURE.md), or when that document's layers table states
other arrows than the build uses.

The allowed lists are not kept here: they are the `layers` table of src/meson.build, which
also decides what each stage's static library is built with. A stage may include itself, the
stages it lists and, transitively, everything those may include; a third-party header only
when the stage lists that library. Run by every build (a custom target) and by `meson test`;
`--self-test` proves on a planted tree that it catches violations.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

# Third-party library (a variable of meson.build) -> how its headers are included.
HEADERS = {
    "fmt": [r"fmt/"],
    "openssl": [r"openssl/"],
    "tomlpp": [r"toml\+\+/"],
    "archive": [r"archive\.h$", r"archive_entry\.h$"],
    "zlib": [r"zlib\.h$"],
    "zstd": [r"zstd\.h$"],
    "curl": [r"curl/"],
    "cli11": [r"CLI/"],
    "boost_json": [r"boost/json"],
    "boost": [r"boost/(?!json)"],  # Boost.Process (and what it pulls in) for exec/
    "doctest": [r"doctest/"],
    "yamlcpp": [r"yaml-cpp/"],
    "threads": [],  # no header of its own (<thread> is the standard library's)
}

# Temporary exceptions: known violations that other helpers of issue 14 are fixing right now.
# Each is (file, what it may use for now): a stage name, or a library of HEADERS. Delete the
# line once the fix is merged; the checker says when an exception is no longer needed.
TEMPORARY: set = set()  # (file, stage or library) pairs allowed while a fix is in flight; none now

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^">]+)[">]', re.M)
# A declaration that names CLI11 without including it (namespace CLI { class App; }).
CLI11_USE = re.compile(r"\bnamespace\s+CLI\b|\bCLI::")
ROW = re.compile(r"\[\s*'(\w+)'\s*,\s*\[([^\]]*)\]\s*,\s*\[([^\]]*)\]\s*\]")


def read_layers(meson: Path) -> dict[str, tuple[list[str], list[str]]]:
    text = meson.read_text()
    start = text.find("layers = [")
    if start < 0:
        raise SystemExit(f"check_layers: {meson}: no `layers = [...]` table")
    layers: dict[str, tuple[list[str], list[str]]] = {}
    for m in ROW.finditer(text, start):
        names = lambda s: re.findall(r"'(\w+)'", s)  # noqa: E731
        stage, lower, third = m.group(1), names(m.group(2)), names(m.group(3))
        for s in lower:
            if s not in layers:
                raise SystemExit(f"check_layers: {meson}: {stage} uses {s}, which is not a stage listed above it")
        for t in third:
            if t not in HEADERS:
                raise SystemExit(f"check_layers: {meson}: {stage} lists '{t}', unknown to check_layers.py HEADERS")
        layers[stage] = (lower, third)
    if not layers:
        raise SystemExit(f"check_layers: {meson}: the layers table has no rows")
    return layers


def closure(layers: dict[str, tuple[list[str], list[str]]]) -> dict[str, set[str]]:
    """Each stage -> itself and every stage it may include (transitively)."""
    allowed: dict[str, set[str]] = {}
    for stage, (lower, _) in layers.items():  # rows are in build order
        allowed[stage] = {stage}.union(*(allowed[s] for s in lower))
    return allowed


def library_of(header: str) -> str | None:
    for lib, patterns in HEADERS.items():
        if any(re.match(p, header) for p in patterns):
            return lib
    return None


DOC_ROW = re.compile(r"^\| (\w+) \| ([^|]*) \|", re.M)


def check_docs(root: Path, layers: dict[str, tuple[list[str], list[str]]]) -> list[str]:
    """docs/ARCHITECTURE.md's layers table must state the same arrows as src/meson.build."""
    doc = root / "docs" / "ARCHITECTURE.md"
    if not doc.exists():
        return []
    text = doc.read_text()
    start = text.find("### Layers")
    if start < 0:
        return ["docs/ARCHITECTURE.md: no '### Layers' section stating the arrows of src/meson.build"]
    section = text[start:text.find("\n## ", start) if "\n## " in text[start:] else len(text)]
    documented = {m.group(1): set(re.findall(r"\b\w+\b", m.group(2))) - {"and"}
                  for m in DOC_ROW.finditer(section) if m.group(1) != "stage"}
    problems = []
    for stage, (lower, _) in layers.items():
        if documented.get(stage) != set(lower):
            problems.append(f"docs/ARCHITECTURE.md: the layers table says {stage} uses "
                            f"{', '.join(sorted(documented.get(stage, set()))) or 'nothing'}; "
                            f"src/meson.build says {', '.join(lower) or 'nothing'}")
    return problems


def check(root: Path) -> tuple[list[str], list[str]]:
    """Returns (violations, notes about stale exceptions)."""
    layers = read_layers(root / "src" / "meson.build")
    stages = closure(layers)
    problems: list[str] = check_docs(root, layers)
    used_exceptions: set[tuple[str, str]] = set()
    src = root / "src"
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        if d.name not in layers:
            problems.append(f"src/{d.name}/: a folder that is not a stage of the layers table in src/meson.build")
            continue
        may_include = stages[d.name]
        libs = set(layers[d.name][1])
        for f in sorted(d.rglob("*")):
            if f.suffix not in (".hpp", ".cpp", ".h", ".cc"):
                continue
            rel = f.relative_to(root).as_posix()
            text = f.read_text(errors="replace")

            def violation(what: str, line: int, message: str) -> None:
                if (rel, what) in TEMPORARY:
                    used_exceptions.add((rel, what))
                else:
                    problems.append(f"{rel}:{line}: {message}")

            for m in INCLUDE.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                kind, header = m.group(1), m.group(2)
                if kind == '"':
                    top = header.split("/", 1)[0]
                    if "/" not in header or top not in layers:
                        problems.append(f'{rel}:{line}: #include "{header}": includes are rooted at src/<stage>/')
                    elif top not in may_include:
                        violation(top, line, f'#include "{header}": {d.name} may not use {top} '
                                  f"({d.name} may use: {', '.join(sorted(may_include - {d.name})) or 'nothing'})")
                else:
                    lib = library_of(header)
                    if lib and lib not in libs:
                        violation(lib, line, f"#include <{header}>: {lib} is not a dependency of {d.name} "
                                  f"(src/meson.build gives it: {', '.join(sorted(libs)) or 'none'})")
            if "cli11" not in libs:
                for m in CLI11_USE.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    violation("cli11", line, f"names CLI11 ({m.group(0)}): flag registration lives in cli/ only")
                    break
    notes = [f"check_layers: note: the temporary exception ({f}, {w}) is no longer needed: delete it"
             for f, w in sorted(TEMPORARY - used_exceptions)]
    return problems, notes


def self_test() -> int:
    """Plants violations in a temp tree and checks that each is reported (and nothing else)."""
    with tempfile.TemporaryDirectory(prefix="check-layers-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        (root / "src" / "meson.build").write_text(
            "layers = [\n  ['util', [], ['fmt']],\n  ['plan', ['util'], ['fmt']],\n"
            "  ['oci', ['util'], ['fmt', 'zlib']],\n  ['cli', ['plan', 'oci'], ['fmt', 'cli11']],\n]\n")
        files = {
            "src/util/a.hpp": '#include "util/b.hpp"\n#include <fmt/format.h>\n#include <vector>\n',
            "src/plan/p.cpp": '#include "plan/p.hpp"\n#include "util/a.hpp"\n\n#include "oci/x.hpp"\n',
            "src/oci/x.cpp": '#include "util/a.hpp"\n#include <zlib.h>\n#include <curl/curl.h>\n',
            "src/oci/y.hpp": 'namespace CLI { class App; }\n',
            "src/cli/m.cpp": '#include "plan/p.hpp"\n#include "oci/x.hpp"\n#include "util/a.hpp"\n#include <CLI/CLI.hpp>\n',
            "src/cli/bad.cpp": '#include "p.hpp"\n',
            "src/extra/e.cpp": "\n",
            "docs/ARCHITECTURE.md": "### Layers\n\n| stage | uses | third-party |\n|---|---|---|\n| util | — | |\n"
                                    "| plan | util | |\n| oci | util | zlib |\n| cli | plan | CLI11 |\n\n## Next\n",
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        problems, _ = check(root)
        expected = [
            "docs/ARCHITECTURE.md: the layers table says cli uses plan; src/meson.build says plan, oci",
            "src/cli/bad.cpp:1: #include \"p.hpp\"",
            "src/extra/: a folder that is not a stage",
            "src/oci/x.cpp:3: #include <curl/curl.h>: curl is not a dependency of oci",
            "src/oci/y.hpp:1: names CLI11",
            "src/plan/p.cpp:4: #include \"oci/x.hpp\": plan may not use oci (plan may use: util)",
        ]
        ok = len(problems) == len(expected) and all(any(p.startswith(e) for p in problems) for e in expected)
        if not ok:
            print("check_layers --self-test: FAILED\nexpected (prefixes):\n  " + "\n  ".join(expected) +
                  "\ngot:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print(f"check_layers --self-test: ok ({len(expected)} planted violations reported, nothing else)")
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, help="the source tree (holds src/meson.build)")
    ap.add_argument("--stamp", type=Path, help="touch this file when the check passes (for the build)")
    ap.add_argument("--self-test", action="store_true", help="check the checker on a planted tree")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.root:
        ap.error("--root is required")
    problems, notes = check(args.root)
    for n in notes:
        print(n, file=sys.stderr)
    if problems:
        print("check_layers: includes against the arrows (src/meson.build `layers`, docs/ARCHITECTURE.md):",
              file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    if args.stamp:
        args.stamp.write_text("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
