"""`floe build`: an engine project packed into one file that runs with only a Python interpreter.

The archive is a shiv zipapp (a PEP 441 zip behind a shebang) holding the engine runtime
(`floecli.engine` only) and its dependencies as wheels for the target at the top of its
site-packages, the project's contributions and their dependencies in `floe_vendor/` below it
(exactly the files floe.lock lists, every hash checked), and a small entry module that puts
the engine first on sys.path and the vendor directory after it, so nothing a contribution
brings can shadow the engine. shiv unpacks the archive once into a per-build cache dir
(~/.shiv/<name>_<build id>) on first start, which is what lets native wheels such as rpds-py
load; later starts import straight from that dir.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import floecli

from ..engine.contributions.registry import scan
from .dists import remove_dist
from .errors import BuildError, os_failure
from .fsutil import CACHE_NAMES, copy_package
from .layout import EngineProject
from .lockfile import Lock
from .pip import Echo
from .runtime import WHEEL_STEM, Runtime, ensure_runtime, own_runtime, runtime_dir, verify_wheel
from .targets import Target, check_python_for, host_target
from .validation import read_text, require_valid
from .verify import verify_vendor
from .wheels import engine_requirements, install_wheels, native_distributions, runtime_pins

FORMATS = ("zipapp", "native")
ENTRY_MODULE = "floe_binary"  # the archive's entry: floecli/project/binary_entry.py
VENDOR_DIR = "floe_vendor"  # the contributions and their dependencies, below the engine's
APP_FILE = "floe_app.json"  # the embedded app document (-e), beside the entry module
SHEBANG = "/usr/bin/env python3"
WINDOWS_SHEBANG = b"#!/usr/bin/env python.exe\r\n"  # the launcher finds python.exe on PATH
# A fixed timestamp for every archive entry (the zip format cannot say 1970): reproducible.
SOURCE_DATE_EPOCH = "315532800"


@dataclass
class BuildOptions:
    embed: bool = False  # -e: freeze app.json into the binary
    optimize: bool = False  # -o: leave out contributions no flow uses
    target: Target | None = None  # None: the host, output straight in bin/
    format: str = "zipapp"
    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    verify: bool = True  # check vendor/ against the hashes in floe.lock


@dataclass
class BuildResult:
    output: Path
    sha256: str
    size: int
    removed: list[str] = field(default_factory=list)  # `task exec`: left out by -o
    notes: list[str] = field(default_factory=list)  # what the user should know (-o kept all)


Step = Callable[[str], None]


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}")


def check_python_version(text: str) -> str:
    """`X.Y` of a Python 3 the engine runs on (3.11 or newer); ValueError otherwise."""
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise ValueError(f"--python-version must be X.Y (such as 3.12), not {text!r}")
    if (int(major), int(minor)) < (3, 11) or int(major) != 3:
        raise ValueError(f"--python-version {text}: the engine needs Python 3.11 or newer")
    return f"{int(major)}.{int(minor)}"


def check_options(opts: BuildOptions) -> None:
    """ValueError for a combination of options that cannot build: a native binary for
    another machine, a target with no wheels for the chosen Python (naming the one that
    works). Checked before any work."""
    check_format(opts.format)
    target = opts.target or host_target()
    if opts.format == "native" and target != host_target():
        raise ValueError(f"--format native builds for this machine only "
                         f"({host_target().name}), not {target.name}: use --format zipapp "
                         "for other targets")
    check_python_for(target, opts.python_version)


def build(project: EngineProject, opts: BuildOptions, *, step: Step | None = None,
          echo: Echo | None = None, notify: Step | None = None) -> BuildResult:
    """Make the binary; `step` hears each stage starting, `echo` (verbose) every line pip and
    the archive builder print, `notify` that the build waits for the project lock. The app
    document is checked as `floe validate` checks it (ConfigError when invalid) and vendor/
    against floe.lock, under the project lock; the rest works on that staged copy."""
    step = step or (lambda _message: None)
    try:
        check_options(opts)
    except ValueError as e:
        raise BuildError(str(e)) from None
    try:
        return _build(project, opts, step, echo, notify)
    except OSError as e:
        raise os_failure(e, "building the binary", BuildError) from None


def _build(project: EngineProject, opts: BuildOptions, step: Step, echo: Echo | None,
           notify: Step | None) -> BuildResult:
    target = opts.target or host_target()
    out_dir = project.bin_dir / target.name if opts.target else project.bin_dir
    output = out_dir / target.binary_name(project.name)
    with tempfile.TemporaryDirectory(prefix="floe-build-") as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        vendor = Path(tmp) / "vendor"
        with project.locked(notify):
            step("Checking the app document and vendor/")
            lock = project.lock()
            if opts.verify:
                _copy_files(project.vendor_dir, vendor,
                            verify_vendor(project.vendor_dir, lock))
            else:
                copy_package(project.vendor_dir, vendor)
            app_text = read_text(project.app_file)
        config = require_valid(app_text, str(project.app_file), [vendor])
        step(f"Collecting the engine runtime for {target.name}")
        requirements = engine_requirements(target, config.common.store_type)
        install_wheels(runtime_pins(requirements), target, opts.python_version, site, echo=echo)
        _copy_engine(lock, site, echo)
        step("Adding contributions")
        _copy_vendor(vendor, site / VENDOR_DIR, target, opts, echo)
        removed: list[str] = []
        notes: list[str] = []
        if opts.optimize:
            used, notes = used_types(config, project.root)
            if used is not None:
                removed = _optimize(used, site / VENDOR_DIR)
        _write_entry(app_text, site, opts.embed)
        staged = Path(tmp) / "out"
        if opts.format == "native":
            step("Freezing with PyInstaller")
            _pyinstaller(site, staged, project.name, Path(tmp), echo)
        else:
            step("Packing the zipapp")
            _shiv(site, staged, echo)
            if target.is_windows:
                _add_windows_launcher(staged, target)
        _install_output(staged, output)
    data = output.read_bytes()
    return BuildResult(output, hashlib.sha256(data).hexdigest(), len(data), removed, notes)


def _copy_files(src: Path, dest: Path, files: list[str]) -> None:
    """Exactly `files` (POSIX paths relative to `src`) copied to `dest`."""
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)
    dest.mkdir(parents=True, exist_ok=True)


def _install_output(staged: Path, output: Path) -> None:
    """Put the binary in place all at once: copied to a temporary file beside `output`, then
    renamed over it, so a full disk leaves the old binary (or none), never a torn one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".floe-tmp",
                               dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as f, staged.open("rb") as src:
            shutil.copyfileobj(src, f, 1 << 20)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def used_types(config: object, root: Path) -> tuple[set[tuple[str, str]] | None, list[str]]:
    """(class, type) of every node the app's flows use, their local flow-files' included
    (read now, as the engine will read them); None (keep everything) when a flow-file is
    remote or git, with a note saying so."""
    from ..engine.config.flowfile import LOCAL, flow_file_kind, load_flow_file, parse_flow

    flows = getattr(config, "flows", [])
    common = getattr(config, "common", None)
    absolute_ok = bool(getattr(common, "absolute_flow_files", False))
    used = {(n.class_, n.type) for f in flows for n in (*f.triggers, *f.tasks) if n.type}
    notes: list[str] = []
    keep_all = False
    for f in flows:
        ref = getattr(f, "flow_file", "")
        if not ref:
            continue
        if flow_file_kind(ref) != LOCAL:
            keep_all = True
            notes.append(f"flow {f.id} reads its tasks from {ref} when it runs: -o keeps "
                         "every contribution")
            continue
        with tempfile.TemporaryDirectory(prefix="floe-flowfile-") as cache:
            body = parse_flow(load_flow_file(ref, root, Path(cache), absolute_ok=absolute_ok),
                              ref)
        used |= {(n.class_, n.type) for n in (*body.triggers, *body.tasks) if n.type}
    return (None if keep_all else used), notes


