"""Shared fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import EngineHarness, make_engine

# A throwaway PostgreSQL server for the tests that use one (tests/pgfixtures.py).
pytest_plugins = ("pgfixtures",)

# The real `floe` console script is the one installed beside this interpreter, whether or not
# the virtual environment was activated.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
async def engine_factory(tmp_path: Path):
    started: list[EngineHarness] = []

    async def factory(app_yaml: str, **kw: Any) -> EngineHarness:
        h = EngineHarness(make_engine(tmp_path, app_yaml, **kw))
        await h.engine.start()
        started.append(h)
        return h

    yield factory
    for h in started:
        if h.hub.queue is not None:
            await h.engine.stop()
