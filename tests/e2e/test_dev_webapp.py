"""-dev: a front end in ./webapp, such as the original Floe web app, works against floe."""

from __future__ import annotations

from pathlib import Path

from browsing import PASSWORD, PASSWORD_HASH, USER
from flows import NOTHING, app
from playwright.sync_api import expect

APP = app(NOTHING, store_type="memory",
          users=[{"name": USER, "role": "admin", "password-hash": PASSWORD_HASH}])

INDEX = """<!doctype html>
<html><head><title>dev web app</title><script type="module" src="/static/js/probe.js"></script>
</head><body><h1>dev web app</h1><pre id="cookie"></pre><p id="authed"></p><p id="flows"></p>
<form id="login"><label>User <input id="u"></label><label>Password <input id="p" type="password">
</label><button>Log in</button></form></body></html>
"""

# What the original web app does: it is logged in when document.cookie has `floe-sesh=`.
PROBE = """
document.getElementById('cookie').textContent = document.cookie;
document.getElementById('authed').textContent =
  document.cookie.indexOf('floe-sesh=') >= 0 ? 'logged in' : 'logged out';
fetch('/build/api/flows').then(r => {
  document.getElementById('flows').textContent = 'flows ' + r.status;
});
document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  await fetch('/build/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({User: u.value, Password: p.value})});
  location.reload();
});
"""


def make_webapp(root: Path) -> None:
    (root / "webapp" / "js").mkdir(parents=True)
    (root / "webapp" / "index.html").write_text(INDEX)
    (root / "webapp" / "js" / "probe.js").write_text(PROBE)


def test_dev_webapp_knows_it_is_logged_in_without_seeing_the_token(start_engine, browse,
                                                                     tmp_path):
    make_webapp(tmp_path)  # the engine's working directory
    engine = start_engine(APP, "-dev")
    b = browse(engine)
    page = b.page
    page.goto("/app/flows/f")
    expect(page.get_by_role("heading", name="dev web app")).to_be_visible()  # not ours
    expect(page.locator("#authed")).to_have_text("logged out")
    expect(page.locator("#flows")).to_have_text("flows 401")

    page.get_by_label("User").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#authed")).to_have_text("logged in")
    expect(page.locator("#flows")).to_have_text("flows 200")  # the HttpOnly cookie at work
    token = b.token()
    seen = page.locator("#cookie").text_content() or ""
    assert token and token not in seen
    assert seen == f"floe-sesh={USER}:admin"
    assert page.evaluate("document.cookie").find(token) < 0
    assert not b.page_errors
