"""One error path from `raise` to the screen: for each verb, a realistic bad input and the whole
of what the user reads (`Error <doing X>: <detail>`, `hint:`, `ref:`) with the exit status: 1 for
an ordinary failure, 2 for an invalid app document or bad flags. click's usage errors, the
engine's own command line and a bug (an unexpected exception) print the same way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# the `project` fixture's `floe create` runs as a subprocess too
pytestmark = pytest.mark.script_launch_mode("subprocess")

FLOE = shutil.which("floe") or str(Path(sys.executable).parent / "floe")

CONFIG_HINT = ("hint: check the app document: 'floe validate FILE' lists every problem with its "
               "line\nref: config-invalid\n")
BUG_HINT = ("hint: this is a bug in floe: rerun with FLOE_DEBUG=1 to see the traceback, and "
            "report it with that output\n")
NOT_A_PROJECT = ("hint: run this in an engine project's directory, or make one with "
                 "'floe create NAME'\nref: project-invalid\n")

# two problems on two lines: listed under `Error ...: 2 errors in the app document`
TWO_PROBLEMS = """\
name: two
flows:
  - id: f
    triggers: [{id: start, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exek}
      - {id: b, listen: task.a.good, type: exec, opts: {cmd: 5}}
"""
TWO_PROBLEMS_LINES = (
    "{file}:6: flows[0].tasks[0].type: unknown task type 'exek' (known: data, end, exec, "
    "fetch, git-checkout, git-merge, timer)\n"
    "{file}:7: flows[0].tasks[1].opts.cmd: 5 is not of type 'string'\n")


def floe(*args: str, cwd: Path, env: dict[str, str], stdin: bytes = b"",
         ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([FLOE, *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          timeout=120)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(),
                                       done.stderr.decode())


def engine(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "floecli.engine", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def result(r: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    return r.returncode, r.stderr


# ---- one per verb ----------------------------------------------------------------------------


def test_create_an_app_document_with_two_problems(tmp_path, env):
    (tmp_path / "two.yml").write_text(TWO_PROBLEMS)
    r = floe("create", "-f", "two.yml", cwd=tmp_path, env=env)
    assert result(r) == (2, "Error creating project: two.yml: 2 errors in the app document\n"
                            + TWO_PROBLEMS_LINES.format(file="two.yml") + CONFIG_HINT)
    assert not (tmp_path / "two").exists()


def test_install_a_directory_that_does_not_exist(project, env):
    r = floe("install", "./nowhere", cwd=project, env=env)
    assert result(r) == (1, f"Error installing ./nowhere: no such directory: "
                            f"{project / 'nowhere'}\n"
                            "hint: the project was left as it was; --verbose shows each step "
                            "pip and git take\nref: install-failed\n")


def test_uninstall_what_is_not_installed(project, env):
    r = floe("uninstall", "nosuch", cwd=project, env=env)
    assert result(r) == (1, "Error uninstalling nosuch: nosuch is not installed\n"
                            "hint: 'floe list' shows the installed refs\nref: install-failed\n")


def test_update_without_a_ref_is_a_usage_error(project, env):
    r = floe("update", cwd=project, env=env)
    assert result(r) == (2, "Error updating contribution: no contribution given: name a REF or "
                            "use --all\nhint: run 'floe update --help' for its usage\n"
                            "ref: usage-invalid\n")


def test_list_outside_a_project(tmp_path, env):
    r = floe("list", cwd=tmp_path, env=env)
    assert result(r) == (1, "Error validating project: not a floe engine project directory, "
                            "missing app.json\n" + NOT_A_PROJECT)


def test_build_for_an_unknown_target(project, env):
    r = floe("build", "--target", "plan9_mips", cwd=project, env=env)
    assert result(r) == (2, "Error building project: unknown target 'plan9_mips': use one of "
                            "linux_amd64, linux_arm64, darwin_amd64, darwin_arm64, "
                            "windows_amd64, windows_arm64\n"
                            "hint: run 'floe build --help' for its usage\nref: usage-invalid\n")


def test_run_with_a_config_file_that_does_not_exist(tmp_path, env):
    r = floe("run", "-conf=missing.yml", cwd=tmp_path, env=env)
    assert result(r) == (2, f"Error loading config: {tmp_path / 'missing.yml'}: cannot read the "
                            "app document: No such file or directory\n" + CONFIG_HINT)


def test_validate_a_file_that_does_not_exist(tmp_path, env):
    r = floe("validate", "missing.yml", cwd=tmp_path, env=env)
    assert result(r) == (2, "Error validating app: missing.yml: cannot read the app document: "
                            "No such file or directory\n" + CONFIG_HINT)


def test_graph_of_a_flow_the_app_does_not_have(tmp_path, env):
    (tmp_path / "app.yml").write_text("flows:\n  - id: f\n    triggers: [{id: s, type: data}]\n"
                                      "    tasks: [{id: a, listen: trigger.good, type: end}]\n")
    r = floe("graph", "g", "-f", "app.yml", cwd=tmp_path, env=env)
    assert result(r) == (1, "Error drawing graph: app.yml has no flow 'g' (flows: f)\n"
                            "hint: name one of its flows, or leave FLOW out to draw them all\n")


class _NotAnEngine(BaseHTTPRequestHandler):
    """Another JSON API at the URL given: 200 with a JSON list, as many APIs answer."""

    def do_POST(self) -> None:
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_an_engine() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAnEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_rerun_against_a_url_that_is_not_an_engine(tmp_path, env, not_an_engine):
    # the old code took any JSON for the engine's envelope: a list was an AttributeError
    r = floe("rerun", "f", "h1-1", "--url", not_an_engine, cwd=tmp_path, env=env)
    assert result(r) == (1, f"Error re-running h1-1: {not_an_engine}/flows/f/runs/h1-1/rerun "
                            "did not answer as a floe engine does\n"
                            "hint: give --url the engine's API base URL, such as "
                            "http://127.0.0.1:8080/build/api\n")


def test_prune_with_an_app_document_that_is_not_yaml(tmp_path, env):
    (tmp_path / "app.yml").write_text("flows: [\n")
    r = floe("prune", "--conf", "app.yml", cwd=tmp_path, env=env)
    assert result(r) == (2, "Error reading the app document: app.yml:2: invalid YAML: expected "
                            "the node content, but found '<stream end>' (while parsing a flow "
                            "node)\n" + CONFIG_HINT)


def test_store_backup_without_a_run_store(tmp_path, env):
    (tmp_path / "app.yml").write_text("flows: []\n")
    r = floe("store", "backup", "out.db", "--conf", "app.yml", "--root", "empty", cwd=tmp_path,
             env=env)
    assert result(r) == (1, f"Error backing up the run store: no run store at "
                            f"{tmp_path / 'empty' / 'store' / 'floe.db'}\n"
                            "hint: give the engine's -conf and -root (--conf, --root)\n"
                            "ref: store-failed\n")
    assert not (tmp_path / "out.db").exists()


def test_passwd_with_a_password_that_is_not_utf8(tmp_path, env):
    # the old code hashed the undecodable bytes and died with a UnicodeEncodeError traceback
    r = floe("passwd", cwd=tmp_path, env=env, stdin=b"\xff\xfepw\n")
    assert (r.returncode, r.stdout, r.stderr) == (
        2, "", "Error making password hash: the password is not UTF-8 text\n"
               "hint: give the password as UTF-8 text, on one line of stdin\n"
               "ref: usage-invalid\n")


# ---- click's usage errors --------------------------------------------------------------------


@pytest.mark.parametrize(("args", "detail", "help_of"), [
    (["install", "--bogus"], "No such option: --bogus (Possible options: --verbose)",
     "floe install"),
    (["rerun", "f"], "Missing argument 'run'", "floe rerun"),
    (["create", "--cv"], "Option '--cv' requires an argument", "floe create"),
    (["store", "backup"], "Missing argument 'file'", "floe store backup"),
    (["nosuchverb"], "No such command 'nosuchverb'", "floe"),
])
def test_usage_errors_are_in_the_one_format(tmp_path, env, args, detail, help_of):
    # the old output was click's: a Usage: block, then `Error: <detail>.`
    r = floe(*args, cwd=tmp_path, env=env)
    assert result(r) == (2, f"Error parsing arguments: {detail}\n"
                            f"hint: run '{help_of} --help' for its usage\nref: usage-invalid\n")
    assert r.stdout == ""


# ---- the engine's own command line ----------------------------------------------------------


@pytest.mark.parametrize("how", ["floe", "floe run", "python -m floecli.engine"])
def test_engine_bad_flag(tmp_path, env, how):
    # the old output started with argparse's usage block
    if how == "python -m floecli.engine":
        r = engine("-no_such_flag=1", cwd=tmp_path, env=env)
    else:
        r = floe(*how.split()[1:], "-no_such_flag=1", cwd=tmp_path, env=env)
    prog = how if how != "floe run" else "floe"
    assert result(r) == (2, "Error parsing flags: unrecognized arguments: -no_such_flag=1\n"
                            f"hint: run '{prog} -help' for the engine's flags\n"
                            "ref: usage-invalid\n")


def test_engine_once_without_start(tmp_path, env):
    r = engine("-once", cwd=tmp_path, env=env)
    assert result(r) == (2, "Error parsing flags: -once needs -start=FLOW\n"
                            "hint: -once waits for the run -start begins, e.g. floe run "
                            "-start=build -once\nref: usage-invalid\n")


def test_engine_invalid_config_lists_every_problem(tmp_path, env):
    (tmp_path / "two.yml").write_text(TWO_PROBLEMS)
    r = engine("-conf=two.yml", "-pub_bind=127.0.0.1:0", cwd=tmp_path, env=env)
    file = tmp_path / "two.yml"
    assert result(r) == (2, f"Error loading config: {file}: 2 errors in the app document\n"
                            + TWO_PROBLEMS_LINES.format(file=file) + CONFIG_HINT)


def test_engine_start_of_a_flow_it_does_not_have(tmp_path, env):
    (tmp_path / "app.yml").write_text("common: {store-type: memory}\nflows: []\n")
    r = engine("-conf=app.yml", "-start=nope", "-once", cwd=tmp_path, env=env)
    assert r.returncode == 2
    assert r.stderr.endswith(f"Error loading config: -start: no flow 'nope' in "
                             f"{tmp_path / 'app.yml'}\n"
                             "hint: give -start the id of one of the app document's flows\n"
                             "ref: config-invalid\n")


# ---- a bug ----------------------------------------------------------------------------------


@pytest.fixture
def broken_httpx(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """A broken install of a library floe uses (httpx, shadowed by one that fails on import):
    what floe does next is a bug's path, not one it planned for."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "httpx.py").write_text("raise RuntimeError('this httpx is broken')\n")
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(shadow),
                                                               env.get("PYTHONPATH")]))}


