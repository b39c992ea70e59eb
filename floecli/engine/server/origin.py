"""Which browser origins may use a session cookie to write or to open the websocket (CSRF)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from ..errors import RequestError


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class OriginPolicy:
    """The engine's own origin (the scheme and Host the request came to) is always allowed;
    `allowed` adds others, such as a dashboard served from another address."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = {o for o in (_origin_of(a) for a in allowed) if o}

    def own(self, conn: HTTPConnection) -> str:
        scheme = conn.url.scheme.replace("ws", "http", 1)  # ws -> http, wss -> https
        return f"{scheme}://{conn.headers.get('host', '').lower()}"

    def check(self, conn: HTTPConnection) -> None:
        """403 unless the request's Origin (else Referer) is the engine's own or allowed.
        Browsers send Origin on every cross-site write and websocket; its absence on a
        cookie-authenticated write means a client we cannot vouch for."""
        origin = conn.headers.get("origin") or _origin_of(conn.headers.get("referer", ""))
        origin = _origin_of(origin) if origin and origin != "null" else ""
        if origin and (origin == self.own(conn) or origin in self.allowed):
            return
        shown = origin or "no Origin header"
        raise RequestError(403, f"cross-origin request refused ({shown}): a session cookie "
                                "only works from the engine's own pages; scripts send "
                                "X-Floe-Auth instead")
