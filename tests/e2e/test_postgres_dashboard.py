"""The settings page of a host sharing a PostgreSQL database lists every host on it, with its
tags, address and state, from their heartbeat rows (no hosts list, no p2p traffic)."""

from __future__ import annotations

from pathlib import Path

from browsing import PASSWORD_HASH
from playwright.sync_api import expect
from servertest import launch, wait_until

APP = f"""\
common:
  store-type: postgres
  users: [{{name: ann, role: admin, password-hash: "{PASSWORD_HASH}"}}]
flows: []
"""


def test_the_settings_page_lists_every_host_on_the_database(tmp_path: Path, pg_url: str,
                                                            browse) -> None:
    env = {"FLOE_STORE_URL": pg_url}
    h1 = launch(tmp_path / "h1", APP, "-host_name=h1", "-tags=linux", env=env, name="h1")
    h2 = launch(tmp_path / "h2", APP, "-host_name=h2", "-tags=linux,gpu", env=env, name="h2")
    try:
        with h1.client() as c:
            wait_until(lambda: len(c.get("/hosts").json()["Payload"]["AllHosts"]) == 2, 30,
                       "h2's heartbeat row")
        b = browse(h1)
        b.login(path="/app/settings")
        other = b.page.locator('#hosts tr[data-host="h2"]')
        expect(other).to_contain_text("linux, gpu")
        expect(other).to_contain_text(h2.url())
        expect(other).to_contain_text("online")
        expect(b.page.locator('#hosts tr[data-host="h1"]')).to_contain_text("(this host)")
        assert b.page.locator("#hosts tbody tr").count() == 2
        assert not b.console_errors, b.console_errors
    finally:
        h1.stop()
        h2.stop()
