"""Keeping contributions and the engine apart: the engine runtime's pinned dependencies (the
constraints every resolution of a project's requirements runs under), the top-level names
nothing installed into vendor/ may take (the engine's libraries, every contribution's
package), and the proof that an installed contribution imports (its `main`, in a subprocess
against the project's vendor/, as the engine will load it)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from .errors import InstallError

ENGINE_PACKAGE = "floecli"  # the runtime's own import package


@cache
def engine_pins() -> tuple[str, ...]:
    """`name==version` of every distribution the engine runtime runs with (what a binary
    packs, wheels.runtime_pins): the constraints of every resolution in a project."""
    from .targets import host_target
    from .wheels import engine_requirements, runtime_pins

    return tuple(runtime_pins(engine_requirements(host_target())))


def engine_names() -> set[str]:
    """The canonical distribution names of engine_pins()."""
    return {canonicalize_name(p.split("==", 1)[0]) for p in engine_pins()}


@cache
def engine_top_levels() -> dict[str, str]:
    """Each top-level import name the engine runtime's distributions install, with the pin
    it belongs to; floecli itself included."""
    tops = {ENGINE_PACKAGE: "the engine runtime"}
    for pin in engine_pins():
        name = pin.split("==", 1)[0]
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        text = dist.read_text("top_level.txt") or ""
        names = {line.strip() for line in text.splitlines() if line.strip()}
        for f in dist.files or []:
            parts = f.parts
            if parts and not parts[0].endswith((".dist-info", ".data")) and parts[0] != "..":
                top = parts[0]
                names.add(top[:-3] if top.endswith(".py") and len(parts) == 1 else top)
        for top in names:
            if top.isidentifier() and not top.startswith("_"):
                tops.setdefault(top, pin)
    return tops


def check_package_name(package: str, what: str) -> None:
    """InstallError when a contribution's package would take an engine library's name."""
    owner = engine_top_levels().get(package)
    if owner:
        raise InstallError(f"{what} is the package {package}/, which is the engine's own "
                           f"({owner}): it could never be imported; rename its directory")


def check_dependencies(dists: Iterable[tuple[str, Iterable[str], str]],
                       contributions: Mapping[str, str]) -> None:
    """InstallError when a distribution about to land in vendor/ ships a top-level name that
    is an engine library's or an installed contribution's package. `dists` is (pin,
    top-level names, who needs it), `contributions` package → what it is."""
    engine = engine_top_levels()
    for pin, tops, needed_by in dists:
        for top in sorted(tops):
            name = top[:-3] if top.endswith(".py") else top
            if top.endswith((".dist-info", ".data")) or top == "__pycache__":
                continue
            if name in contributions:
                raise InstallError(
                    f"{pin} (needed by {needed_by}) ships a top-level {top}, which is the "
                    f"package of {contributions[name]}: a dependency cannot replace a "
                    "contribution", hint="ask its author to rename the package, or install "
                    "a contribution that does not need it")
            if name in engine:
                raise InstallError(
                    f"{pin} (needed by {needed_by}) ships a top-level {top}, which is the "
                    f"engine's own ({engine[name]}): a dependency cannot replace an engine "
                    "library", hint="install a contribution that does not need it")


PROBE = r"""
import json, os, site, sys
from pathlib import Path
vendor, packages = Path(sys.argv[1]), json.loads(sys.argv[2])
# where this toolchain found the engine runtime (a user or PYTHONPATH install, which -I
# hides): before the interpreter's own site-packages, as they were in the toolchain
count = len(sys.path)
for d in json.loads(sys.argv[3]):
    site.addsitedir(d)
added = sys.path[count:]
del sys.path[count:]
sites = {os.path.abspath(p) for p in site.getsitepackages()}
at = next((i for i, p in enumerate(sys.path) if os.path.abspath(p) in sites), len(sys.path))
sys.path[at:at] = added
sys.path.append(str(vendor))
from floecli.engine.contributions.registry import scan
found = {c.package: c for c in scan(vendor)}
result = {}
for package in packages:
    c = found.get(package)
    if c is None:
        result[package] = "it has no descriptor.json"
        continue
    method = "run" if c.descriptor.kind == "task" else "watch"
    try:
        obj = c.load()
    except BaseException as e:
        cause = e.__cause__ or e
        result[package] = f"{c.descriptor.main}: {type(cause).__name__}: {cause}"
        continue
    if not callable(getattr(obj, method, None)):
        result[package] = (f"{c.descriptor.main} has no {method}() method: it is not a "
                           f"floe {c.descriptor.kind}")
    else:
        result[package] = ""
sys.stdout.flush()
print("\n" + json.dumps(result))
"""


def engine_paths() -> list[str]:
    """The directories this toolchain imports the engine runtime from: floecli's own and
    each engine distribution's. `-I` leaves out PYTHONPATH and the user's site-packages, where
    a `pip install --user` or a PYTHONPATH install of floe lives, so the import proof adds
    them back (and only them)."""
    import floecli

    found = [str(Path(floecli.__file__).resolve().parents[1])]
    for pin in engine_pins():
        try:
            dist = metadata.distribution(pin.split("==", 1)[0])
        except metadata.PackageNotFoundError:
            continue
        found.append(str(Path(str(dist.locate_file(""))).resolve()))
    return list(dict.fromkeys(found))


def prove_imports(vendor: Path, packages: Mapping[str, str]) -> None:
    """Import each contribution's `main` (packages: package → the ref it came from) in a
    fresh interpreter that sees only the engine (engine_paths) and `vendor`, as the engine
    will; the first failure is an InstallError with the import error, naming its ref."""
    if not packages:
        return
    # -B: no byte-code written into the vendor/ that gets committed
    cmd = [sys.executable, "-I", "-B", "-c", PROBE, str(vendor), json.dumps(sorted(packages)),
           json.dumps(engine_paths())]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL, cwd=vendor)
    except subprocess.TimeoutExpired:
        raise InstallError("importing the contributions took over 300 s") from None
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        said = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        ref = next(iter(packages.values()))
        raise InstallError(f"importing the installed contributions failed: {said}",
                           target=ref)
    for package in sorted(packages):
        problem = result.get(package, "")
        if problem:
            raise InstallError(
                f"the contribution in vendor/{package} does not import: {problem}",
                target=packages[package],
                hint="fix the contribution (floe installs only contributions the engine "
                     "can load); nothing was installed")
