"""The engine runtime a project builds with: the `floe` distribution at a pinned version, the
running one or a wheel fetched into the cache by `pip download`."""

from __future__ import annotations

import os
from pathlib import Path

from floecli import __version__

from .errors import ProjectError
from .pip import Echo, PipError, run_pip

RUNTIME = "floe"


def cache_dir() -> Path:
    """`FLOE_CACHE_DIR` when set, else the user cache directory of floe."""
    override = os.environ.get("FLOE_CACHE_DIR", "")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("floe"))


def runtime_dir() -> Path:
    return cache_dir() / "runtime"


def runtime_distribution(version: str) -> Path | None:
    """The cached wheel (or sdist) of floe `version`, if one was downloaded."""
    d = runtime_dir()
    if not d.is_dir():
        return None
    found = sorted(d.glob(f"{RUNTIME}-{version}-*.whl")) + sorted(d.glob(f"{RUNTIME}-{version}.*"))
    return found[0] if found else None


def requested_version(cv: str | None) -> str:
    """`--cv`, else `FLOE_LIB_VERSION`, else the running floe's version."""
    return (cv or os.environ.get("FLOE_LIB_VERSION", "") or __version__).strip().lstrip("v")


def ensure_runtime(version: str, *, echo: Echo | None = None) -> str:
    """`version` once it can be had: the running floe, or a download into the cache."""
    if version in (__version__, "latest"):
        return __version__
    if runtime_distribution(version) is None:
        target = runtime_dir()
        target.mkdir(parents=True, exist_ok=True)
        try:
            run_pip(["download", f"{RUNTIME}=={version}", "--no-deps", "-d", str(target)],
                    echo=echo)
        except PipError as e:
            raise ProjectError(f"engine runtime {RUNTIME}=={version} cannot be had: "
                               f"{e.message}") from None
    return version
