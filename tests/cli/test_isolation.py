"""Isolation by construction, through the real console script with an offline package index
made in tmp_path: a dependency never replaces a contribution's package or an engine library,
the engine's pins constrain every resolution, and a contribution that cannot import is never
installed. Each failure leaves the project byte-identical."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from contribs import contribution_files, descriptor, make_dir, make_wheel, tree_digest

pytestmark = pytest.mark.script_launch_mode("subprocess")

FLOE = str(Path(sys.executable).parent / "floe")


def engine_pin(name: str) -> str:
    """`name==version` of an engine library as the runtime pins it."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    return f"{canonicalize_name(name)}=={metadata.version(name)}"


def test_a_dependency_cannot_replace_a_contribution(floe, project, index):
    # timerlib ships a top-level timer/ package: pip would lay it over vendor/timer, the
    # bundled timer task the project already has
    make_wheel(index, "timerlib", "1.0", {"timer/__init__.py": "RATE = 1\n"})
    make_wheel(index, "floe-ticker", "1.0.0", contribution_files("ticker", "ticker", "timer"),
               requires=("timerlib",))
    before = tree_digest(project)
    r = floe("install", "floe-ticker", cwd=project)
    assert r.returncode == 1, r.stdout
    assert r.stderr.splitlines()[0] == (
        "Error installing floe-ticker: timerlib==1.0 (needed by floe-ticker) ships a top-level "
        "timer, which is the package of the task timer (from timer): a dependency cannot "
        "replace a contribution")
    assert "Traceback" not in r.stderr
    assert tree_digest(project) == before
    # the timer contribution still works: an update of it is a no-op
    assert floe("update", "timer", cwd=project).returncode == 0
    assert tree_digest(project) == before


def test_a_dependency_cannot_ship_an_engine_library(floe, project, index):
    make_wheel(index, "yamlish", "1.0", {"yaml/__init__.py": "raise SystemExit('x')\n"})
    make_wheel(index, "floe-yamlish", "1.0.0", contribution_files("yamlish", "yamlish", "os"),
               requires=("yamlish",))
    before = tree_digest(project)
    r = floe("install", "floe-yamlish", cwd=project)
    assert r.returncode == 1, r.stdout
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error installing floe-yamlish: yamlish==1.0 (needed by "
                            "floe-yamlish) ships a top-level yaml, which is the engine's own "
                            f"({engine_pin('PyYAML')}): a dependency cannot replace an engine "
                            "library"), first
    assert tree_digest(project) == before


def test_an_old_engine_library_is_a_conflict_naming_both_requirements(floe, project, index):
    # a tiny jsonschema 3.x: what a contribution pinned to `jsonschema<4` would bring in,
    # without Draft202012Validator, which the engine needs
    make_wheel(index, "jsonschema", "3.2.0", {"jsonschema/__init__.py": "__version__ = '3.2.0'\n"})
    make_wheel(index, "floe-oldschema", "1.0.0",
               contribution_files("oldschema", "oldschema", "jsonschema"),
               requires=("jsonschema<4",))
    before = tree_digest(project)
    r = floe("install", "floe-oldschema", cwd=project)
    assert r.returncode == 1, r.stdout
    assert r.stderr.splitlines()[0] == (
        "Error installing floe-oldschema: floe-oldschema 1.0.0 requires jsonschema<4, but the "
        f"engine runtime needs {engine_pin('jsonschema')}: a contribution cannot change a "
        "library the engine uses")
    assert tree_digest(project) == before


def test_the_engines_own_libraries_never_land_in_vendor(floe, project, index):
    """A contribution needing an engine library gets the engine's (same version, from the
    runtime), not a copy in vendor/."""
    from importlib import metadata

    import yaml

    site = Path(yaml.__file__).parents[1]
    version = metadata.version("PyYAML")
    # the engine's own PyYAML as the index would serve it (only its pure-Python part)
    files = {f"yaml/{p.name}": p.read_text() for p in (site / "yaml").glob("*.py")}
    make_wheel(index, "PyYAML", version, files)
    make_wheel(index, "floe-usesyaml", "1.0.0",
               contribution_files("usesyaml", "usesyaml", "yaml"), requires=("PyYAML",))
    r = floe("install", "floe-usesyaml", cwd=project)
    assert r.returncode == 0, r.stderr
    vendor = sorted(p.name for p in (project / "vendor").iterdir())
    assert "usesyaml" in vendor
    assert not [n for n in vendor if n.lower().startswith(("yaml", "pyyaml"))]


