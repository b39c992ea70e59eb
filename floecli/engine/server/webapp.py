"""The web dashboard: `/app/*` answers the single-page app's index.html, `/static/*` its files."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from .appcookie import APP_PATH

log = logging.getLogger(__name__)

PACKAGED = Path(__file__).parent / "static"
DEV_DIR = "webapp"  # -dev: the web app root in the engine's working directory (§6.9)
API_BASE_MARK = "__FLOE_API_BASE__"  # index.html learns `base-url` from this placeholder
VERSION_MARK = "__FLOE_VERSION__"  # and the engine's version, for its footer
# The packaged dashboard loads nothing from elsewhere; the policy makes that a promise.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")


# Module scripts load only with a JavaScript type, which some systems' tables get wrong.
for _type, _ext in (("text/javascript", ".js"), ("text/css", ".css"), ("image/svg+xml", ".svg")):
    mimetypes.add_type(_type, _ext)


class Assets(StaticFiles):
    """The app's files, revalidated on each load (a cheap 304 by ETag), so an upgraded engine
    never pairs a new index.html with yesterday's cached modules."""

    def file_response(self, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


class AppIndex:
    """Every path under `/app` is a page of the single-page app: its router draws it."""

    def __init__(self, root: Path, api_base: str, *, packaged: bool) -> None:
        self.index = root / "index.html"
        self.api_base = api_base
        self.packaged = packaged
        self._cached: bytes | None = None

    def _body(self) -> bytes | None:
        # -dev reads the file on each request so edits show on reload; packaged once.
        if self._cached is not None:
            return self._cached
        try:
            text = self.index.read_text(encoding="utf-8")
        except OSError:
            return None
        from floecli import __version__

        body = (text.replace(API_BASE_MARK, self.api_base)
                .replace(VERSION_MARK, __version__).encode("utf-8"))
        if self.packaged:
            self._cached = body
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._body()
        if body is None:
            response: Response = HTMLResponse(
                f"<p>no {self.index} to serve: -dev serves ./{DEV_DIR} of the engine's "
                "working directory</p>", status_code=404)
        else:
            headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                       "Referrer-Policy": "same-origin"}
            if self.packaged:
                headers["Content-Security-Policy"] = CSP
            response = HTMLResponse(body, headers=headers)
        await response(scope, receive, send)


def web_root(dev: bool) -> tuple[Path, bool]:
    """The directory the dashboard is served from and whether it is the packaged copy."""
    if not dev:
        return PACKAGED, True
    root = Path.cwd() / DEV_DIR
    if not root.is_dir():
        log.warning("-dev: no %s directory in %s: /app and /static will answer 404",
                    DEV_DIR, Path.cwd())
    return root, False


def web_routes(api_base: str, dev: bool = False) -> list[Mount]:
    root, packaged = web_root(dev)
    return [Mount(APP_PATH, app=AppIndex(root, api_base, packaged=packaged)),
            Mount("/static", app=Assets(directory=root, check_dir=False))]
