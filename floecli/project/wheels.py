"""Wheels for a build target: the engine runtime's pinned dependencies, fetched once into the user
cache dir and installed from there, so a second build needs no network."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .dists import Dist, installed
from .errors import BuildError
from .pip import Echo, PipError, run_pip
from .runtime import cache_dir
from .targets import Target

# What `floecli.engine` imports at run time (pyproject's "engine runtime" group). Everything else
# the distribution depends on serves only the toolchain and stays out of built binaries.
ENGINE_REQUIREMENTS = ("PyYAML", "jsonschema", "httpx", "starlette", "uvicorn", "wsproto",
                       "croniter")
# Packed where the target has a build of it and this toolchain has it installed: the engine
# runs without it (engine/eventloop.py), so a Windows binary simply goes without.
ENGINE_ACCELERATORS = ("uvloop",)


# What `store-type: postgres` needs (pyproject's `postgres` extra): packed only into binaries
# whose app uses it, so every other binary stays as small as before.
STORE_REQUIREMENTS = {"postgres": ("psycopg", "psycopg-binary", "psycopg-pool")}


def engine_requirements(target: Target, store_type: str = "") -> tuple[str, ...]:
    """What a binary for `target` carries of the engine's dependencies (their closure is
    runtime_pins'), for an app whose `common.store-type` is `store_type`."""
    extra = () if target.is_windows else tuple(
        name for name in ENGINE_ACCELERATORS if _installed(name))
    return ENGINE_REQUIREMENTS + STORE_REQUIREMENTS.get(store_type, ()) + extra


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def runtime_pins(names: Sequence[str] = ENGINE_REQUIREMENTS) -> list[str]:
    """The engine's dependencies and all they need, pinned to the versions this toolchain runs
    with: the same toolchain always packs the same wheels, so builds are reproducible."""
    versions: dict[str, str] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in versions:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise BuildError(f"the engine needs {name}, which is not installed beside this "
                             f"toolchain: reinstall floecli-engine") from None
        versions[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [f"{n}=={v}" for n, v in sorted(versions.items())]


def _platform_args(target: Target, python_version: str) -> list[str]:
    nodot = python_version.replace(".", "")
    return ["--only-binary=:all:", "--platform", target.platform_tag, "--implementation", "cp",
            "--python-version", python_version, "--abi", f"cp{nodot}", "--abi", "abi3",
            "--abi", "none"]


def install_wheels(requirements: Sequence[str], target: Target, python_version: str, dest: Path,
                   *, echo: Echo | None = None) -> None:
    """Install exactly `requirements` (no dependency resolution: they are a pinned closure) as
    the target's wheels into `dest`, downloading into the cache only what it lacks."""
    if not requirements:
        return
    wheels = cache_dir() / "wheels" / f"py{python_version}" / target.name
    wheels.mkdir(parents=True, exist_ok=True)
    plat = _platform_args(target, python_version)
    with tempfile.TemporaryDirectory(prefix="floe-wheels-") as tmp:
        # pip --target skips what already exists in the target, so install into a fresh dir
        # and merge: the wheels asked for always win.
        install = ["install", "--no-deps", "--no-index", "--find-links", str(wheels),
                   "--target", tmp, "--no-compile", *plat, *requirements]
        try:
            try:
                run_pip(install, echo=echo)
            except PipError:  # not all in the cache yet: fetch them, then install again
                run_pip(["download", "--no-deps", "--dest", str(wheels), *plat, *requirements],
                        echo=echo)
                run_pip(install, echo=echo)
        except PipError as e:
            raise _no_wheel(e, target, python_version) from None
        # Console scripts carry this machine's interpreter path; the binary has its own entry.
        shutil.rmtree(Path(tmp) / "bin", ignore_errors=True)
        shutil.copytree(tmp, dest, dirs_exist_ok=True)


def native_distributions(site: Path) -> list[Dist]:
    """Distributions in `site` whose wheel is not pure Python (its WHEEL file says so): for
    another target these must be fetched again."""
    found = []
    for dist in installed(site).values():
        wheel = dist.info / "WHEEL"
        text = wheel.read_text(encoding="utf-8").lower() if wheel.is_file() else ""
        if "root-is-purelib: true" not in text:
            found.append(dist)
    return found


def _no_wheel(e: PipError, target: Target, python_version: str) -> BuildError:
    """Which distribution has no wheel for the target, and what to try instead."""
    import re

    missing = re.findall(r"No matching distribution found for (\S+)", e.message)
    if not missing:
        return BuildError(f"cannot get wheels for {target.name}: {e.message}")
    # (a target known to lack wheels for this Python is refused before: targets.MIN_PYTHON)
    return BuildError(f"cannot get wheels for {target.name}: {', '.join(missing)} has no wheel "
                      f"for {target.name} and Python {python_version} ({e.message})")
