"""What every API reply carries: CORS headers, the OPTIONS answer, the refreshed session cookie."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .envelope import JSONReply

ALLOW_METHODS = "POST, GET, PUT, OPTIONS, DELETE"


def cors_headers(scope: Scope) -> dict[str, str]:
    asked = Headers(scope=scope).getlist("access-control-request-headers")
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ",".join(asked)}


class ApiHeaders:
    """Pure ASGI (no per-request task) so it costs next to nothing on the hot GET routes."""

    def __init__(self, app: ASGIApp, base: str) -> None:
        self.app = app
        self.base = base.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path == self.base or path.startswith(self.base + "/")
        if api and scope["method"] == "OPTIONS":
            await JSONReply("ok", headers=cors_headers(scope))(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if api:
                    for k, v in cors_headers(scope).items():
                        headers[k] = v
                for key in ("floe_cookie", "floe_marker"):  # session, then app marker
                    if state.get(key):
                        headers.append("set-cookie", state[key])
            await send(message)

        await self.app(scope, receive, send_with_headers)
