"""The one writer of docs/benchmarks.md for the bench_*.py scripts: each owns one "## " section,
which it replaces (or appends), leaving every other section as it is."""
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(heading: str, section: str):
    """Replaces the section that starts with `heading` (up to the next "## ") by `section`,
    or appends `section` when there is none."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    DOC.write_text(text if text.endswith("\n") else text + "\n")
