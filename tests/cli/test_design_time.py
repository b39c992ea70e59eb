"""The toolchain driven the way a design-time server (flogo-web) drives it: several commands
at once on one project, refs pip understands, relative refs read from elsewhere, one resolved
dependency set, bad input of every kind, flogo's spellings. Real console script, offline."""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from contribs import contribution_files, descriptor, make_dir, make_wheel, tree_digest

pytestmark = pytest.mark.script_launch_mode("subprocess")

FLOE = str(Path(sys.executable).parent / "floe")


def local_contribution(root: Path, package: str) -> Path:
    """A contribution directory with no dependencies: installs without pip."""
    make_dir(root, {f"{package}/__init__.py": "from floecli.engine.nodes import BaseTask\n\n\n"
                    "class Hello(BaseTask):\n    async def run(self, ctx):\n        return 0\n",
                    f"{package}/descriptor.json": descriptor(package, package)})
    return root / package


def held_lock(project: Path):
    """Hold the project lock from this process, as another floe command would."""
    fd = os.open(project / ".floe-project.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def test_a_second_command_waits_for_the_project_lock(project, env):
    local_contribution(project / "contribs", "first")
    fd = held_lock(project)
    proc = subprocess.Popen([FLOE, "install", "./contribs/first"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # blocks until floe says it waits
        assert line.startswith(f"waiting for the project lock held by PID {os.getpid()} ")
        assert proc.poll() is None
        assert "./contribs/first" not in (project / "app.json").read_text()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Installed task: ./contribs/first 1.0.0" in out


def test_lock_timeout_fails_clearly(project, env):
    fd = held_lock(project)
    try:
        r = subprocess.run([FLOE, "uninstall", "timer"], cwd=project, capture_output=True,
                           text=True, env={**env, "FLOE_LOCK_TIMEOUT": "0.3"})
    finally:
        os.close(fd)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0].startswith("waiting for the project lock held by PID ")
    assert lines[1] == (f"Error uninstalling contribution: the project lock "
                        f"{project / '.floe-project.lock'} is still held by PID {os.getpid()} "
                        "after 0.3 s")
    assert lines[2].startswith("hint: wait for that floe command to finish")
    assert lines[3] == "ref: project-locked"
    assert (project / "vendor" / "timer").is_dir()


def test_concurrent_installs_lose_nothing(project, env):
    names = ["one", "two", "three"]
    for n in names:
        local_contribution(project / "contribs", n)
    procs = [subprocess.Popen([FLOE, "install", f"./contribs/{n}"], cwd=project, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in names]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    imports = json.loads((project / "app.json").read_text())["imports"]
    lock = json.loads((project / "floe.lock").read_text())
    for n in names:
        assert f"./contribs/{n}" in imports
        assert f"./contribs/{n}" in [c["ref"] for c in lock["contributions"]]
        assert (project / "vendor" / n).is_dir()


def test_conflicting_requirements_are_refused(floe, project, index):
    """report needs tabulate==0.9.0, tabold tabulate==0.8.10: one resolution, pip's conflict."""
    for version in ("0.9.0", "0.8.10"):
        make_wheel(index, "tabulate", version, {"tabulate/__init__.py": f"V = {version!r}\n"})
    make_wheel(index, "floe-report", "1.0.0",
               contribution_files("report", "report", dep="tabulate"),
               requires=("tabulate==0.9.0",))
    make_wheel(index, "floe-tabold", "1.0.0",
               contribution_files("tabold", "tabold", dep="tabulate"),
               requires=("tabulate==0.8.10",))
    assert floe("install", "floe-report", cwd=project).returncode == 0
    before = tree_digest(project)
    r = floe("install", "floe-tabold", cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith("Error installing floe-tabold: pip failed: ")
    assert "conflict" in r.stderr.lower() and "tabulate==0.8.10" in r.stderr
    assert tree_digest(project) == before
    lock = json.loads((project / "floe.lock").read_text())
    assert [(d["name"], d["version"]) for d in lock["distributions"]] == [
        ("floe-report", "1.0.0"), ("tabulate", "0.9.0")]
    assert all(d["record"].startswith("sha256:") for d in lock["distributions"])
    assert floe("validate", cwd=project).returncode == 0


def test_relative_refs_resolve_from_the_app_document(floe, project, tmp_path):
    """install ./contribs/hello, then create -f and build -f that app.json from elsewhere."""
    local_contribution(project / "contribs", "hello")
    r = floe("install", "./contribs/hello", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "./contribs/hello" in json.loads((project / "app.json").read_text())["imports"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = floe("create", "-f", str(project / "app.json"), "copy", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    copy = elsewhere / "copy"
    assert (copy / "vendor" / "hello" / "descriptor.json").is_file()
    imports = json.loads((copy / "app.json").read_text())["imports"]
    assert "../../work/app/contribs/hello" in imports  # relative to the new project
    assert floe("update", "../../work/app/contribs/hello", cwd=copy).returncode == 0
    r = floe("uninstall", "../../work/app/contribs/hello", cwd=copy)
    assert r.returncode == 0, r.stderr


def test_urls_go_to_pip_as_they_are(floe, project, tmp_path, index):
    served = tmp_path / "served"
    make_wheel(served, "floe-served", "2.0.0", contribution_files("served", "served"),
               requires=("hellodep>=1",))
    make_wheel(served, "floe-named", "1.0.0", contribution_files("named", "named"),
               requires=("hellodep>=1",))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        url = f"{base}/floe_served-2.0.0-py3-none-any.whl"
        named = f"floe-named @ {base}/floe_named-1.0.0-py3-none-any.whl"
        r = floe("install", url, named, cwd=project, NO_PROXY="127.0.0.1")
        assert r.returncode == 0, r.stderr
        assert f"Installed task: {url} 1.0.0" in r.stdout
        assert f"Installed task: {named} 1.0.0" in r.stdout
        imports = json.loads((project / "app.json").read_text())["imports"]
        assert url in imports and named in imports
    finally:
        server.shutdown()


BAD_FILES = {
    "non-utf8": b'{"name": "caf\xe9", "flows": []}\n',
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "truncated": b'{"name": "x", "flows": [{"id": "f", "ver": 1, "tasks": [',
}


@pytest.fixture(scope="module")
def template_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("template")
    env = {k: v for k, v in os.environ.items() if k not in ("FLOE_DEFAULT_BUNDLE",)}
    env.update(PIP_NO_INDEX="1", FLOE_CACHE_DIR=str(root / "cache"))
    subprocess.run([FLOE, "create", "app"], cwd=root, env=env, check=True,
                   capture_output=True)
    return root / "app"


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_no_command_shows_a_traceback_for_bad_input(kind, template_project, tmp_path, env):
    data = BAD_FILES[kind]
    bad = tmp_path / "bad.json"
    bad.write_bytes(data)
    project = tmp_path / "app"
    shutil.copytree(template_project, project)
    (tmp_path / "out").mkdir()
    calls = [
        (["validate", str(bad)], tmp_path, 2),
        (["create", "-f", str(bad), "x"], tmp_path / "out", 2),
        (["build", "-f", str(bad)], tmp_path / "out", 2),
        (["install", "-f", str(bad)], project, 1),
    ]
    results = [(args, subprocess.run([FLOE, *args], cwd=cwd, env=env, capture_output=True,
                                     text=True, timeout=60), code) for args, cwd, code in calls]
    (project / "app.json").write_bytes(data)
    for args in (["list", "--filter", "used"], ["install", "exec"], ["uninstall", "exec"],
                 ["update", "exec"], ["build"], ["validate"]):
        results.append((args, subprocess.run([FLOE, *args], cwd=project, env=env,
                                             capture_output=True, text=True, timeout=60), None))
    shutil.copyfile(template_project / "app.json", project / "app.json")
    (project / "floe.lock").write_bytes(data)
    for args in (["list"], ["install", "exec"], ["build"]):
        results.append((args, subprocess.run([FLOE, *args], cwd=project, env=env,
                                             capture_output=True, text=True, timeout=60), None))
    for args, r, code in results:
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert r.returncode in ((code,) if code else (1, 2)), (args, r.returncode, r.stderr)
        assert r.stderr.startswith(("Error ", "bad.json:", "/")), (args, r.stderr)
    assert list((tmp_path / "out").iterdir()) == []


def test_flogo_spellings(floe, project, tmp_path):
    r = floe("list", "-json", cwd=project)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(floe("list", "--json", cwd=project).stdout)
    bare = floe(cwd=tmp_path)
    assert bare.returncode == 0 and bare.stdout.startswith("Usage: floe ")
    helped = floe("help", cwd=tmp_path)
    assert helped.returncode == 0 and helped.stdout == bare.stdout
    verb = floe("help", "install", cwd=tmp_path)
    assert verb.returncode == 0 and verb.stdout.startswith("Usage: floe install ")


def test_git_ref_records_its_commit(floe, project, tmp_path):
    repo = tmp_path / "repo.git"
    local_contribution(repo, "gitted")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                         text=True).stdout.strip()
    ref = f"file://{repo}#gitted"
    r = floe("install", ref, cwd=project)
    assert r.returncode == 0, r.stderr
    entry = next(c for c in json.loads((project / "floe.lock").read_text())["contributions"]
                 if c["ref"] == ref)
    assert entry["commit"] == sha and entry["source"] == "git"


def test_the_engine_prints_an_errors_hint_and_ref(floe, tmp_path):
    (tmp_path / "c.yml").write_text("common:\n  store-type: local\n  workspace-root: "
                                    "/proc/nope\nflows: []\n")
    r = floe("-conf=c.yml", "-pub_bind=127.0.0.1:0", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-2:] == ["hint: store-root must be a directory this user can "
                                          "write", "ref: store-failed"]


def test_tester_enabled_without_a_port_is_refused(floe, tmp_path):
    (tmp_path / "c.yml").write_text("common:\n  store-type: memory\nflows: []\n")
    r = floe("-conf=c.yml", "-pub_bind=127.0.0.1:0", cwd=tmp_path, TESTER_ENABLED="1",
             TESTER_PORT="")
    assert r.returncode == 2
    assert r.stderr.splitlines()[-3:] == [
        "Error starting engine: TESTER_ENABLED is set but TESTER_PORT is not",
        "hint: set TESTER_PORT to the tester's port (or pass -tester_port=PORT)",
        "ref: listen-failed"]


TESTED_FLOW = {"id": "x", "ver": 1,
               "triggers": [{"id": "s", "name": "S", "type": "data"}],
               "tasks": [{"id": "a", "name": "A", "listen": "trigger.good", "type": "exec",
                          "opts": {"cmd": "CMD"}},
                         {"id": "m", "name": "M", "class": "merge", "type": "all",
                          "wait": ["task.a.good"]},
                         {"id": "done", "name": "Done", "listen": "merge.m.good",
                          "type": "end"}]}


def test_tester_reports_timeouts_end_and_merge_nodes_and_lines(env, tmp_path):
    import httpx

    (tmp_path / "c.yml").write_text("common:\n  store-type: memory\nflows: []\n")
    proc = subprocess.Popen([FLOE, "-conf=c.yml", "-pub_bind=127.0.0.1:0"], cwd=tmp_path,
                            env={**env, "TESTER_ENABLED": "true", "TESTER_PORT": "0"},
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = next(line.split(" on ", 1)[1].strip() for line in proc.stderr
                   if line.startswith("floe tester listening on "))

        def start(cmd: str, **extra: object) -> dict:
            flow = json.loads(json.dumps(TESTED_FLOW).replace("CMD", cmd))
            return httpx.post(f"{url}/flow/start", json={"flow": flow, **extra},
                              timeout=60).json()

        good = start("echo hi")
        assert good["result"] == "good"
        status = {n["id"]: (n["status"], n["result"]) for n in good["nodes"]}
        assert status == {"a": ("finished", "success"), "m": ("finished", "success"),
                          "done": ("finished", "success")}
        slow = start("sleep 30", timeout=0.5)
        assert slow["reason"] == "timed out" and slow["good"] is False
        assert slow["nodes"][0]["result"] == "timed out"
        bad = httpx.post(f"{url}/flow/start", json={"flow": {
            "id": "y", "ver": 1, "tasks": [{"id": "a", "name": "A", "listen": "trigger.good",
                                            "type": "exek"}]}}, timeout=60)
        assert bad.status_code == 400
        # the posted flow as two-space JSON: "type" of the first task is on line 9
        assert bad.json()["Payload"].startswith("<posted flow>:9: tasks[0].type: unknown task "
                                                "type 'exek'")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
