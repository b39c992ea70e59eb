"""`floe build` packs exactly what floe.lock vouches for and makes binaries that start where
they are sent: stray and tampered vendor/ files refused, -o keeping flow-file types,
GOOS/GOARCH, the binary's own packages ahead of PYTHONPATH, an env-only tester start as an
unprivileged user, a full disk leaving bin/ as it was, old unpacked copies pruned."""

from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

FLOE = str(Path(sys.executable).parent / "floe")
PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    clean = {k: v for k, v in os.environ.items() if k not in ("GOOS", "GOARCH")}
    return {**clean, "FLOE_CACHE_DIR": str(cache), "SHIV_ROOT": str(cache / "shiv")}


def floe(*args: str, cwd: Path, env: dict[str, str], ok: bool = True, **kw: object,
         ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([FLOE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, **kw)  # type: ignore[call-overload]
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    root = tmp_path_factory.mktemp("projects")
    floe("create", "demo", cwd=root, env=env)
    return root / "demo"


@pytest.fixture
def project(made: Path, tmp_path: Path) -> Path:
    """A fresh copy of the created project for each test (the name stays `demo`)."""
    dest = tmp_path / "demo"
    shutil.copytree(made, dest, symlinks=True)
    return dest


def run_binary(binary: Path, *args: str, cwd: Path, env: dict[str, str], isolated: bool = True,
               **extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    flags = ["-I"] if isolated else []
    return subprocess.run([PYTHON, *flags, str(binary), *args], cwd=cwd, env={**clean, **extra},
                          capture_output=True, text=True, timeout=120)


def digest(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else b"dir"
            for p in sorted(root.rglob("*"))}


def test_a_stray_vendor_file_is_refused_with_its_path(project, env, tmp_path):
    (project / "vendor" / "yaml").mkdir()
    (project / "vendor" / "yaml" / "__init__.py").write_text("raise SystemExit('x')\n")
    proc = floe("build", cwd=project, env=env, ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "Error building project: vendor/yaml/__init__.py is not in floe.lock: no installed "
        "contribution or distribution has it",
        "hint: remove it (vendor/ holds only what floe install put there), or install what it "
        "belongs to with floe install",
        "ref: vendor-modified"]
    assert list((project / "bin").iterdir()) == []
    # --no-verify packs vendor/ as it is and says so; the engine's own yaml still wins
    proc = floe("build", "-e", "--no-verify", cwd=project, env=env)
    assert proc.stderr.startswith("--no-verify: vendor/ is not checked against floe.lock")
    ran = run_binary(project / "bin" / "demo", f"-root={tmp_path / 'root'}",
                     "-start=build-project", "-once", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize("stray", ["link", "bytecode"])
def test_what_imports_without_a_plain_file_is_refused_too(project, env, tmp_path, stray):
    """A symbolic link to a directory and byte-code outside __pycache__ (which imports
    without its source) are in vendor/ as much as a file is."""
    if stray == "link":
        (tmp_path / "elsewhere" / "yaml").mkdir(parents=True)
        (tmp_path / "elsewhere" / "yaml" / "__init__.py").write_text("raise SystemExit('x')\n")
        (project / "vendor" / "yaml").symlink_to(tmp_path / "elsewhere" / "yaml")
        rel = "vendor/yaml"
    else:
        (project / "vendor" / "exec" / "helper.pyc").write_bytes(b"\x00" * 16)
        rel = "vendor/exec/helper.pyc"
    proc = floe("build", cwd=project, env=env, ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        f"Error building project: {rel} is not in floe.lock: no installed contribution or "
        "distribution has it")
    assert list((project / "bin").iterdir()) == []


def test_a_contributions_own_sha256_is_checked(project, env):
    lock = json.loads((project / "floe.lock").read_text())
    entry = next(c for c in lock["contributions"] if c["ref"] == "exec")
    entry["sha256"] = "sha256:" + "0" * 64
    (project / "floe.lock").write_text(json.dumps(lock, indent=2) + "\n")
    proc = floe("build", cwd=project, env=env, ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        "Error building project: vendor/exec differs from the sha256 floe.lock records for it "
        "(installed from exec)")


FLOW_FILE = """\
name: From a file
tasks:
  - id: hello
    name: Hello
    listen: trigger.good
    type: exec
    opts:
      shell: echo hello from a flow-file
  - id: done
    name: Done
    listen: task.hello.good
    type: end
"""


def use_flow_file(project: Path, ref: str) -> None:
    app = json.loads((project / "app.json").read_text())
    app["flows"] = [{"id": "from-file", "name": "From a file", "ver": 1, "flow-file": ref,
                     "triggers": [{"id": "start", "name": "Start", "type": "data"}]}]
    (project / "app.json").write_text(json.dumps(app, indent=2) + "\n")


def test_optimize_keeps_the_types_a_flow_file_uses(project, env, tmp_path):
    (project / "flows").mkdir()
    (project / "flows" / "hello.yml").write_text(FLOW_FILE)
    use_flow_file(project, "flows/hello.yml")
    out = floe("build", "-e", "-o", cwd=project, env=env)
    # the flow-file's exec and end are in the binary: the run works
    ran = run_binary(project / "bin" / "demo", f"-root={tmp_path / 'root'}",
                     "-start=from-file", "-once", "-events", cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    assert "hello from a flow-file" in ran.stdout
    removed = [line for line in out.stdout.splitlines() if line.startswith("Removing")]
    assert not [line for line in removed if line.endswith((": exec", ": end"))]
    # each left out once, by kind: the timer task and the timer trigger share a name
    assert removed.count("Removing unused task: timer") == 1
    assert removed.count("Removing unused trigger: timer") == 1
    assert len(removed) == len(set(removed))


def test_optimize_keeps_everything_for_a_remote_flow_file(project, env):
    use_flow_file(project, "https://flows.example.invalid/hello.yml")
    out = floe("build", "-o", cwd=project, env=env)
    assert "Removing" not in out.stdout
    assert ("note: flow from-file reads its tasks from https://flows.example.invalid/hello.yml"
            " when it runs: -o keeps every contribution") in out.stderr


def test_goos_and_goarch_choose_the_target(project, env):
    out = floe("build", "-o", "-e", cwd=project, env={**env, "GOOS": "windows",
                                                        "GOARCH": "amd64"})
    exe = project / "bin" / "windows_amd64" / "demo.exe"
    assert out.stdout.endswith(")\n") and "Built bin/windows_amd64/demo.exe (" in out.stdout
    assert exe.read_bytes()[:2] == b"MZ"
    assert not (project / "bin" / "demo").exists()
    # --target wins over the environment
    floe("build", "--target", "linux_amd64", cwd=project,
         env={**env, "GOOS": "windows", "GOARCH": "amd64"})
    assert (project / "bin" / "linux_amd64" / "demo").is_file()
    bad = floe("build", cwd=project, env={**env, "GOOS": "plan9"}, ok=False)
    assert bad.returncode == 2
    assert "GOOS=plan9" in bad.stderr and "unknown target" in bad.stderr


def test_targets_that_cannot_build_say_so_at_once(project, env):
    arm = floe("build", "--target", "windows_arm64", cwd=project, env=env, ok=False)
    assert arm.returncode == 2
    assert arm.stderr == (
        "Error building project: windows_arm64 cannot be built for Python "
        f"{sys.version_info.major}.{sys.version_info.minor}: the engine's dependencies have "
        "windows_arm64 wheels only for Python 3.12 or newer; use --python-version 3.12 (the "
        "binary then needs Python 3.12 on that machine)\n"
        "hint: run 'floe build --help' for its usage\nref: usage-invalid\n")
    native = floe("build", "--format", "native", "--target", "linux_arm64", cwd=project,
                  env=env, ok=False)
    assert native.returncode == 2
    assert "--format native builds for this machine only" in native.stderr


def test_pythonpath_cannot_shadow_the_binarys_packages(project, env, tmp_path):
    floe("build", "-e", cwd=project, env=env)
    evil = tmp_path / "evil"
    (evil / "yaml").mkdir(parents=True)
    (evil / "yaml" / "__init__.py").write_text("raise SystemExit('shadowed yaml')\n")
    args = (f"-root={tmp_path / 'root'}", "-start=build-project", "-once")
    ran = run_binary(project / "bin" / "demo", *args, cwd=tmp_path, env=env, isolated=False,
                     PYTHONPATH=str(evil))
    assert ran.returncode == 0, ran.stderr
    asked = run_binary(project / "bin" / "demo", *args, cwd=tmp_path, env=env, isolated=False,
                       PYTHONPATH=str(evil), FLOE_USE_PYTHONPATH="1")
    assert "shadowed yaml" in asked.stderr


def test_old_unpacked_binaries_are_pruned(project, env, tmp_path):
    floe("build", "-e", cwd=project, env=env)
    shiv = tmp_path / "shiv"
    for i in range(5):
        old = shiv / f"demo_{i:064x}" / "site-packages"
        old.mkdir(parents=True)
        os.utime(old.parent, (1_000_000 + i, 1_000_000 + i))
    other = shiv / "other_1234" / "site-packages"
    other.mkdir(parents=True)
    os.utime(other.parent, (1, 1))
    ran = run_binary(project / "bin" / "demo", "-v", cwd=tmp_path, env={**env,
                                                                        "SHIV_ROOT": str(shiv)})
    assert ran.returncode == 0, ran.stderr
    import floecli

    assert ran.stdout == f"floe version {floecli.__version__}\n"  # flogo's -v: the version
    kept = sorted(d.name for d in shiv.iterdir() if d.is_dir())
    assert other.parent.name in kept  # another binary's copies are not ours to prune
    demo = [n for n in kept if n.startswith("demo_")]
    assert len(demo) == 3
    assert f"demo_{4:064x}" in demo and f"demo_{3:064x}" in demo  # the newest old ones
    # "newest" is the last started: this build, started again long after, counts as new
    (mine,) = [shiv / n for n in demo if n not in (f"demo_{4:064x}", f"demo_{3:064x}")]
    os.utime(mine, (1, 1))
    again = run_binary(project / "bin" / "demo", "-v", cwd=tmp_path,
                       env={**env, "SHIV_ROOT": str(shiv)})
    assert again.returncode == 0, again.stderr
    assert mine.stat().st_mtime > 1_000_004


def unprivileged_python() -> tuple[str, dict[str, object]]:
    """The interpreter and Popen arguments to run as `nobody` when this is root (CI), or as
    this (already unprivileged) user otherwise."""
    if os.geteuid() != 0:
        return PYTHON, {}
    nobody = pwd.getpwnam("nobody")
    drop: dict[str, object] = {"user": nobody.pw_uid, "group": nobody.pw_gid,
                               "extra_groups": []}
    for candidate in (PYTHON, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
        try:
            if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True,
                                             **drop).returncode == 0:  # type: ignore[call-overload]
                return candidate, drop
        except PermissionError:  # inside a directory only root may enter
            continue
    raise AssertionError("no Python interpreter the nobody user may run")


def test_an_env_only_tester_start_works_as_an_unprivileged_user(project, env):
    floe("build", "-e", cwd=project, env=env)
    python, drop = unprivileged_python()
    # where a design-time server keeps the engine: a directory that user owns
    home = Path(tempfile.mkdtemp(prefix="floe-nobody-"))
    try:
        os.chmod(home, 0o777)
        shutil.copy2(project / "bin" / "demo", home / "demo")
        os.chmod(home / "demo", 0o755)
        only = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
                "TESTER_ENABLED": "true", "TESTER_PORT": "0",
                "TESTER_SR_SERVER": "localhost:9090", "FLOGO_LOG_LEVEL": "DEBUG"}
        proc = subprocess.Popen([python, str(home / "demo")], cwd=home, env=only,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                **drop)  # type: ignore[call-overload]
        assert proc.stderr is not None
        seen: list[str] = []
        tester = ""
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("floe tester listening on "):
                tester = line.split(" on ", 1)[1].strip()
                break
        try:
            assert tester, f"exit {proc.wait(timeout=60)}: {''.join(seen)}"
            text = "".join(seen)
            assert "floe listening on http://127.0.0.1:8080" in text
            assert " DEBUG " in text  # FLOGO_LOG_LEVEL=DEBUG is honoured
            assert "TESTER_SR_SERVER=localhost:9090 is accepted and not used" in text
            assert httpx.get(f"{tester}/status", timeout=30).json() == {"status": "ok"}
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past it fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_running_out_of_space_leaves_bin_as_it_was(project, env):
    floe("build", "--target", "windows_amd64", cwd=project, env=env)  # the wheels are cached
    before = digest(project)
    proc = floe("build", "-e", "--target", "windows_amd64", cwd=project, env=env, ok=False,
                preexec_fn=_limit_file_size(2_000_000))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("Error building project: no space left while packing the "
                               "binary: File too large"), lines
    assert lines[1].startswith("hint: free some disk space")
    assert "Traceback" not in proc.stderr
    assert digest(project) == before
