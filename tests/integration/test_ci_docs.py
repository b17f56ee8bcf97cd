"""docs/ci.md is true: its GitHub Actions workflow and its GitLab parent pipeline (with the
child pipeline `xbuild matrix --format gitlab` generates) are parsed as YAML, their wiring is
checked (jobs, needs, the matrix expression, the trigger), and every job's commands run here,
each job in a fresh clone of tests/projects/c-make with the doc's ci/xbuild-setup.sh in it,
against a real docker-registry on 127.0.0.1 that asks for a password (so the doc's login must
work: nothing is pushed without it). The merged image must hold every platform of the
matrix and be, byte for byte, what one `xbuild build --platform all --push` pushes.

What the test cannot do on this machine it replaces, and says so here: `actions/checkout` is a
`git clone` of the test's repository, `runs-on`/`container`/`image`/`tags` are not used (every
job runs on this machine, with the xbuild under test on the PATH, so the setup script only
logs in), and GitHub's `${{ }}` expressions are evaluated for the few forms the workflow uses
(a context path, `fromJSON(...)`, `x || 'literal'`); any other form fails the test."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import PROJECTS, REPO, need, run
from registry_fixtures import *  # noqa: F401,F403 (fixtures)
from registry_fixtures import PASSWORD, USER, sha, skopeo_raw

DOC = REPO / "docs" / "ci.md"
TAG = "v1.0"  # the pushed git tag both pipelines run for (an input, like the registry's address)
GIT_DATE = "2024-05-06T07:08:09Z"
CREDS = f"{USER}:{PASSWORD}"


def doc_blocks() -> dict:
    """The fenced blocks of docs/ci.md by language: {"bash": [...], "yaml": [...]}."""
    blocks = {}
    for lang, body in re.findall(r"^```(\w+)\n(.*?)^```$", DOC.read_text(), re.M | re.S):
        blocks.setdefault(lang, []).append(body)
    return blocks


def doc_yaml(key: str) -> dict:
    """The one YAML block of docs/ci.md with a top-level `key`."""
    found = [y for y in (yaml.safe_load(b) for b in doc_blocks()["yaml"]) if key in y]
    assert len(found) == 1, f"docs/ci.md: expected one YAML block with '{key}', found {len(found)}"
    return found[0]


def platforms_of(index: dict) -> list:
    return ["/".join(filter(None, [m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")]))
            for m in index["manifests"]]


class Site:
    """The user's repository (c-make plus the doc's ci/xbuild-setup.sh, committed), a bin dir
    with the xbuild under test, and the environment every job starts from."""

    def __init__(self, xbuild, tmp: Path, registry):
        self.tmp = tmp
        self.registry = registry
        self.origin = tmp / "origin"
        shutil.copytree(PROJECTS / "c-make", self.origin, ignore=shutil.ignore_patterns(".xbuild"))
        scripts = [b for b in doc_blocks()["bash"] if b.startswith("#!/usr/bin/env bash\n# ci/xbuild-setup.sh")]
        assert len(scripts) == 1, "docs/ci.md: expected one bash block that is ci/xbuild-setup.sh"
        (self.origin / "ci").mkdir()
        (self.origin / "ci" / "xbuild-setup.sh").write_text(scripts[0])
        git = need("git")
        genv = dict(os.environ, GIT_AUTHOR_DATE=GIT_DATE, GIT_COMMITTER_DATE=GIT_DATE)
        for args in (["init", "-q"], ["add", "-A"],
                     ["-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "-m", "app"]):
            run([git, "-C", self.origin, *args], env=genv)
        self.bin = tmp / "bin"
        self.bin.mkdir()
        (self.bin / "xbuild").symlink_to(xbuild)
        self.runs = 0
        self.scripts = 0

    def checkout(self, name: str) -> Path:
        self.runs += 1
        dest = self.tmp / "jobs" / f"{self.runs:02d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"
        run([need("git"), "clone", "-q", self.origin, dest])
        return dest

    def env(self, job_dir: Path, extra: dict) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONFIG", "XBUILD_REPO", "SOURCE_DATE_EPOCH")}
        home = job_dir.parent / (job_dir.name + "-home")
        home.mkdir()
        env.update(HOME=str(home), XDG_CACHE_HOME=str(self.tmp / "cache"), PATH=f"{self.bin}:{env['PATH']}")
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def bash(self, script: str, cwd: Path, env: dict, what: str) -> str:
        """Runs `script` as the CI runners do (bash, stop at the first failing command); its stdout."""
        self.scripts += 1
        f = cwd.parent / f"{cwd.name}-script{self.scripts}.sh"
        f.write_text(script)
        p = run([need("bash"), "--noprofile", "--norc", "-eo", "pipefail", f], cwd=cwd, env=env, check=False, timeout=1800)
        assert p.returncode == 0, f"{what} exited {p.returncode}\nscript:\n{script}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        return p.stdout

    def single_build(self, platforms: list, epoch=None) -> bytes:
        """What one multi-platform build of the same commit pushes, as skopeo reads it."""
        proj = self.checkout("single")
        ref = f"{self.registry.host}/single/app:1"
        extra = {"SOURCE_DATE_EPOCH": epoch} if epoch is not None else {}
        run([self.bin / "xbuild", "-C", proj, "build", "--platform", ",".join(platforms), "--push", "-t", ref,
             "--creds", CREDS], env=self.env(proj, extra), timeout=1800)
        return skopeo_raw(ref, creds=CREDS)


def pushed_ref(stdout: str) -> str:
    """The REPOSITORY@DIGEST `xbuild merge` printed (its stdout's last line)."""
    line = stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[^@\s]+@sha256:[0-9a-f]{64}", line), stdout
    return line


def check_merged(site: Site, merged_ref: str, platforms: list, epoch=None):
    """The pushed index, by digest and by the git tag the pipeline ran for, has every platform
    in the matrix's order and is the single build's index."""
    merged = skopeo_raw(merged_ref, creds=CREDS)
    assert sha(merged) == merged_ref.split("@")[1]
    assert skopeo_raw(f"{merged_ref.split('@')[0]}:{TAG}", creds=CREDS) == merged
    assert platforms_of(json.loads(merged)) == platforms, (merged_ref, merged)
    single = site.single_build(platforms, epoch)
    assert sha(merged) == sha(single), f"the merge of the jobs is not the single build:\n{merged}\n{single}"


# --- GitHub Actions ---------------------------------------------------------------------
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(expr: str, ctx: dict, missing_ok=False):
    """GitHub's expressions, the forms docs/ci.md uses: a context path, fromJSON(x), x || 'literal'.
    A path naming nothing is an error (a typo in the doc), except before `||`, where GitHub's
    null for it is the point (`matrix.runs-on || 'ubuntu-latest'`)."""
    m = re.fullmatch(r"fromJSON\((.*)\)", expr)
    if m:
        return json.loads(evaluate(m.group(1), ctx))
    m = re.fullmatch(r"(.+?)\s*\|\|\s*'([^']*)'", expr)
    if m:
        return evaluate(m.group(1), ctx, missing_ok=True) or m.group(2)
    assert re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)+", expr), f"expression this test cannot evaluate: {expr}"
    cur = ctx
    parts = expr.split(".")
    for i, part in enumerate(parts):
        if missing_ok and i == len(parts) - 1 and isinstance(cur, dict) and part not in cur:
            return None
        assert isinstance(cur, dict) and part in cur, f"${{{{ {expr} }}}}: no '{part}' in the context here"
        cur = cur[part]
    return cur


