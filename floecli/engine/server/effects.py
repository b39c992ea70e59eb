"""What each API operation does (read, write, ...), declared in its route: permission follows it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .envelope import endpoint

# Effects. A method's name says nothing of what a handler does (a HEAD used to reach a
# handler that acted on its body): each operation declares its effect and auth.require
# checks the caller against that, never against the method.
OPEN = "open"  # anyone: log in, read the OpenAPI document
READ = "read"  # any logged-in user; changes nothing
SESSION = "session"  # any logged-in user, on their own session only (log out)
WRITE = "write"  # the admin role: starts, stops or feeds runs
EFFECTS = (OPEN, READ, SESSION, WRITE)
SCOPE_KEY = "floe.effect"

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    handler: Handler
    effect: str

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise ValueError(f"{self.method} {self.path}: unknown effect {self.effect!r}")
        if self.method in ("GET", "HEAD") and self.effect in (SESSION, WRITE):
            # HTTP says GET and HEAD are safe; browsers, proxies and prefetchers rely on it.
            raise ValueError(f"{self.method} {self.path}: a GET must not change state")


def effect_of(conn: HTTPConnection) -> str:
    """The effect its route declared; WRITE (the strictest) when none did."""
    return str(conn.scope.get(SCOPE_KEY) or WRITE)


def routes_of(operations: Sequence[Operation]) -> list[BaseRoute]:
    """One Starlette route per path, serving exactly the declared methods (HEAD with GET, as
    the GET's read) so any other method is a 405 naming the allowed ones."""
    by_path: dict[str, dict[str, Operation]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = op
    return [Route(path, _dispatch(ops), methods=sorted(ops)) for path, ops in by_path.items()]


def _dispatch(ops: dict[str, Operation]) -> Handler:
    handlers = {m: (op.effect, endpoint(op.handler)) for m, op in ops.items()}
    if "GET" in handlers:
        handlers["HEAD"] = handlers["GET"]

    async def dispatch(request: Request) -> Response:
        # Starlette routed only the methods above here; anything else was its 405.
        effect, handler = handlers[request.method]
        request.scope[SCOPE_KEY] = effect
        return await handler(request)

    return dispatch
