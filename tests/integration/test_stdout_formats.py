"""stdout carries exactly one format (issue 15): when a command is asked for JSON on
stdout, the human text goes to stderr, so `xbuild ... --json - | jq` always parses."""
import json

from conftest import REPO, run

REPORT = REPO / "docs" / "bench" / "cross-vs-emulate-lua.json"


def test_bench_json_to_stdout_prints_only_json_and_the_table_on_stderr(xbuild, tmp_path):
    p = run([xbuild, "bench", "--from-json", REPORT, "--json", "-"])
    doc = json.loads(p.stdout)  # fails if the human table is mixed in
    assert doc["project"] == json.loads(REPORT.read_text())["project"]
    assert "PLATFORM" in p.stderr and "STRATEGY" in p.stderr
    assert "slower than cross-compiling" in p.stderr


def test_bench_json_to_a_file_keeps_the_table_on_stdout(xbuild, tmp_path):
    out = tmp_path / "b.json"
    p = run([xbuild, "bench", "--from-json", REPORT, "--json", out])
    assert "slower than cross-compiling" in p.stdout
    assert json.loads(out.read_text())["results"]
