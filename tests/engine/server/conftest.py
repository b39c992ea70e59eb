"""Fixtures: a real engine process on 127.0.0.1:0 (helpers in servertest.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servertest import EngineProcess, engine_starter


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    yield from engine_starter(tmp_path)

