"""Progress views on a real pseudo-terminal (`script` from bsdutils): escape sequences appear
only when stdout is a terminal, TERM can move the cursor and neither --no-color nor NO_COLOR
says otherwise; and the JSON view reports every event of the build in order."""
import base64
import json
import os
import re
import shlex
import time
from pathlib import Path

from conftest import need, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import DockerRegistry  # noqa: F401

PROJECT = '''name = "p"
language = "c"
build = "echo compiling hello; cc -o {out}/hello {src}/hello.c"
outputs = ["hello"]
'''


def project(tmp_path: Path) -> Path:
    proj = tmp_path / "p"
    proj.mkdir(parents=True)
    (proj / "xbuild.toml").write_text(PROJECT)
    (proj / "hello.c").write_text("int main(void){return 0;}\n")
    return proj


def on_pty(xbuild, proj, args, **env_changes) -> str:
    """Runs `xbuild -C proj build ARGS` with stdout on a pty; returns what the terminal got."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    cmd = shlex.join([str(xbuild), "-C", str(proj), "build", "--platform", "linux/amd64",
                      "--output", f"type=local,dest={proj / 'o'}", *args])
    p = run([need("script"), "-qec", cmd, "/dev/null"], env=env)
    assert "linux/amd64" in p.stdout, p.stdout
    return p.stdout


def test_a_terminal_gets_colour_and_redraws(xbuild, tmp_path):
    # The control for the tests below: this pty and TERM do get escape sequences.
    out = on_pty(xbuild, project(tmp_path), [])
    assert "\x1b[2K" in out and "\x1b[2A" in out, repr(out)   # tty view: clear line, cursor up (row + count)
    assert "\x1b[36m[linux/amd64]" in out, repr(out)           # the platform's colour
    assert "\x1b[32mok\x1b[0m " in out, repr(out)                # the row ends with the result
    assert "1 of 1 done: 1 ok" in out, repr(out)                # and the count
    out = on_pty(xbuild, project(tmp_path / "plain"), ["--progress", "plain"])
    assert "\x1b[36m[linux/amd64]\x1b[0m compiling hello" in out, repr(out)


def test_no_color_flag_env_and_dumb_term_write_no_escape_sequences(xbuild, tmp_path):
    proj = project(tmp_path)
    for args, env in [(["--no-color"], {}), ([], {"NO_COLOR": "1"}), ([], {"TERM": "dumb"}), ([], {"TERM": None}),
                      (["--no-color", "--progress", "plain"], {})]:
        out = on_pty(xbuild, proj, args, **env)
        assert "\x1b" not in out, (args, env, repr(out))
        # The plain view is what they get, unchanged otherwise.
        assert "[linux/amd64] compiling hello" in out, (args, env, repr(out))
    # An empty NO_COLOR means unset (no-color.org).
    assert "\x1b[" in on_pty(xbuild, proj, [], NO_COLOR="")


def test_an_explicit_tty_view_without_colour_redraws_but_never_colours(xbuild, tmp_path):
    out = on_pty(xbuild, project(tmp_path), ["--progress", "tty", "--no-color"])
    assert "\x1b[2A" in out and "\x1b[2K" in out, repr(out)
    assert "\x1b[3" not in out and "\x1b[0m" not in out, repr(out)  # no SGR colour codes


def test_json_view_reports_every_event_in_order(xbuild, tmp_path):
    proj = project(tmp_path)
    (proj / "xbuild.toml").write_text(PROJECT.replace("cc -o", "test $TARGETARCH != riscv64 || exit 7; cc -o"))
    p = run([xbuild, "-C", proj, "build", "--keep-going", "--progress", "json", "--platform", "linux/amd64,linux/riscv64"],
            check=False)
    assert p.returncode == 1, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    times = [e.pop("time") for e in events]  # every event has a UTC timestamp, in order
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in times), times
    assert times == sorted(times)
    assert events[0] == {"event": "build_started", "platforms": ["linux/amd64", "linux/riscv64"]}
    assert events[-1] == {"event": "build_finished", "ok": False, "platforms_ok": 1, "platforms_failed": 1,
                          "platforms_cancelled": 0}
    for plat in ("linux/amd64", "linux/riscv64"):
        kinds = [e["event"] for e in events if e.get("platform") == plat]
        assert kinds[0] == "platform_started" and kinds[-1] == "platform_finished", (plat, kinds)
        assert kinds.count("platform_finished") == 1
    amd64 = [e for e in events if e.get("platform") == "linux/amd64"]
    assert {"event": "line", "platform": "linux/amd64", "line": "compiling hello"} in amd64
    assert amd64[-1]["ok"] is True and "error" not in amd64[-1]
    riscv = [e for e in events if e.get("platform") == "linux/riscv64"][-1]
    assert riscv["ok"] is False and "exit 7" in riscv["error"], riscv
    assert riscv["status"] == "failed" and riscv["exit_code"] == 7 and riscv["strategy"] == "cross", riscv
    assert amd64[-1]["status"] == "ok" and amd64[-1]["exit_code"] == 0, amd64[-1]
    for e in (riscv, amd64[-1]):
        assert e["wall_seconds"] >= 0 and e["cpu_seconds"] >= 0 and Path(e["log"]).is_file(), e


def test_json_view_is_valid_json_for_output_that_is_not_utf8_and_reports_phases(xbuild, tmp_path):
    proj = project(tmp_path)
    (proj / "xbuild.toml").write_text(PROJECT.replace("echo compiling hello;", "printf 'raw \\\\377\\\\376 bytes\\\\n';"))
    p = run([xbuild, "-C", proj, "build", "--progress", "json", "--platform", "linux/amd64",
             "--output", f"type=oci,dest={tmp_path / 'oci'}"], capture_output=True, text=False)
    # Strict UTF-8 decoding and JSON parsing of every line: one raw byte would break either.
    events = [json.loads(line.decode("utf-8")) for line in p.stdout.splitlines()]
    line = next(e for e in events if e["event"] == "line")
    assert line["line"] == "raw \ufffd\ufffd bytes", line
    assert base64.b64decode(line["line_base64"]) == b"raw \xff\xfe bytes", line
    kinds = [e["event"] for e in events]
    # The image is packed after the builds: a phase of its own, after build_finished.
    assert kinds[-3:] == ["build_finished", "phase_started", "phase_finished"], kinds
    assert events[-1]["phase"] == "pack" and events[-1]["ok"] is True, events[-1]
    assert (tmp_path / "oci" / "index.json").is_file()


FOUR = ["linux/amd64", "linux/arm64", "linux/riscv64", "linux/arm/v7"]
# Real cross compilers; riscv64's source does not compile, and make's last words hide why.
FAILING = """name = "f"
language = "c"
build = "make -C {src} OUT={out}"
outputs = ["hello"]
"""
MAKEFILE = "all:\n\t$(CC) -o $(OUT)/hello hello.c\n"
FAILING_C = """int main(void) {
#ifdef __riscv
  return undeclared_riscv_name;
#endif
  return 0;
}
"""


def failing_project(tmp_path: Path) -> Path:
    proj = tmp_path / "f"
    proj.mkdir(parents=True)
    (proj / "xbuild.toml").write_text(FAILING)
    (proj / "Makefile").write_text(MAKEFILE)
    (proj / "hello.c").write_text(FAILING_C)
    return proj


def compiler_error_lines(text: str) -> list:
    return [line for line in text.splitlines() if "error:" in line and "undeclared_riscv_name" in line]


def test_tmux_tty_view_of_a_failing_four_platform_build_keeps_the_compiler_error_on_screen(xbuild, tmp_path):
    tmux = need("tmux")
    proj = failing_project(tmp_path)
    sock, rc_file = tmp_path / "tmux.sock", tmp_path / "rc"
    build = shlex.join([str(xbuild), "-C", str(proj), "build", "--keep-going", "--platform", ",".join(FOUR),
                        "--output", f"type=local,dest={tmp_path / 'o'}"])
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    # A private server (-S), a pane big enough for the rows and the log block; the shell stays
    # after the build so that the screen can be read.
    run([tmux, "-S", sock, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50",
         f"{build}; echo $? > {shlex.quote(str(rc_file))}; exec sleep 3600"], env=env)
    try:
        for _ in range(3000):  # a guard against a hang, not a timing check
            if rc_file.exists() and rc_file.read_text().strip():
                break
            time.sleep(0.1)
        screen = run([tmux, "-S", sock, "capture-pane", "-p", "-J"]).stdout
    finally:
        run([tmux, "-S", sock, "kill-server"], check=False)
    assert rc_file.read_text().strip() == "1", screen
    lines = screen.splitlines()
    # The tty view was drawn: its rows with a mark and elapsed time, and the overall count.
    assert "xbuild: 4 of 4 done: 3 ok, 1 FAILED" in screen, screen
    assert any(line.startswith("[linux/riscv64] FAILED ") and "(exit 2)" in line for line in lines), screen
    for plat in ("linux/amd64", "linux/arm64", "linux/arm/v7"):
        assert any(line.startswith(f"[{plat}] ok ") and line.endswith("s") for line in lines), (plat, screen)
    # The compiler's error line is on the screen after the build ended, in the log block.
    assert compiler_error_lines(screen), screen
    assert "------ linux/riscv64 failed: the last" in screen, screen


def test_plain_view_ends_with_the_failed_platforms_log_tail(xbuild, tmp_path):
    proj = failing_project(tmp_path)
    p = run([xbuild, "-C", proj, "build", "--progress", "plain", "--keep-going", "--platform", "linux/amd64,linux/riscv64",
             "--output", f"type=local,dest={tmp_path / 'o'}"], check=False)
    assert p.returncode == 1, p.stderr
    block = p.stdout[p.stdout.index("------ linux/riscv64 failed: the last"):]
    assert compiler_error_lines(block), p.stdout
    assert "linux/amd64" not in block.split("\n", 1)[1], block  # only the failed platform's log
    assert block.rstrip().endswith("------"), block


def test_json_view_carries_the_failed_platforms_log_tail(xbuild, tmp_path):
    proj = failing_project(tmp_path)
    p = run([xbuild, "-C", proj, "build", "--progress", "json", "--keep-going", "--platform", "linux/amd64,linux/riscv64",
             "--output", f"type=local,dest={tmp_path / 'o'}"], check=False)
    assert p.returncode == 1, p.stderr
    finished = {e["platform"]: e for e in map(json.loads, p.stdout.splitlines()) if e["event"] == "platform_finished"}
    assert "log_tail" not in finished["linux/amd64"]
    riscv = finished["linux/riscv64"]
    assert compiler_error_lines("\n".join(riscv["log_tail"])), riscv
    assert Path(riscv["log"]).is_file()


def test_json_summary_carries_the_failed_platforms_log_tail(xbuild, tmp_path):
    # --json (the summary; the progress view is quiet then) shows the failure's cause too.
    proj = failing_project(tmp_path)
    p = run([xbuild, "-C", proj, "build", "--json", "--keep-going", "--platform", "linux/amd64,linux/riscv64",
             "--output", f"type=local,dest={tmp_path / 'o'}"], check=False)
    assert p.returncode == 1, p.stderr
    by_platform = {e["platform"]: e for e in json.loads(p.stdout)["platforms"]}
    assert "log_tail" not in by_platform["linux/amd64"]
    assert compiler_error_lines("\n".join(by_platform["linux/riscv64"]["log_tail"])), by_platform


def phases(stdout: str) -> list:
    return [(e["event"], e.get("phase"), e.get("ok")) for e in map(json.loads, stdout.splitlines())
            if e["event"].startswith("phase_") or e["event"] == "build_finished"]


def test_json_view_reports_the_push_and_cache_phases(xbuild, tmp_path, registry_open, clean_env):
    # A push, then a build on that pushed image as a registry base (which is fetched into the cache).
    proj = project(tmp_path / "a")
    ref = f"{registry_open.host}/team/progress:1"
    p = run([xbuild, "-C", proj, "build", "--progress", "json", "--platform", "linux/amd64", "--push", "-t", ref], env=clean_env)
    assert phases(p.stdout) == [("build_finished", None, True), ("phase_started", "pack", None),
                                ("phase_finished", "pack", True), ("phase_started", "push", None),
                                ("phase_finished", "push", True)], p.stdout
    based = project(tmp_path / "b")
    (based / "xbuild.toml").write_text(PROJECT + f'\n[image]\nbase = "{ref}"\n')
    p = run([xbuild, "-C", based, "build", "--progress", "json", "--platform", "linux/amd64"], env=clean_env)
    assert phases(p.stdout)[:2] == [("phase_started", "cache", None), ("phase_finished", "cache", True)], p.stdout
    assert [k for k, _, _ in phases(p.stdout)][2:] == ["build_finished", "phase_started", "phase_finished"], p.stdout


def test_tmux_tty_view_moves_the_elapsed_time_through_a_silent_step(xbuild, tmp_path):
    # The build prints one line, then waits silently for the test: only the view's own ticker
    # can redraw the row with a later elapsed time. The test releases the build once it saw it.
    tmux = need("tmux")
    proj = tmp_path / "s"
    proj.mkdir()
    release = tmp_path / "release"
    (proj / "xbuild.toml").write_text(f'''name = "s"
language = "c"
build = "echo waiting; while [ ! -e {release} ]; do sleep 0.1; done; cc -o {{out}}/hello {{src}}/hello.c"
outputs = ["hello"]
''')
    (proj / "hello.c").write_text("int main(void){return 0;}\n")
    sock, rc_file = tmp_path / "tmux.sock", tmp_path / "rc"
    build = shlex.join([str(xbuild), "-C", str(proj), "build", "--platform", "linux/amd64", "--no-color",
                        "--progress", "tty", "--output", f"type=local,dest={tmp_path / 'o'}"])
    run([tmux, "-S", sock, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "20",
         f"{build}; echo $? > {shlex.quote(str(rc_file))}; exec sleep 3600"])
    ticked = None
    try:
        for _ in range(600):  # a guard against a hang (the ticker redraws each second), not a timing check
            screen = run([tmux, "-S", sock, "capture-pane", "-p"]).stdout
            ticked = re.search(r"^\[linux/amd64\] ([1-9]\d*\.\d)s  waiting$", screen, re.M)
            if ticked:
                break
            time.sleep(0.1)
        release.touch()
        for _ in range(3000):
            if rc_file.exists() and rc_file.read_text().strip():
                break
            time.sleep(0.1)
        screen = run([tmux, "-S", sock, "capture-pane", "-p"]).stdout
    finally:
        release.touch()
        run([tmux, "-S", sock, "kill-server"], check=False)
    assert ticked, screen
    assert rc_file.read_text().strip() == "0", screen
    assert re.search(r"^\[linux/amd64\] ok \d+\.\ds$", screen, re.M), screen


def test_tty_row_of_a_cancelled_platform_says_cancelled_once(xbuild, tmp_path):
    # One platform fails at once, the other is still running (or waiting) and is cancelled:
    # its row read "cancelled: cancelled: another platform failed".
    proj = tmp_path / "c"
    proj.mkdir()
    (proj / "xbuild.toml").write_text(
        'name = "c"\nlanguage = "custom"\n'
        'build = "if [ $TARGETARCH = amd64 ]; then exit 2; fi; sleep 60"\noutputs = ["x"]\n')
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    cmd = shlex.join([str(xbuild), "-C", str(proj), "build", "--platform", "linux/amd64,linux/arm64",
                      "--output", f"type=local,dest={proj / 'o'}"]) + "; echo rc=$?"
    out = run([need("script"), "-qec", cmd, "/dev/null"], env=env).stdout
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out).replace("\r", "\n")
    assert "rc=1" in screen, screen
    rows = [line for line in screen.splitlines() if line.startswith("[linux/arm64] cancelled")]
    assert rows and all(line.count("cancelled") == 1 for line in rows), screen
    assert "[linux/arm64] cancelled: another platform failed" in screen, screen

