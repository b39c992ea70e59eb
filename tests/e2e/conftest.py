"""Fixtures for the dashboard in a real browser: Debian's chromium driven by Playwright, against
a real engine process on 127.0.0.1:0 (tests/engine/server/servertest.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "engine" / "server"))
sys.path.insert(0, str(Path(__file__).parent))

from browsing import DESKTOP, Browsing, chromium
from servertest import EngineProcess, engine_starter


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: while Playwright's sync API is active its event loop counts
    # as running in this thread, which would break every asyncio test collected after these.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where pages are photographed: FLOE_SCREENSHOTS (e.g. docs/images) or a temp dir."""
    out = Path(os.environ.get("FLOE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    yield from engine_starter(tmp_path)


@pytest.fixture
def browse(browser: Any) -> Iterator[Callable[..., Browsing]]:
    opened: list[Browsing] = []

    def open_(engine: EngineProcess, viewport: dict[str, int] = DESKTOP) -> Browsing:
        b = Browsing(browser, engine.url(), viewport)
        opened.append(b)
        return b

    yield open_
    for b in opened:
        b.context.close()
    for b in opened:  # an uncaught script error, or a request elsewhere, fails any test
        assert not b.page_errors, b.page_errors
        assert not b.elsewhere, b.elsewhere
