"""`floe build` through the real CLI: binaries that run under `python -I` with nothing installed,
embedding, optimising, other targets, reproducibility and build errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from contribs import make_hello_index

FLOE = str(Path(sys.executable).parent / "floe")
# The Python a user would run a binary with, outside any virtual environment; -I keeps the build
# environment's site-packages (and this checkout) out of reach.
PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
# under a flag `floe build` cannot work with (exit 2)
USAGE = "hint: run 'floe build --help' for its usage\nref: usage-invalid\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # One wheel cache for the module: the first build fetches, the rest reuse it.
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "FLOE_CACHE_DIR": str(cache), "SHIV_ROOT": str(cache / "shiv")}


def floe(*args: str, cwd: Path, env: dict[str, str], ok: bool = True, timeout: float = 300,
         ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([FLOE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    root = tmp_path_factory.mktemp("projects")
    floe("create", "demo", cwd=root, env=env)
    return root / "demo"


HELLO_FLOW = {
    "id": "greet", "ver": 1,
    "triggers": [{"id": "start", "name": "Start", "type": "data"}],
    "tasks": [
        {"id": "say", "name": "Say", "listen": "trigger.good", "type": "hello"},
        {"id": "done", "name": "Done", "listen": "task.say.good", "type": "end"},
    ],
}


def run_binary(binary: Path, *args: str, cwd: Path, env: dict[str, str],
               ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([PYTHON, "-I", str(binary), *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=120)


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as z:
        return z.namelist()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_embedded_binary_runs_a_flow_with_no_app_file(project, env, tmp_path):
    out = floe("build", "-e", cwd=project, env=env)
    binary = project / "bin" / "demo"
    assert f"Built bin/demo ({binary.stat().st_size / 1e6:.1f} MB" in out.stdout
    assert os.access(binary, os.X_OK)
    copy = tmp_path / "demo"
    shutil.copy2(binary, copy)
    assert not (tmp_path / "app.json").exists()
    proc = run_binary(copy, f"-root={tmp_path / 'root'}", "-start=build-project", "-once",
                      "-events", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    ends = [e for e in events if e["Tag"] == "sys.end.all"]
    assert len(ends) == 1 and ends[0]["Good"] is True
    assert any(e["Tag"] == "task.package.good" for e in events)


def test_binary_serves_the_api_and_a_flow_launched_through_it_completes(project, env, tmp_path):
    floe("build", cwd=project, env=env)
    shutil.copy2(project / "bin" / "demo", tmp_path / "demo")
    shutil.copy2(project / "app.json", tmp_path / "app.json")
    clean = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    proc = subprocess.Popen([PYTHON, "-I", str(tmp_path / "demo"), "-pub_bind=127.0.0.1:0",
                             "-admin=build-test-token", f"-root={tmp_path / 'root'}"],
                            cwd=tmp_path, env=clean, stderr=subprocess.PIPE, text=True)
    try:
        base = ""
        for line in proc.stderr:  # the engine says where it listens once it is ready
            if "floe listening on " in line:
                base = line.split("floe listening on ", 1)[1].strip()
                break
        assert base, "the binary never listened"
        api = httpx.Client(base_url=base + "/build/api",
                           headers={"X-Floe-Auth": "build-test-token"}, timeout=10)
        pushed = api.post("/push/data", json={"Ref": {"ID": "build-project", "Ver": 1},
                                              "Form": {"ID": "start", "Values": {}}})
        assert pushed.status_code == 200
        deadline = time.monotonic() + 60
        archive: list = []
        while not archive and time.monotonic() < deadline:
            runs = api.get("/flows/build-project").json()["Payload"]["Runs"]
            archive = runs["Archive"] or []
            time.sleep(0.1)
        assert len(archive) == 1 and archive[0]["Good"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_binary_holds_only_the_engine_runtime(project, env):
    floe("build", cwd=project, env=env)
    entries = names(project / "bin" / "demo")
    tops = {n.split("/")[1] for n in entries if n.startswith("site-packages/")}
    assert {"floecli", "yaml", "starlette", "uvicorn", "croniter", "floe_vendor"} <= tops
    # the contributions below the engine's packages, never beside them
    vendored = {n.split("/")[2] for n in entries if n.startswith("site-packages/floe_vendor/")}
    assert {"exec", "data_trigger", "end", "poll_git", "fetch"} <= vendored
    assert not vendored & {"yaml", "floecli", "jsonschema"}
    # GitPython stays out: the engine's git module falls back to the git binary
    assert not tops & {"typer", "rich", "git", "platformdirs", "shiv", "pip"}
    assert not tops & {"psycopg", "psycopg_binary", "psycopg_pool"}  # its app keeps no database
    assert not [n for n in entries if n.startswith(("site-packages/floecli/cli/",
                                                     "site-packages/floecli/project/"))]
    assert "site-packages/floe_app.json" not in entries  # no -e


def test_binary_without_embed_reads_app_json_from_its_directory(project, env, tmp_path):
    floe("build", cwd=project, env=env)
    shutil.copy2(project / "app.json", tmp_path / "app.json")
    proc = run_binary(project / "bin" / "demo", f"-root={tmp_path / 'root'}",
                      "-start=build-project", "-once", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    # flogo-web starts the binary from <engine>/bin-test, environment only: ../app.json
    bin_test = tmp_path / "bin-test"
    bin_test.mkdir()
    proc = run_binary(project / "bin" / "demo", f"-root={tmp_path / 'root'}",
                      "-start=build-project", "-once", cwd=bin_test, env=env)
    assert proc.returncode == 0, proc.stderr
    # FLOE_CONFIG_PATH names the app document; FLOE_LOG_LEVEL=DEBUG logs debug lines
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    proc = run_binary(project / "bin" / "demo", f"-root={tmp_path / 'root'}",
                      "-start=build-project", "-once", cwd=elsewhere,
                      env={**env, "FLOE_CONFIG_PATH": str(tmp_path / "app.json"),
                           "FLOE_LOG_LEVEL": "DEBUG"})
    assert proc.returncode == 0, proc.stderr
    assert " DEBUG " in proc.stderr
    missing = run_binary(project / "bin" / "demo", "-start=build-project", "-once",
                         cwd=elsewhere, env=env)
    assert missing.returncode == 2
    assert "no config file" in missing.stderr


def test_optimize_leaves_out_unused_contributions(project, env, tmp_path):
    out = floe("build", "-e", "-o", cwd=project, env=env)
    # default-app.json's flows use the data trigger, exec and end; not the timer or data tasks
    assert "Removing unused task: timer\n" in out.stdout
    assert "Removing unused trigger: timer\n" in out.stdout
    assert "Removing unused task: data\n" in out.stdout
    entries = names(project / "bin" / "demo")
    assert "site-packages/floe_vendor/timer/descriptor.json" not in entries
    assert "site-packages/floe_vendor/exec/descriptor.json" in entries
    proc = run_binary(project / "bin" / "demo", f"-root={tmp_path / 'root'}",
                      "-start=build-project", "-once", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr


def test_two_builds_are_byte_identical_and_the_second_needs_no_index(project, env):
    floe("build", "-e", cwd=project, env=env)
    first = sha256(project / "bin" / "demo")
    # every wheel now comes from the cache: no package index at all
    floe("build", "-e", cwd=project, env={**env, "PIP_NO_INDEX": "1"})
    assert sha256(project / "bin" / "demo") == first


def test_windows_target_is_an_exe_with_the_app_in_its_trailing_zip(project, env):
    floe("build", "-e", "--target", "windows_amd64", cwd=project, env=env)
    exe = project / "bin" / "windows_amd64" / "demo.exe"
    data = exe.read_bytes()
    assert data[:2] == b"MZ"  # a Windows executable: the launcher pip puts before scripts
    assert b"#!/usr/bin/env python.exe\r\n" in data
    with zipfile.ZipFile(exe) as z:
        assert z.read("site-packages/floe_app.json") == (project / "app.json").read_bytes()
        natives = [n for n in z.namelist() if n.endswith((".so", ".pyd"))]
        assert not any("/uvloop/" in n for n in z.namelist())  # no Windows build of it
    assert natives and all(n.endswith(".pyd") for n in natives)


@pytest.fixture(scope="module")
def arm64_binary(project, env) -> Path:
    floe("build", "--target", "linux_arm64", cwd=project, env=env)
    return project / "bin" / "linux_arm64" / "demo"


def test_linux_arm64_target_holds_arm64_native_wheels(arm64_binary):
    natives = [n for n in names(arm64_binary) if n.endswith(".so")]
    assert any("/rpds/" in n for n in natives)  # jsonschema's rpds-py is native
    assert any("/uvloop/" in n for n in natives)  # the engine's event loop
    assert natives and all("aarch64" in n for n in natives)


def test_contribution_that_cannot_be_had_for_the_target_shows_pips_message(
        project, env, arm64_binary, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    # A native distribution installed for this machine only: it must be fetched for arm64.
    info = broken / "vendor" / "floe_no_such_native-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: floe-no-such-native\n"
                                   "Version: 1.0\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
    (info / "RECORD").write_text("")
    offline = {**env, "PIP_NO_INDEX": "1"}  # the engine's own wheels are cached by now
    # not in floe.lock: only --no-verify packs it (a checked build refuses the stray files)
    proc = floe("build", "--no-verify", "--target", "linux_arm64", cwd=broken, env=offline,
                ok=False)
    assert proc.returncode == 1
    error = proc.stderr.splitlines()[1]
    assert error.startswith("Error building project: cannot get wheels for linux_arm64:")
    assert "floe-no-such-native==1.0" in proc.stderr


def test_build_f_builds_an_app_document_outside_any_project(env, tmp_path):
    app = Path(__file__).resolve().parents[2] / "default-app.json"
    out = floe("build", "-e", "-f", str(app), cwd=tmp_path, env=env)
    assert "Built myengine (" in out.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myengine"]  # no project left
    proc = run_binary(tmp_path / "myengine", f"-root={tmp_path / 'root'}",
                      "-start=build-project", "-once", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    missing = floe("build", "-f", str(tmp_path / "nope.json"), cwd=tmp_path, env=env, ok=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error creating temp project: cannot load app file ")


def test_an_app_on_postgres_is_built_with_the_postgres_driver(env, tmp_path):
    doc = json.loads((Path(__file__).resolve().parents[2] / "default-app.json").read_text())
    doc["common"]["store-type"] = "postgres"
    app = tmp_path / "pg-app.json"
    app.write_text(json.dumps(doc))
    floe("build", "-f", str(app), cwd=tmp_path, env=env)
    tops = {n.split("/")[1] for n in names(tmp_path / "myengine")
            if n.startswith("site-packages/")}
    assert {"psycopg", "psycopg_binary", "psycopg_pool"} <= tops


def test_build_errors(project, env, tmp_path):
    outside = floe("build", cwd=tmp_path, env=env, ok=False)
    assert outside.returncode == 1
    assert outside.stderr.startswith("Error validating project: ")
    bad = floe("build", "--target", "plan9_mips", cwd=project, env=env, ok=False)
    assert bad.returncode == 2
    assert "unknown target 'plan9_mips'" in bad.stderr
    native = floe("build", "--format", "native", "--target", "windows_amd64", cwd=project,
                  env=env, ok=False)
    assert native.returncode == 2
    assert "--format native builds for this machine only" in native.stderr
    fmt = floe("build", "--format", "egg", cwd=project, env=env, ok=False)
    assert fmt.returncode == 2
    assert "unknown format 'egg'" in fmt.stderr


@pytest.mark.timeout(900)  # PyInstaller is slow on a busy machine
def test_native_format_includes_contribution_dependencies(env, tmp_path):
    """A third-party contribution's pip dependency is inside the native binary: a flow that
    imports it runs with an empty environment."""
    index = make_hello_index(tmp_path / "index")
    root = tmp_path / "projects"
    root.mkdir()
    floe("create", "nat", cwd=root, env=env)
    project = root / "nat"
    offline = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    floe("install", "floe-hello", cwd=project, env=offline)
    app = json.loads((project / "app.json").read_text())
    app["flows"].append(HELLO_FLOW)
    (project / "app.json").write_text(json.dumps(app, indent=2))
    # PyInstaller takes minutes on a busy machine
    out = floe("build", "-e", "--format", "native", cwd=project, env=env, timeout=840)
    binary = project / "bin" / "nat"
    assert "Built bin/nat" in out.stdout
    assert binary.read_bytes()[:4] == b"\x7fELF"  # a real executable, no shebang
    proc = subprocess.run([str(binary), f"-root={tmp_path / 'root'}", "-start=greet", "-once",
                           "-events", "-v"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "hello from a dep" in proc.stdout
    assert "event loop: uvloop" in proc.stderr  # frozen with all of it


def copy_project(project: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "demo"
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns("bin"))
    (dest / "bin").mkdir()
    return dest


@pytest.mark.parametrize(("text", "problem"), [
    ('{"name": "demo", "flows": [\n', "app.json:2: "),
    (None, "unknown task type 'exek'"),
    (None, "opts.cmd"),
])
def test_build_refuses_an_invalid_app_document(project, env, tmp_path, text, problem):
    demo = copy_project(project, tmp_path)
    if text is None:
        app = json.loads((demo / "app.json").read_text())
        task = app["flows"][0]["tasks"][0]
        if problem.startswith("unknown"):
            task["type"] = "exek"
        else:
            task["opts"] = {"cmd": 12}
        text = json.dumps(app, indent=2)
    (demo / "app.json").write_text(text)
    proc = floe("build", "-e", cwd=demo, env=env, ok=False)
    assert proc.returncode == 2, proc.stderr
    # one problem is the error's detail; more are listed under it
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"Error building project: {demo / 'app.json'}")
    assert all(line.startswith(f"{demo / 'app.json'}:") for line in lines[1:-2])
    assert lines[-2:] == ["hint: check the app document: 'floe validate FILE' lists every "
                          "problem with its line", "ref: config-invalid"]
    assert problem in proc.stderr
    assert list((demo / "bin").iterdir()) == []


def test_a_tampered_vendor_file_is_named(project, env, tmp_path):
    demo = copy_project(project, tmp_path)
    with (demo / "vendor" / "exec" / "__init__.py").open("a") as f:
        f.write("\nimport os  # tampered\n")
    proc = floe("build", cwd=demo, env=env, ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "Error building project: vendor/exec/__init__.py differs from floe.lock (installed "
        "from exec)",
        "hint: reinstall it (floe update REF), or build anyway with --no-verify",
        "ref: vendor-modified"]
    assert list((demo / "bin").iterdir()) == []
    floe("build", "--no-verify", cwd=demo, env=env)
    assert (demo / "bin" / "demo").is_file()


@pytest.mark.timeout(300)
def test_python_version_and_missing_target_wheels(project, env):
    old = floe("build", "--python-version", "2.7", cwd=project, env=env, ok=False)
    assert old.returncode == 2
    assert old.stderr == ("Error building project: --python-version 2.7: the engine needs "
                          "Python 3.11 or newer\n" + USAGE)
    # refused at once (exit 2), naming the Python that works, before any wheel is fetched
    arm = floe("build", "--target", "windows_arm64", "--python-version", "3.11", cwd=project,
               env=env, ok=False)
    assert arm.returncode == 2
    assert arm.stderr.startswith("Error building project: windows_arm64 cannot be built for "
                                 "Python 3.11: ")
    assert "use --python-version 3.12" in arm.stderr


def start_engine(binary: Path, cwd: Path, env: dict[str, str], root: Path,
                 ) -> tuple[subprocess.Popen[str], str]:
    """The binary started as flogo-web starts it (from bin-test, app document found through
    ../app.json, tester from the environment); the tester's URL, read from its own line."""
    clean = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    clean.update(TESTER_ENABLED="true", TESTER_PORT="0", FLOE_LOG_LEVEL="DEBUG")
    proc = subprocess.Popen([PYTHON, "-I", str(binary), "-pub_bind=127.0.0.1:0",
                             f"-root={root}"], cwd=cwd, env=clean, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("floe tester listening on "):
            return proc, line.split(" on ", 1)[1].strip()
    proc.wait(timeout=30)
    raise AssertionError(f"the engine exited {proc.returncode} before its tester listened")


def stop_engine(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.communicate(timeout=60)


@pytest.mark.timeout(900)
def test_seed_001_sequence_as_a_design_time_server_drives_it(env, tmp_path):
    """flogo-web's engine life cycle (toolchain-reference §8) against floe, step by step."""
    from contribs import make_runtime_wheel

    index = make_hello_index(tmp_path / "index")
    runtimes = tmp_path / "runtimes"
    make_runtime_wheel(runtimes, "0.0.16")
    e = {**env, "PIP_FIND_LINKS": str(index), "FLOE_RUNTIME_FIND_LINKS": str(runtimes)}
    engines = tmp_path / "local" / "engines"
    engines.mkdir(parents=True)
    default_app = Path(__file__).resolve().parents[2] / "default-app.json"

    # 1. create with a pinned runtime (FLOE_LIB_VERSION → --cv), from the default descriptor
    out = floe("create", "--cv", "0.0.16", "-f", str(default_app), "flogo-web", cwd=engines,
               env=e)
    assert "Engine runtime: floe 0.0.16" in out.stdout
    engine = engines / "flogo-web"
    (engine / "bin-test").mkdir()
    (engine / "bin-build").mkdir()
    # 2. the plugin bundle, then the default palette
    (engine / "__plugin-bundle.json").write_text('{"contributions": ["floe-hello"]}')
    out = floe("install", "--file", str(engine / "__plugin-bundle.json"), cwd=engine, env=e)
    assert "Installed task: floe-hello 1.0.0" in out.stdout
    palette = tmp_path / "default-contrib-bundle.json"
    palette.write_text(json.dumps({"name": "palette", "contributions": [
        "exec", "data", "end", "timer", "data_trigger"]}))
    floe("install", "--file", str(palette), cwd=engine, env=e)
    # 3. list: every entry's path + descriptor is a readable descriptor
    listed = json.loads(floe("list", cwd=engine, env=e).stdout)
    default = json.loads((Path(__file__).parents[2] / "default-bundle.json").read_text())
    assert {i["ref"] for i in listed} == {*default["contributions"], "floe-hello"}
    for i in listed:
        json.loads((Path(i["path"]) / i["descriptor"]).read_text())

    def build_and_start() -> subprocess.Popen[str]:
        floe("build", cwd=engine, env=e)
        built = [p for p in sorted((engine / "bin").rglob("*")) if p.is_file()]
        binary = engine / "bin-test" / built[0].name
        shutil.copy2(built[0], binary)
        with zipfile.ZipFile(binary) as z:
            assert b'"0.0.16"' in z.read("site-packages/floecli/__init__.py")
        proc, tester = start_engine(binary, engine / "bin-test", e, tmp_path / "root")
        assert httpx.get(f"{tester}/status").json() == {"status": "ok"}
        run = httpx.post(f"{tester}/flow/start", json={"flowUri": "res://flow:build-project"},
                         timeout=120).json()
        assert run.get("result") == "good", run  # an error reply shows its Message
        return proc

    # 4. build, copy into bin-test, start with the tester environment
    stop_engine(build_and_start())
    # 5. a contribution removed and added again from the UI, then rebuild and restart
    floe("uninstall", "floe-hello", cwd=engine, env=e)
    assert "floe-hello" not in (engine / "app.json").read_text()
    floe("install", "floe-hello", cwd=engine, env=e)
    stop_engine(build_and_start())
    # 6. the downloadable binary: the app exported elsewhere, created and built -o -e
    exported = engines / "exported-app-build.json"
    shutil.copyfile(engine / "app.json", exported)
    floe("create", "--cv", "0.0.16", "-f", str(exported), "app-build", cwd=engines, env=e)
    out = floe("build", "-e", "-o", "--target", "windows_amd64", cwd=engines / "app-build",
               env=e)
    exe = engines / "app-build" / "bin" / "windows_amd64" / "app-build.exe"
    assert "Built bin/windows_amd64/app-build.exe" in out.stdout
    with zipfile.ZipFile(exe) as z:
        app = json.loads(z.read("site-packages/floe_app.json"))
        assert app["name"] == "app-build"
        assert b'"0.0.16"' in z.read("site-packages/floecli/__init__.py")


def test_build_f_reads_relative_refs_from_the_app_documents_directory(env, tmp_path):
    """flogo-web's download step: the app document of a project with a local contribution,
    built with build -f from another directory."""
    from contribs import descriptor, make_dir

    root = tmp_path / "projects"
    root.mkdir()
    floe("create", "rel", cwd=root, env=env)
    project = root / "rel"
    make_dir(project / "contribs", {
        "hello/__init__.py": "from floecli.engine.nodes import BaseTask\n\n\n"
                             "class Hello(BaseTask):\n    async def run(self, ctx):\n"
                             "        ctx.log('hello from a local contribution')\n"
                             "        return 0\n",
        "hello/descriptor.json": descriptor("hello", "hello")})
    floe("install", "./contribs/hello", cwd=project, env=env)
    app = json.loads((project / "app.json").read_text())
    app["flows"].append(HELLO_FLOW)
    (project / "app.json").write_text(json.dumps(app, indent=2))
    out_dir = tmp_path / "download"
    out_dir.mkdir()
    out = floe("build", "-e", "-o", "-f", "../projects/rel/app.json", cwd=out_dir, env=env)
    assert "Built rel (" in out.stdout
    proc = run_binary(out_dir / "rel", f"-root={tmp_path / 'ws'}", "-start=greet", "-once",
                      "-events", cwd=out_dir, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "hello from a local contribution" in proc.stdout
