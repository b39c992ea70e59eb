"""Fixtures: a real engine process on 127.0.0.1:0 (helpers in servertest.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servertest import EngineProcess, launch


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    started: list[EngineProcess] = []

    def start(app_yaml: str, *flags: str, **kw: Any) -> EngineProcess:
        e = launch(tmp_path, app_yaml, *flags, **kw)
        started.append(e)
        return e

    yield start
    for e in started:
        e.stop()