def _copy_engine(lock: Lock, site: Path, echo: Echo | None) -> None:
    """floecli/__init__.py and floecli/engine/ of the engine runtime the project pins: the
    running toolchain's own, or the verified wheel floe.lock names (by version and hash)."""
    version = lock.engine_version
    if lock.engine_sha256:
        cached = runtime_dir() / f"{WHEEL_STEM}-{version}-py3-none-any.whl"
        runtime = Runtime(version, cached, False) if cached.is_file() \
            else ensure_runtime(version, echo=echo)
        verify_wheel(runtime.wheel, version)
        if runtime.sha256 != lock.engine_sha256:
            raise BuildError(f"the engine runtime wheel {runtime.wheel} differs from the one "
                             "floe.lock pinned", hint="create the project again with --cv "
                             "and the wheel it was made with")
    elif not version or version == floecli.__version__:
        runtime = own_runtime()
    else:
        runtime = ensure_runtime(version, echo=echo)
    with zipfile.ZipFile(runtime.wheel) as z:
        for name in sorted(z.namelist()):
            if name == "floecli/__init__.py" or name.startswith("floecli/engine/"):
                z.extract(name, site)


def _copy_vendor(vendor: Path, site: Path, target: Target, opts: BuildOptions,
                 echo: Echo | None) -> None:
    """The checked copy of vendor/ into `site` (the archive's floe_vendor/); a native
    distribution in it, installed for this machine, is replaced by the same version's wheel
    for another target."""
    site.mkdir(parents=True, exist_ok=True)
    for entry in sorted(vendor.iterdir()):
        if entry.name in ("bin", *CACHE_NAMES):  # pip's console scripts, byte-code
            continue
        if entry.is_dir():
            copy_package(entry, site / entry.name, merge=True)
        else:
            shutil.copy2(entry, site / entry.name)
    if target == host_target():
        return
    pins = []
    for dist in native_distributions(vendor):
        remove_dist(replace(dist, info=site / dist.info.name), site)
        pins.append(dist.pin)
    install_wheels(pins, target, opts.python_version, site, echo=echo)


