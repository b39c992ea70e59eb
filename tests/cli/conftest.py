"""Fixtures for the toolchain commands run through the real `floe` console script, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from contribs import make_hello_index

pytestmark = pytest.mark.script_launch_mode("subprocess")


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """A find-links directory holding floe-hello 1.0.0 and its dependency hellodep."""
    return make_hello_index(tmp_path / "index")


@pytest.fixture
def env(tmp_path: Path, index: Path) -> dict[str, str]:
    """pip never reaches an index: only the local find-links directory."""
    e = dict(os.environ)
    for key in ("FLOE_DEFAULT_BUNDLE", "FLOE_LIB_VERSION", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        e.pop(key, None)
    e.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(index), FLOE_CACHE_DIR=str(tmp_path / "cache"),
             PIP_NO_CACHE_DIR="1")
    return e


@pytest.fixture
def floe(script_runner, env):
    """Run `floe ARGS...` in a directory with the offline environment."""

    def run(*args: str, cwd: Path, **extra: str):
        return script_runner.run(["floe", *args], cwd=cwd, env={**env, **extra})

    return run


@pytest.fixture
def project(floe, tmp_path: Path) -> Path:
    """A project created from the default app, in tmp_path/work/app."""
    work = tmp_path / "work"
    work.mkdir()
    r = floe("create", "app", cwd=work)
    assert r.returncode == 0, r.stderr
    return work / "app"
