"""Progress views on a real pseudo-terminal (`script` from bsdutils): escape sequences appear
only when stdout is a terminal, TERM can move the cursor and neither --no-color nor NO_COLOR
says otherwise; and the JSON view reports every event of the build in order."""
import json
import os
import shlex
from pathlib import Path

from conftest import need, run

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
    assert "\x1b[2K" in out and "\x1b[1A" in out, repr(out)   # tty view: clear line, cursor up
    assert "\x1b[36m[linux/amd64]" in out, repr(out)           # the platform's colour
    assert "ok (" in out, repr(out)                             # the row ends with the result
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
    assert "\x1b[1A" in out and "\x1b[2K" in out, repr(out)
    assert "\x1b[3" not in out and "\x1b[0m" not in out, repr(out)  # no SGR colour codes


def test_json_view_reports_every_event_in_order(xbuild, tmp_path):
    proj = project(tmp_path)
    (proj / "xbuild.toml").write_text(PROJECT.replace("cc -o", "test $TARGETARCH != riscv64 || exit 7; cc -o"))
    p = run([xbuild, "-C", proj, "build", "--keep-going", "--progress", "json", "--platform", "linux/amd64,linux/riscv64"],
            check=False)
    assert p.returncode == 1, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert events[0] == {"event": "build_started", "platforms": ["linux/amd64", "linux/riscv64"]}
    assert events[-1] == {"event": "build_finished", "ok": False}
    for plat in ("linux/amd64", "linux/riscv64"):
        kinds = [e["event"] for e in events if e.get("platform") == plat]
        assert kinds[0] == "platform_started" and kinds[-1] == "platform_finished", (plat, kinds)
        assert kinds.count("platform_finished") == 1
    amd64 = [e for e in events if e.get("platform") == "linux/amd64"]
    assert {"event": "line", "platform": "linux/amd64", "line": "compiling hello"} in amd64
    assert amd64[-1]["ok"] is True and "error" not in amd64[-1]
    riscv = [e for e in events if e.get("platform") == "linux/riscv64"][-1]
    assert riscv["ok"] is False and "exit 7" in riscv["error"], riscv
