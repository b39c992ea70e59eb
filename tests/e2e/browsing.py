"""Helpers for the dashboard tests: the chromium to use, a user, a recorded browser context."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from floecli.engine.server.passwords import hash_password

USER, PASSWORD = "ann", "ann-s3cret"
PASSWORD_HASH = hash_password(PASSWORD)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000


def chromium() -> str:
    """Debian's chromium (.ci/run installs it); Playwright never downloads a browser here."""
    path = os.environ.get("FLOE_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not path:
        pytest.fail("the dashboard tests need chromium: apt-get install -y chromium "
                    "(or FLOE_CHROMIUM=/path/to/chromium)")
    return path


class Browsing:
    """A browser context on one engine, recording every page error and console error."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(base_url=base, viewport=viewport)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.elsewhere: list[str] = []  # requests to any other origin (fonts, CDNs): none
        self.context.on("request", lambda r: r.url.startswith(base) or r.url.startswith(
            base.replace("http", "ws", 1)) or self.elsewhere.append(r.url))
        self.page = self.new_page()

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        return page

    def login(self, user: str = USER, password: str = PASSWORD, path: str = "/app/dash") -> None:
        page = self.page
        page.goto(path)
        page.get_by_label("User").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()

    def token(self) -> str:
        return next(c["value"] for c in self.context.cookies()
                    if c["name"] == "floe-sesh" and c["path"] == "/")
