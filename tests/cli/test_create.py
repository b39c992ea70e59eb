"""`floe create` through the real console script."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from pathlib import Path

import pytest
from contribs import make_runtime_wheel, make_wheel, tree_digest

import floecli

pytestmark = pytest.mark.script_launch_mode("subprocess")

REPO = Path(__file__).resolve().parents[2]
V = floecli.__version__
DEFAULT_LINES = [
    f"Engine runtime: floe {V}",
    "Installed task: exec 1.0.0",
    "Installed task: data 1.0.0",
    "Installed task: end 1.0.0",
    "Installed task: timer 1.0.0",
    "Installed task: fetch 1.0.0",
    "Installed task: git_checkout 1.0.0",
    "Installed task: git_merge 1.0.0",
    "Installed trigger: data_trigger 1.0.0",
    "Installed trigger: timer_trigger 1.0.0",
    "Installed trigger: poll_git 1.0.0",
]
# The default bundle, in its order (app.json imports) and sorted (vendor/, the lock).
DEFAULT_IMPORTS = ["exec", "data", "end", "timer", "fetch", "git_checkout", "git_merge",
                   "data_trigger", "timer_trigger", "poll_git"]

YAML_APP = """\
name: yamlapp
version: 0.0.2
custom-key: kept
common:
  store-type: memory
flows:
  - id: hello
    ver: 1
    triggers:
      - {id: start, name: Start, type: data}
    tasks:
      - id: greet
        name: Greet
        listen: trigger.good
        type: exec
        opts: {cmd: "echo hi"}
      - id: done
        name: Done
        listen: task.greet.good
        type: end
