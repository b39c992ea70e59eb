"""The dashboard's script-visible login marker: a `floe-sesh` cookie under `/app`, no secret."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from .auth import COOKIE

# Web front ends (the original Floe app among them) decide whether they are logged in by
# looking for `floe-sesh=` in `document.cookie`. The session cookie itself is HttpOnly, so a
# script can never read the token; this second cookie of the same name is scoped to the app's
# pages and holds only who is logged in. The browser sends it with `/app/*` page loads only,
# not to the API or `/ws`, and the token check never accepts it: it authenticates nothing.
APP_PATH = "/app"


def marker_cookie(user: str, role: str, expires_at: float) -> str:
    expires = datetime.fromtimestamp(expires_at, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    value = f"{quote(user, safe='')}:{quote(role, safe='')}"
    return f"{COOKIE}={value}; Path={APP_PATH}; Expires={expires}; SameSite=Lax"


CLEAR_MARKER = f"{COOKIE}=; Path={APP_PATH}; Max-Age=0"