def substitute(text, ctx: dict):
    if not isinstance(text, str):
        return text
    whole = EXPR.fullmatch(text.strip())
    if whole:
        return evaluate(whole.group(1), ctx)
    return EXPR.sub(lambda m: str(evaluate(m.group(1), ctx)), text)


def run_github_job(site: Site, wf: dict, name: str, ctx: dict, done: dict) -> tuple:
    """Runs one job (one matrix entry) step by step, seeing only the outputs of the jobs it
    `needs` (from `done`); (its outputs, the last step's stdout)."""
    job = wf["jobs"][name]
    assert wf["defaults"]["run"]["shell"] == "bash"
    needs = job.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    assert all(n in done for n in needs), f"job {name} needs {needs}, which have not all run"
    ctx = dict(ctx, steps={}, needs={n: {"outputs": done[n]} for n in needs})
    runs_on = substitute(job["runs-on"], ctx)
    assert isinstance(runs_on, str) and runs_on, (name, job["runs-on"])
    workspace = None
    env_vals = {k: substitute(v, ctx) for k, v in {**wf.get("env", {}), **job.get("env", {})}.items()}
    env_vals["REGISTRY"] = site.registry.host  # the workflow's REGISTRY, pointed at the test's registry
    stdout = ""
    for i, step in enumerate(job["steps"]):
        if "uses" in step:
            assert step["uses"].startswith("actions/checkout@") and i == 0, f"job {name}: unexpected step {step}"
            workspace = site.checkout(f"gh-{name}")
            env = site.env(workspace, env_vals)
            continue
        assert workspace, f"job {name}: a run step before actions/checkout"
        out = workspace.parent / f"{workspace.name}-output-{i}"
        out.write_text("")
        step_env = dict(env, GITHUB_OUTPUT=str(out), GITHUB_WORKSPACE=str(workspace),
                        **{k: str(substitute(v, ctx)) for k, v in step.get("env", {}).items()})
        stdout = site.bash(substitute(step["run"], ctx), workspace, step_env, f"job {name} step {i}")
        outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if line)
        if "id" in step:
            ctx["steps"][step["id"]] = {"outputs": outputs}
    return {k: substitute(v, ctx) for k, v in job.get("outputs", {}).items()}, stdout