"""


def run_flow(floe, root: Path, flow: str):
    return floe("run", f"-start={flow}", "-once", "-events", f"-root={root.parent / 'ws'}",
                "-pub_bind=127.0.0.1:0", cwd=root)


def test_create_default(floe, tmp_path):
    r = floe("create", "myapp", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Creating floe engine project: myapp"
    assert lines[-len(DEFAULT_LINES):] == DEFAULT_LINES
    root = tmp_path / "myapp"
    assert sorted(p.name for p in root.iterdir()) == [
        ".floe-project.lock", ".gitignore", "README.md", "app.json", "bin", "floe.lock",
        "main.py", "vendor"]
    assert list((root / "bin").iterdir()) == []
    assert sorted(p.name for p in (root / "vendor").iterdir()) == sorted(DEFAULT_IMPORTS)
    app = json.loads((root / "app.json").read_text())
    assert app["name"] == "myapp"
    # the app document's own imports keep their order; what the bundle added follows
    assert app["imports"] == ["exec", "data", "end", "timer", "data_trigger", "fetch",
                              "git_checkout", "git_merge", "timer_trigger", "poll_git"]
    lock = json.loads((root / "floe.lock").read_text())
    assert lock["engine"] == {"name": "floecli-engine", "version": V}
    assert [c["ref"] for c in lock["contributions"]] == sorted(app["imports"])
    # only the name and the imports line differ from the default app
    want = (REPO / "default-app.json").read_text().replace('"myengine"', '"myapp"').replace(
        '"data_trigger"]', '"data_trigger", "fetch", "git_checkout", "git_merge", '
        '"timer_trigger", "poll_git"]')
    assert (root / "app.json").read_text() == want
    assert not list(tmp_path.glob(".floe-*"))


def test_created_project_validates_and_runs(floe, project):
    r = floe("validate", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{project / 'app.json'}: valid (1 flows)"
    r = run_flow(floe, project, "build-project")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert events


def test_entry_module_runs_the_project(project, script_runner, env):
    r = script_runner.run(
        [sys.executable, "main.py", "-start=build-project", "-once",
         f"-root={project.parent / 'ws'}", "-pub_bind=127.0.0.1:0"], cwd=project, env=env)
    assert r.returncode == 0, r.stderr


def test_create_from_yaml(floe, tmp_path):
    (tmp_path / "app.yml").write_text(YAML_APP)
    r = floe("create", "-f", "app.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "Creating floe engine project: yamlapp"
    root = tmp_path / "yamlapp"
    app = json.loads((root / "app.json").read_text())
    assert list(app) == ["name", "version", "imports", "custom-key", "common", "flows"]
    assert app["custom-key"] == "kept"
    assert app["imports"] == DEFAULT_IMPORTS  # it had none: the default bundle's, in order
    assert floe("validate", cwd=root).returncode == 0
    r = run_flow(floe, root, "hello")
    assert r.returncode == 0, r.stderr


def test_create_from_url(floe, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.yml").write_text(YAML_APP)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/remote.yml"
        r = floe("create", "-f", url, "fromurl", cwd=tmp_path, NO_PROXY="127.0.0.1")
        assert r.returncode == 0, r.stderr
        app = json.loads((tmp_path / "fromurl" / "app.json").read_text())
        assert app["name"] == "fromurl"
        assert run_flow(floe, tmp_path / "fromurl", "hello").returncode == 0
        r = floe("create", "-f", url.replace("remote", "missing"), "x", cwd=tmp_path,
                 NO_PROXY="127.0.0.1")
        assert r.returncode == 1
        assert r.stderr.startswith(f"Error creating project: cannot load remote app file "
                                   f"{url.replace('remote', 'missing')}: Client error '404")
    finally:
        server.shutdown()


def test_existing_non_empty_directory_is_refused(floe, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    before = tree_digest(tmp_path)
    r = floe("create", "taken", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == (f"Error creating project: {tmp_path / 'taken'} already exists and is "
                        "not empty\n"
                        "hint: give another NAME, or remove that directory first\n"
                        "ref: project-invalid\n")
    assert tree_digest(tmp_path) == before


def test_existing_empty_directory_is_used(floe, tmp_path):
    (tmp_path / "empty").mkdir()
    r = floe("create", "empty", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "empty" / "floe.lock").is_file()


def test_no_name(floe, tmp_path):
    (tmp_path / "noname.json").write_text('{"flows": []}')
    r = floe("create", "-f", "noname.json", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == ("Error creating project: app name not specified: give NAME or a `name` "
                        "in the app document\n"
                        "hint: floe create NAME\n"
                        "ref: project-invalid\n")


def test_missing_app_file(floe, tmp_path):
    r = floe("create", "-f", "nope.json", "x", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == ("Error creating project: cannot load app file nope.json: "
                        "No such file or directory\n"
                        "hint: give -f the path of an app document (JSON or YAML)\n"
                        "ref: project-invalid\n")
    assert not (tmp_path / "x").exists()


def test_unknown_engine_version_leaves_nothing(floe, tmp_path, index):
    # the name floe on the index belongs to someone else: never fetched as our runtime
    make_wheel(index, "floe", "0.0.16", {"floe/__init__.py": ""})
    (tmp_path / "run").mkdir()
    r = floe("create", "--cv", "0.0.16", "x", cwd=tmp_path / "run")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"Error creating project: engine runtime floecli-engine 0.0.16 not found (looked in "
        f"{tmp_path / 'cache' / 'runtime'})",
        f"hint: this floe is {V}; for another version give --cv the path of a "
        "floecli_engine-0.0.16-py3-none-any.whl, or set FLOE_RUNTIME_FIND_LINKS (a directory "
        "of wheels) or FLOE_RUNTIME_INDEX_URL",
        "ref: runtime-not-found"]
    assert list((tmp_path / "run").iterdir()) == []


def test_runtime_wheel_that_is_not_ours_is_refused(floe, tmp_path):
    links = tmp_path / "runtimes"
    make_runtime_wheel(links, "0.0.16", engine=False)
    impostor = make_runtime_wheel(tmp_path / "other", "0.0.17", name="floe")
    (tmp_path / "run").mkdir()
    r = floe("create", "--cv", "0.0.16", "x", cwd=tmp_path / "run",
             FLOE_RUNTIME_FIND_LINKS=str(links))
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (
        f"Error creating project: {links / 'floecli_engine-0.0.16-py3-none-any.whl'} is not "
        "floe's engine runtime: it lacks floecli/engine/__init__.py, floecli/engine/main.py")
    r = floe("create", "--cv", str(impostor), "x", cwd=tmp_path / "run")
    assert r.returncode == 1
    assert "is not floe's engine runtime: its metadata names 'floe'" in r.stderr
    assert list((tmp_path / "run").iterdir()) == []


def test_pinned_engine_version(floe, tmp_path):
    links = tmp_path / "runtimes"
    make_runtime_wheel(links, "0.0.9")
    r = floe("create", "--cv", "0.0.9", "pinned", cwd=tmp_path,
             FLOE_RUNTIME_FIND_LINKS=str(links))
    assert r.returncode == 0, r.stderr
    assert "Engine runtime: floe 0.0.9" in r.stdout.splitlines()
    lock = json.loads((tmp_path / "pinned" / "floe.lock").read_text())
    assert lock["engine"]["name"] == "floecli-engine"
    assert lock["engine"]["version"] == "0.0.9"
    assert lock["engine"]["sha256"].startswith("sha256:")
    assert (tmp_path / "cache" / "runtime" / "floecli_engine-0.0.9-py3-none-any.whl").is_file()
    # cached now: FLOE_LIB_VERSION finds it without the find-links directory
    r = floe("create", "byenv", cwd=tmp_path, FLOE_LIB_VERSION="0.0.9")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "byenv" / "floe.lock").read_text())["engine"]["version"] \
        == "0.0.9"
    wheel = make_runtime_wheel(tmp_path / "given", "0.0.10")
    r = floe("create", "--cv", str(wheel), "bypath", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Engine runtime: floe 0.0.10" in r.stdout.splitlines()


def test_default_bundle_override_and_failure(floe, tmp_path):
    (tmp_path / "small.json").write_text('{"contributions": ["exec"]}')
    r = floe("create", "small", cwd=tmp_path, FLOE_DEFAULT_BUNDLE=str(tmp_path / "small.json"))
    assert r.returncode == 0, r.stderr
    # the default app imports exec, data, end, timer and data_trigger: installed too
    assert sorted(p.name for p in (tmp_path / "small" / "vendor").iterdir()) == [
        "data", "data_trigger", "end", "exec", "timer"]
    (tmp_path / "bad.json").write_text('{"contributions": ["exec", "nosuch-contrib"]}')
    (tmp_path / "run").mkdir()
    r = floe("create", "broken", cwd=tmp_path / "run",
             FLOE_DEFAULT_BUNDLE=str(tmp_path / "bad.json"))
    assert r.returncode == 1
    assert r.stderr.startswith("Error creating project: pip failed: ")
    assert list((tmp_path / "run").iterdir()) == []


def test_unreadable_app_document(floe, tmp_path):
    """create -f reads with validate's reader: a malformed document is exit 2, problems as
    FILE:LINE, nothing created."""
    (tmp_path / "bad.yml").write_text("name: x\nflows: [\n")
    r = floe("create", "-f", "bad.yml", cwd=tmp_path)
    assert r.returncode == 2
    # one problem is the error's detail; more are listed under `Error ...: N errors`
    assert r.stderr.splitlines() == [
        "Error creating project: bad.yml:3: invalid YAML: expected the node content, but found "
        "'<stream end>' (while parsing a flow node)",
        "hint: check the app document: 'floe validate FILE' lists every problem with its line",
        "ref: config-invalid"]
    assert not (tmp_path / "x").exists()
    (tmp_path / "commented.json").write_text('{"name": "c",\n // a comment\n "flows": []}\n')
    r = floe("create", "-f", "commented.json", cwd=tmp_path)
    v = floe("validate", "commented.json", cwd=tmp_path)
    assert (r.returncode, v.returncode) == (2, 2)
    assert r.stderr.splitlines()[0] == "Error creating project: " + v.stderr.splitlines()[-1]
    assert v.stderr.splitlines()[-1].startswith("commented.json:2: ")
    assert not (tmp_path / "c").exists()


def test_create_refuses_unknown_types_and_bad_opts(floe, tmp_path):
    app = {"name": "typo", "flows": [{"id": "f", "ver": 1, "triggers": [
        {"id": "start", "name": "Start", "type": "data"}], "tasks": [
        {"id": "a", "name": "A", "listen": "trigger.good", "type": "exek"},
        {"id": "b", "name": "B", "listen": "trigger.good", "type": "exec",
         "opts": {"cmd": 12}}]}]}
    (tmp_path / "typo.json").write_text(json.dumps(app, indent=2))
    (tmp_path / "run").mkdir()
    r = floe("create", "-f", str(tmp_path / "typo.json"), cwd=tmp_path / "run")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("Error creating project: ")
    assert len(lines) == 5 and all(line.startswith(f"{tmp_path / 'typo.json'}:")
                                   for line in lines[1:3])
    assert lines[3:] == ["hint: check the app document: 'floe validate FILE' lists every "
                         "problem with its line", "ref: config-invalid"]
    assert "exek" in r.stderr and "tasks[1].opts.cmd" in r.stderr
    assert list((tmp_path / "run").iterdir()) == []