def test_an_unexpected_exception_is_one_line_and_a_hint(tmp_path, broken_httpx):
    r = floe("rerun", "f", "h1-1", cwd=tmp_path, env=broken_httpx)
    assert result(r) == (1, "Error running floe rerun: unexpected RuntimeError: this httpx is "
                            "broken\n" + BUG_HINT)


def test_floe_debug_shows_the_traceback(tmp_path, broken_httpx):
    r = floe("rerun", "f", "h1-1", cwd=tmp_path, env={**broken_httpx, "FLOE_DEBUG": "1"})
    assert r.returncode == 1
    assert r.stderr.startswith("Traceback (most recent call last):\n")
    assert r.stderr.endswith("RuntimeError: this httpx is broken\n"
                             "Error running floe rerun: unexpected RuntimeError: this httpx is "
                             "broken\n" + BUG_HINT)


def test_every_error_class_has_a_hint_a_ref_and_an_exit_status():
    from floecli.engine import errors
    from floecli.project import errors as project_errors

    classes = {c for m in (errors, project_errors) for c in vars(m).values()
               if isinstance(c, type) and issubclass(c, errors.FloeError)}
    assert len(classes) > 10
    for cls in classes:
        assert cls.hint and cls.ref and cls.exit_status in (1, 2), cls
    assert sorted(c.ref for c in classes if c.exit_status == 2) == [
        "config-invalid", "listen-failed", "usage-invalid"]


def test_a_config_error_holding_only_warnings_reads_as_its_message(tmp_path):
    from floecli.engine.errors import ConfigError, Problem, report

    error = ConfigError("app.yml: the app document has warnings",
                        [Problem("app.yml", 3, "flows[0]", "never fires", "warning")])
    with (tmp_path / "err.txt").open("w") as err:
        assert report("loading config", error, err=err) == 2
    assert (tmp_path / "err.txt").read_text() == (
        "Error loading config: app.yml: the app document has warnings\n" + CONFIG_HINT)