BROKEN = {
    "syntax": ("class Hello(:\n", "SyntaxError: "),
    "import": ("import no_such_module_anywhere\n", "ModuleNotFoundError: No module named "
                                                    "'no_such_module_anywhere'"),
    "attribute": ("from floecli.engine.nodes import BaseTask\n\n\nclass Other(BaseTask):\n"
                  "    async def run(self, ctx):\n        return 0\n",
                  "has no attribute Hello"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_contribution_that_cannot_import_is_not_installed(floe, project, kind):
    code, said = BROKEN[kind]
    make_dir(project / "contribs", {"broken/__init__.py": code,
                                    "broken/descriptor.json": descriptor("broken", "broken")})
    before = tree_digest(project)
    r = floe("install", "./contribs/broken", cwd=project)
    assert r.returncode == 1, r.stdout
    lines = r.stderr.splitlines()
    assert lines[0].startswith("Error installing ./contribs/broken: the contribution in "
                               "vendor/broken does not import: broken:Hello"), lines
    assert said in lines[0]
    assert lines[1].startswith("hint: fix the contribution")
    assert "Traceback" not in r.stderr
    assert tree_digest(project) == before


def test_a_pip_contribution_that_cannot_import_is_not_installed(floe, project, index):
    files = contribution_files("nodep", "nodep", "no_such_dependency")
    make_wheel(index, "floe-nodep", "1.0.0", files)
    before = tree_digest(project)
    r = floe("install", "floe-nodep", cwd=project)
    assert r.returncode == 1, r.stdout
    assert r.stderr.splitlines()[0] == (
        "Error installing floe-nodep: the contribution in vendor/nodep does not import: "
        "nodep:Hello: ModuleNotFoundError: No module named 'no_such_dependency'")
    assert tree_digest(project) == before


def test_a_conflict_names_the_ref_being_installed(floe, project, index):
    make_wheel(index, "hellodep", "2.0.0", {"hellodep/__init__.py": "GREETING = 'two'\n"})
    make_dir(project / "contribs", {
        "needsone/__init__.py": "from floecli.engine.nodes import BaseTask\n\n\n"
                                "class Hello(BaseTask):\n    async def run(self, ctx):\n"
                                "        return 0\n",
        "needsone/descriptor.json": descriptor("needsone", "needsone"),
        "needsone/requirements.txt": "hellodep==1.0.0\n",
        "needstwo/__init__.py": "from floecli.engine.nodes import BaseTask\n\n\n"
                                "class Hello(BaseTask):\n    async def run(self, ctx):\n"
                                "        return 0\n",
        "needstwo/descriptor.json": descriptor("needstwo", "needstwo"),
        "needstwo/requirements.txt": "hellodep==2.0.0\n"})
    assert floe("install", "./contribs/needsone", cwd=project).returncode == 0
    before = tree_digest(project)
    r = floe("install", "./contribs/needstwo", cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith("Error installing ./contribs/needstwo: pip failed: ")
    # both requirements, each with the contribution that needs it
    lines = r.stderr.splitlines()
    cause = lines[lines.index("The conflict is caused by:") + 1:][:2]
    assert cause == ["  ./contribs/needsone requires hellodep==1.0.0",
                     "  ./contribs/needstwo requires hellodep==2.0.0"], r.stderr
    assert tree_digest(project) == before


def test_an_interrupted_install_is_cleaned_up_by_the_next_command(floe, project):
    # what a SIGKILL mid-install leaves: the staged copy of vendor/
    stage = project / ".floe-stage-x1y2"
    (stage / "vendor" / "exec").mkdir(parents=True)
    (stage / "pip-1").mkdir()
    r = floe("install", "exec", cwd=project)
    assert r.returncode == 0, r.stderr
    assert not stage.exists()
    assert not list(project.glob(".floe-stage-*"))
    # what a build killed while writing its binary leaves: a temporary file beside it
    (project / "bin" / "windows_amd64").mkdir(parents=True, exist_ok=True)
    torn = [project / "bin" / ".app.k2j3.floe-tmp",
            project / "bin" / "windows_amd64" / ".app.exe.x9.floe-tmp"]
    for path in torn:
        path.write_bytes(b"half a binary")
    (project / "bin" / "app").write_bytes(b"a whole binary")
    assert floe("list", cwd=project).returncode == 0
    assert [p.exists() for p in torn] == [False, False]
    assert (project / "bin" / "app").read_bytes() == b"a whole binary"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_interrupting_an_install_leaves_nothing_the_next_command_keeps(floe, project, index,
                                                                       env, sig):
    import signal

    before = tree_digest(project)
    proc = subprocess.Popen([FLOE, "install", "floe-hello"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "Installing floe-hello\n"  # staging has begun
    proc.send_signal(getattr(signal, sig))
    proc.communicate()
    assert proc.returncode == -getattr(signal, sig)
    # what the signal left: the staged copy of vendor/ (the project itself as it was)
    assert list(project.glob(".floe-stage-*"))
    # the next command, whichever it is, removes it: `floe list` too
    r = floe("list", cwd=project)
    assert r.returncode == 0, r.stderr
    assert not list(project.glob(".floe-stage-*"))
    assert tree_digest(project) == before
    assert floe("install", "floe-hello", cwd=project).returncode == 0


def test_list_spellings_of_flogo(floe, project):
    as_json = json.loads(floe("list", cwd=project).stdout)
    for spelling in (["-j"], ["--json"], ["-json"], ["--json=true"]):
        r = floe("list", *spelling, cwd=project)
        assert r.returncode == 0, (spelling, r.stderr)
        assert json.loads(r.stdout) == as_json
    text = floe("list", "--json=false", cwd=project)
    assert text.returncode == 0, text.stderr
    blocks = text.stdout.split("\n\n")
    assert blocks[0].splitlines()[0] == f"Contrib: {as_json[0]['name']}"
    assert f"  Ref        : {as_json[0]['ref']}" in blocks[0].splitlines()
    assert text.stdout.count("Contrib: ") == len(as_json)


def test_version_flag_prints_the_version_anywhere(floe, project, tmp_path):
    import floecli

    for where in (project, tmp_path):
        for flag in ("-v", "--version"):
            r = floe(flag, cwd=where)
            assert (r.returncode, r.stdout, r.stderr) == (
                0, f"floe version {floecli.__version__}\n", ""), (where, flag)


@pytest.mark.parametrize(("levels", "seen", "unseen"), [
    ({"FLOGO_LOG_LEVEL": "DEBUG"}, (" DEBUG floe: event loop: ", " INFO "), ()),
    ({"FLOGO_LOG_LEVEL": "DEBUG", "FLOE_LOG_LEVEL": "ERROR"}, (), (" DEBUG ", " INFO ")),
    ({"FLOE_LOG_LEVEL": "warn"}, (), (" DEBUG ", " INFO ")),
    ({}, (" INFO ",), (" DEBUG ",)),
])
def test_the_engine_honours_the_log_level_from_the_environment(floe, project, tmp_path,
                                                               levels, seen, unseen):
    """The engine run by floe itself, as the built binary (tests/cli/test_build*.py): the
    seed's FLOGO_LOG_LEVEL, FLOE_LOG_LEVEL first when both are set."""
    r = floe("run", f"-root={tmp_path / 'root'}", "-start=build-project", "-once",
             cwd=project, **{"FLOE_LOG_LEVEL": "", "FLOGO_LOG_LEVEL": "", **levels})
    assert r.returncode == 0, r.stderr
    for text in seen:
        assert text in r.stderr, (levels, r.stderr)
    for text in unseen:
        assert text not in r.stderr, (levels, r.stderr)


def test_running_out_of_space_during_an_install_is_a_clear_error(project, env):
    """A file size limit stands in for a full disk: every write past it fails (EFBIG), in
    floe and in the pip it runs."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    before = tree_digest(project)
    proc = subprocess.run([FLOE, "install", "floe-hello"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error installing "), proc.stderr
    assert "no space left" in proc.stderr.splitlines()[0]
    assert "Traceback" not in proc.stderr
    assert tree_digest(project) == before


def test_the_import_proof_finds_an_engine_installed_outside_the_interpreter(project, env):
    """floe installed with `pip install --user` or on PYTHONPATH: the proof's `python -I`
    does not see that engine by itself, and must still import against it (it once said
    `No module named 'floecli'` for every contribution, `floe create` included)."""
    import os
    import sysconfig

    import floecli

    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    outside = os.pathsep.join([sysconfig.get_paths()["purelib"],
                               str(Path(floecli.__file__).resolve().parents[1])])
    bare = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    probe = subprocess.run([base, "-c", "import floecli"], capture_output=True, cwd=project,
                           env=bare)
    assert probe.returncode != 0, "the base interpreter must not have floe of its own"
    make_dir(project / "contribs", {
        "works/__init__.py": "from floecli.engine.nodes import BaseTask\n\n\n"
                             "class Hello(BaseTask):\n    async def run(self, ctx):\n"
                             "        return 0\n",
        "works/descriptor.json": descriptor("works", "works")})
    r = subprocess.run([base, "-m", "floecli.cli.main", "install", "./contribs/works"],
                       cwd=project, env={**env, "PYTHONPATH": outside}, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Installed task: ./contribs/works 1.0.0" in r.stdout
    assert (project / "vendor" / "works" / "__init__.py").is_file()
