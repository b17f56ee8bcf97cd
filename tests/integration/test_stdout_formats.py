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


def test_build_progress_json_with_json_keeps_events_on_stderr(xbuild, project_copy):
    proj = project_copy("c-make")
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "-o", f"type=local,dest={proj}/dist",
             "--progress", "json", "--json"])
    summary = json.loads(p.stdout)  # one object: fails if an event line is mixed in
    assert summary["ok"] is True
    assert [x["platform"] for x in summary["platforms"]] == ["linux/amd64"]
    events = [json.loads(line) for line in p.stderr.splitlines() if line.startswith("{")]
    assert events, p.stderr
    assert all(e["platform"] == "linux/amd64" for e in events if "platform" in e)


def test_build_json_in_a_pipe_is_quiet_on_stderr_without_a_progress_flag(xbuild, project_copy):
    proj = project_copy("c-make")
    p = run([xbuild, "-C", proj, "build", "--platform", "linux/amd64", "-o", f"type=local,dest={proj}/dist", "--json"])
    assert json.loads(p.stdout)["ok"] is True
    assert not any(line.startswith("{") for line in p.stderr.splitlines()), p.stderr
