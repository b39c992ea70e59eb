"""The engine's Starlette application: the API under `base-url`, `/ws`, and the dashboard."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from .api import Api
from .context import ServerContext
from .envelope import reply
from .middleware import ApiHeaders
from .webapp import web_routes
from .ws import EventStream

GZIP_MIN = 500  # smaller replies gain nothing from compression
FILES = re.compile(r"/flows/[^/]+/runs/[^/]+/files(/|$)")


class Compressed:
    """Gzip for the API's JSON and the dashboard's assets when the client takes it; a run's
    workspace files (files.py) go as they are: an artifact is often compressed already, a large
    one would cost the engine a core to gzip, and its Content-Length gives a download its
    size and progress."""

    def __init__(self, app: ASGIApp, **gzip: int) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, **gzip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plain = scope["type"] == "http" and FILES.search(scope.get("path", ""))
        await (self.app if plain else self.gzip)(scope, receive, send)


async def _not_found(request: Request, exc: Exception) -> Response:
    # An unknown path is the reference's 404 "not found". A known path asked with a method
    # it does not serve is a 405 naming the ones it does: HEAD on a write route included.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return reply(None, "not found", 404)
    if status == 405:
        allow = (exc.headers or {}).get("Allow", "") if isinstance(exc, HTTPException) else ""
        allow = ", ".join(sorted(m for m in allow.split(", ") if m))  # Starlette's is a set
        return reply(None, f"method not allowed: {request.method} (this path takes {allow})",
                     405, headers={"Allow": allow} if allow else None)
    return reply(None, getattr(exc, "detail", "error"), status)


async def _to_dash(request: Request) -> Response:
    return RedirectResponse("/app/dash", status_code=302)


def build_app(ctx: ServerContext, *, dev: bool = False) -> Starlette:
    """`dev`: serve `/app` and `/static` from ./webapp instead of the packaged dashboard."""
    stream = EventStream(ctx.engine.queue, ctx.sessions, ctx.cluster)
    routes = [Mount(ctx.base, routes=Api(ctx).routes()),
              WebSocketRoute("/ws", stream.endpoint),
              *web_routes(ctx.base, dev),
              Route("/", _to_dash, include_in_schema=False)]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Compressed, minimum_size=GZIP_MIN, compresslevel=5),
                    Middleware(ApiHeaders, base=ctx.base)],
        exception_handlers={HTTPException: _not_found},
    )
    app.state.stream = stream
    return app


def all_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, paths in OpenAPI's `{param}` form."""
    out: list[tuple[str, str]] = []

    def walk(routes: list, prefix: str) -> None:  # type: ignore[type-arg]
        for r in routes:
            if isinstance(r, Mount):
                walk(r.routes, prefix + r.path)
            elif isinstance(r, WebSocketRoute):
                out.append(("GET", prefix + r.path))
            elif r.include_in_schema:
                for m in sorted(r.methods or ()):
                    if m != "HEAD":
                        out.append((m, prefix + r.path))

    walk(app.routes, "")
    # `{path:path}` is Starlette's; OpenAPI writes `{path}`.
    out = [(m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p)) for m, p in out]
    return out