def test_the_github_workflow_runs_and_its_merge_is_the_single_build(xbuild, tmp_path, registry_basic):
    wf = doc_yaml("jobs")
    jobs = wf["jobs"]
    assert set(jobs) == {"matrix", "build", "merge"}, jobs.keys()
    assert jobs["build"]["needs"] == "matrix" and set(jobs["merge"]["needs"]) == {"matrix", "build"}
    assert jobs["build"]["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    assert "REGISTRY" in wf["env"], "the workflow's commands must name the registry by $REGISTRY"
    assert "xbuild matrix" in json.dumps(jobs["matrix"]["steps"])

    need("jq")  # the merge step lists the per-platform images with it
    site = Site(xbuild, tmp_path, registry_basic)
    ctx = {"github": {"ref_name": TAG}, "vars": {"REGISTRY_USER": USER}, "secrets": {"REGISTRY_PASSWORD": PASSWORD}}
    done = {}
    done["matrix"], _ = run_github_job(site, wf, "matrix", ctx, done)
    matrix = substitute(jobs["build"]["strategy"]["matrix"], dict(ctx, needs={"matrix": {"outputs": done["matrix"]}}))
    # The job's output is `xbuild matrix` as this machine prints it in the project.
    real = json.loads(run([xbuild, "matrix"], cwd=site.origin, env=site.env(tmp_path / "m", {})).stdout)
    assert matrix == real and set(matrix) == {"include"} and len(matrix["include"]) >= 2, matrix
    for entry in matrix["include"]:
        run_github_job(site, wf, "build", dict(ctx, matrix=entry), done)
    done["build"] = {}
    _, stdout = run_github_job(site, wf, "merge", ctx, done)
    check_merged(site, pushed_ref(stdout), [e["platform"] for e in matrix["include"]])


def unbuildable_site(xbuild, tmp_path, registry) -> tuple:
    """A repository whose xbuild.toml adds linux/s390x, which this machine cannot build with
    XBUILD_BINFMT_DIR pointing at an empty dir (no emulation either): the matrix is exit 3."""
    site = Site(xbuild, tmp_path, registry)
    toml = site.origin / "xbuild.toml"
    toml.write_text(toml.read_text().replace('"linux/riscv64"]', '"linux/riscv64", "linux/s390x"]'))
    assert "linux/s390x" in toml.read_text()
    run([need("git"), "-C", site.origin, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-qam", "s390x"])
    (tmp_path / "no-binfmt").mkdir()
    return site, {"XBUILD_BINFMT_DIR": str(tmp_path / "no-binfmt")}


def test_a_matrix_that_fails_fails_the_github_matrix_job(xbuild, tmp_path, registry_basic):
    # Not an empty matrix handed on to the build job's fromJSON.
    site, extra = unbuildable_site(xbuild, tmp_path, registry_basic)
    wf = doc_yaml("jobs")
    wf["env"].update(extra)
    ctx = {"github": {"ref_name": TAG}, "vars": {"REGISTRY_USER": USER}, "secrets": {"REGISTRY_PASSWORD": PASSWORD}}
    with pytest.raises(AssertionError) as failed:
        run_github_job(site, wf, "matrix", ctx, {})
    assert "exited 3" in str(failed.value) and "no toolchain for linux/s390x" in str(failed.value), failed.value


# --- GitLab CI --------------------------------------------------------------------------
GITLAB_KEYWORDS = {"stages", "variables", "default", "include", "workflow", "image", "before_script", "after_script"}


def expand(value: str, variables: dict) -> str:
    """GitLab's expansion of $NAME / ${NAME} in a variable's value."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), ""), str(value))


def gitlab_jobs(pipeline: dict) -> dict:
    return {k: v for k, v in pipeline.items() if k not in GITLAB_KEYWORDS and not k.startswith(".")}


def gitlab_predefined(registry) -> dict:
    """The variables GitLab gives every job that the pipelines use, for a tag pipeline."""
    return {"CI_REGISTRY": registry.host, "CI_REGISTRY_IMAGE": f"{registry.host}/group/app", "CI_REGISTRY_USER": USER,
            "CI_REGISTRY_PASSWORD": PASSWORD, "CI_COMMIT_TAG": TAG}


def run_gitlab_job(site: Site, pipeline: dict, name: str, variables: dict) -> tuple:
    """Runs one job's before_script and script in a fresh clone; (its directory, its stdout)."""
    job = pipeline[name]
    for rule in job.get("rules", []):
        m = re.fullmatch(r"\$(\w+)", rule["if"])
        assert m, f"job {name}: a rule this test cannot evaluate: {rule}"
        assert variables.get(m.group(1)), f"job {name} would not run: {rule}"
    variables = dict(variables)
    for k, v in {**pipeline.get("variables", {}), **job.get("variables", {})}.items():
        variables[k] = expand(v, variables)
    lines = job.get("before_script", pipeline.get("default", {}).get("before_script", [])) + job["script"]
    proj = site.checkout(f"gl-{name}")
    env = site.env(proj, dict(variables, CI_PROJECT_DIR=str(proj)))
    return proj, site.bash("\n".join(lines) + "\n", proj, env, f"job {name}")


def test_the_gitlab_parent_pipeline_and_its_generated_child_run_and_merge_to_the_single_build(xbuild, tmp_path,
                                                                                              registry_basic):
    parent = doc_yaml("stages")
    site = Site(xbuild, tmp_path, registry_basic)
    predefined = gitlab_predefined(registry_basic)

    # Parent: a generating job, and a trigger job that includes its artifact, after it.
    triggers = [n for n, j in gitlab_jobs(parent).items() if "trigger" in j]
    assert len(triggers) == 1, parent
    trigger = parent[triggers[0]]["trigger"]
    (inc,) = trigger["include"]
    gen = inc["job"]
    assert inc["artifact"] in parent[gen]["artifacts"]["paths"] and trigger["strategy"] == "depend"
    assert gen in parent[triggers[0]]["needs"]
    assert parent["stages"].index(parent[gen]["stage"]) < parent["stages"].index(parent[triggers[0]]["stage"])

    variables = dict(predefined)
    gen_dir, _ = run_gitlab_job(site, parent, gen, variables)
    child_text = (gen_dir / inc["artifact"]).read_text()
    child = yaml.safe_load(child_text)
    # The child's jobs run with the parent's top-level variables (GitLab passes them on).
    for k, v in parent.get("variables", {}).items():
        variables[k] = expand(v, variables)

    # Child: a build job per platform of `xbuild matrix`, in its order, and a merge needing them all.
    real = json.loads(run([xbuild, "matrix"], cwd=site.origin, env=site.env(tmp_path / "m", {})).stdout)["include"]
    jobs = gitlab_jobs(child)
    builds = [n for n in jobs if n != "merge"]
    assert [jobs[n]["variables"] for n in builds] == [{"PLATFORM": e["platform"], "SLUG": e["slug"]} for e in real]
    assert child["merge"]["needs"] == builds and len(builds) >= 2
    assert all(child["stages"].index(jobs[n]["stage"]) < child["stages"].index(child["merge"]["stage"]) for n in builds)
    assert not any("tags" in jobs[n] for n in builds)  # no --runner-labels in the doc's command
    epoch = child["variables"]["SOURCE_DATE_EPOCH"]
    assert epoch == run(["git", "-C", site.origin, "log", "-1", "--format=%ct"]).stdout.strip()

    for n in builds:
        run_gitlab_job(site, child, n, variables)
    _, stdout = run_gitlab_job(site, child, "merge", variables)
    merged_ref = pushed_ref(stdout)
    assert merged_ref.startswith(predefined["CI_REGISTRY_IMAGE"] + "@"), merged_ref
    check_merged(site, merged_ref, [e["platform"] for e in real], epoch)
    assert json.loads(skopeo_raw(merged_ref, creds=CREDS))["annotations"]["org.opencontainers.image.created"] != "1970-01-01T00:00:00Z"


def test_a_matrix_that_fails_fails_the_gitlab_generating_job(xbuild, tmp_path, registry_basic):
    site, extra = unbuildable_site(xbuild, tmp_path, registry_basic)
    parent = doc_yaml("stages")
    (gen,) = [j["include"][0]["job"] for j in (v.get("trigger") for v in gitlab_jobs(parent).values()) if j]
    with pytest.raises(AssertionError) as failed:
        run_gitlab_job(site, parent, gen, dict(gitlab_predefined(registry_basic), **extra))
    assert "exited 3" in str(failed.value) and "no toolchain for linux/s390x" in str(failed.value), failed.value