def _optimize(used: set[tuple[str, str]], site: Path) -> list[str]:
    """-o: drop every contribution whose node type no flow uses; `kind name` of each one
    dropped (a task and a trigger may share a name)."""
    removed = []
    for c in scan(site):
        if (c.descriptor.kind, c.name) not in used:
            shutil.rmtree(c.descriptor.path)
            removed.append(f"{c.descriptor.kind} {c.name}")
    return sorted(removed)


def _write_entry(app_text: str, site: Path, embed: bool) -> None:
    entry = resources.files("floecli.project").joinpath("binary_entry.py").read_bytes()
    (site / f"{ENTRY_MODULE}.py").write_bytes(entry)
    if embed:
        (site / APP_FILE).write_bytes(app_text.encode("utf-8"))


def _shiv(site: Path, output: Path, echo: Echo | None) -> None:
    # Same-content files must look the same to the zip: shiv stores each file's mode.
    for path in site.rglob("*"):
        if path.is_file():
            path.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
    cmd = [sys.executable, "-m", "shiv", "--site-packages", str(site), "--reproducible",
           "--entry-point", f"{ENTRY_MODULE}:main", "--python", SHEBANG, "--output-file",
           str(output)]
    env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    _echo_output(proc, echo)
    if proc.returncode != 0 or not output.is_file():
        said = (proc.stderr + proc.stdout).strip() or f"exit status {proc.returncode}"
        raise _tool_failure("shiv could not make the zipapp", said)


def _add_windows_launcher(archive: Path, target: Target) -> None:
    """Put the console launcher pip puts in front of console scripts before the zip: Windows
    runs the .exe, which starts python.exe on the zip appended to it."""
    import distlib

    name = "t64-arm.exe" if target.arch == "arm64" else "t64.exe"
    launcher = resources.files(distlib).joinpath(name).read_bytes()
    data = archive.read_bytes()
    zip_data = data[data.index(b"\n") + 1:]  # drop shiv's POSIX shebang line
    archive.write_bytes(launcher + WINDOWS_SHEBANG + zip_data)


def _pyinstaller(site: Path, output: Path, name: str, work: Path, echo: Echo | None,
                 ) -> None:
    """--format native: a PyInstaller one-file executable for this machine. Everything that
    came from vendor/ (contributions and their pip dependencies) goes in as plain files, since
    contributions are found by descriptor at run time, which import analysis cannot follow, and
    their dependencies are not installed where PyInstaller could collect them; they are
    imported from the unpacked directory. The engine's own dependencies are collected whole."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise BuildError("--format native needs PyInstaller, which is not installed: "
                         "pip install 'floecli-engine[native]'") from None
    args = ["--add-data", f"{site / VENDOR_DIR}{os.pathsep}{VENDOR_DIR}"]
    for entry in sorted(site.iterdir()):
        if entry.name == VENDOR_DIR:
            continue
        if (entry / "__init__.py").is_file():
            args += ["--collect-all", entry.name]
    if (site / APP_FILE).is_file():
        args += ["--add-data", f"{site / APP_FILE}{os.pathsep}."]
    cmd = [sys.executable, "-m", "PyInstaller", "--onefile", "--noconfirm", "--clean",
           "--name", name, "--distpath", str(work / "dist"), "--workpath", str(work / "build"),
           "--specpath", str(work), "--paths", str(site), *args,
           str(site / f"{ENTRY_MODULE}.py")]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
    _echo_output(proc, echo)
    built = work / "dist" / name
    if proc.returncode != 0 or not built.is_file():
        said = proc.stderr.strip() or f"exit status {proc.returncode}"
        raise _tool_failure(f"PyInstaller could not build {name}", said)
    shutil.move(built, output)


def _echo_output(proc: subprocess.CompletedProcess[str], echo: Echo | None) -> None:
    if echo:
        for line in (proc.stdout + proc.stderr).splitlines():
            echo(line)


def _tool_failure(what: str, said: str) -> BuildError:
    """A builder's failure; when it ran out of disk (or hit a file size limit) the same
    clear error as our own writes give, not its traceback."""
    import errno

    for code, marks in ((errno.ENOSPC, ("[Errno 28]", "No space left on device")),
                        (errno.EFBIG, ("[Errno 27]", "File too large"))):
        if any(m in said for m in marks):
            return os_failure(OSError(code, os.strerror(code)), "packing the binary",
                              BuildError)  # type: ignore[return-value]
    return BuildError(f"{what}:\n{said}")
