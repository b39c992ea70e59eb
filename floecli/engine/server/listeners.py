"""Listeners: sockets bound before the engine starts, served by uvicorn inside the engine's loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Generator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from ..errors import ListenError
from .connguard import GuardedH11Protocol, quiet_accept_errors, uvicorn_options

log = logging.getLogger(__name__)


def parse_bind(bind: str) -> tuple[str, int]:
    """`host:port`, `:port` (every interface, as Go), `[v6]:port`, or a bare port."""
    host, sep, port = bind.rpartition(":")
    if not sep:
        host, port = "", bind
    host = host.strip("[]") or "0.0.0.0"
    try:
        number = int(port)
    except ValueError:
        raise ListenError(f"{bind}: not an address such as 127.0.0.1:8080") from None
    if not 0 <= number <= 65535:
        raise ListenError(f"{bind}: port out of range")
    return host, number


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The engine owns SIGINT/SIGTERM and stops its listeners itself.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn does not pass a TLS handshake timeout, so asyncio's 60 s applies: a
        # connection that never says hello would hold its socket that long, uncounted by
        # the connection guard (which sees it only once the handshake is done). The
        # handshake gets the same deadline as a request head.
        loop = asyncio.get_running_loop()
        create = loop.create_server

        async def create_server(*args: Any, **kw: Any) -> asyncio.Server:
            if kw.get("ssl") is not None:
                kw.setdefault("ssl_handshake_timeout", GuardedH11Protocol.header_timeout)
            return await create(*args, **kw)

        loop.create_server = create_server  # type: ignore[method-assign]
        try:
            await super().startup(sockets)
        finally:
            del loop.create_server  # the loop's own method again


class Listener:
    """open() binds (so a port in use fails before any run starts), start() serves,
    stop() stops accepting, closes connections and waits for them."""

    def __init__(self, name: str, bind: str, app: ASGIApp, *, cert: str = "",
                 key: str = "") -> None:
        self.name = name
        self.bind = bind
        self.app = app
        self.cert = cert
        self.key = key
        self.sock: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._config: uvicorn.Config | None = None

    @property
    def tls(self) -> bool:
        return bool(self.cert)

    @property
    def port(self) -> int:
        assert self.sock is not None
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        assert self.sock is not None
        host = self.sock.getsockname()[0]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def open(self) -> None:
        host, port = parse_bind(self.bind)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY on accepted sockets only when
        # their proto says TCP. With proto 0, Nagle held every reply's body behind its headers
        # for the client's delayed ACK, 40 ms a request on a kept-alive connection.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(uvicorn_options()["backlog"])
        except OSError as e:
            sock.close()
            why = "address already in use" if e.errno == errno.EADDRINUSE else (
                e.strerror or str(e))
            raise ListenError(f"{self.bind}: {why}") from None
        sock.setblocking(False)
        self.sock = sock
        config = uvicorn.Config(
            self.app, lifespan="off", ws="wsproto", log_config=None, access_log=False,
            ssl_certfile=self.cert or None, ssl_keyfile=self.key or None,
            timeout_graceful_shutdown=3, ws_ping_interval=20.0, server_header=False,
            **uvicorn_options())
        try:
            config.load()  # reads the certificate now: a bad pair is a start-up error
        except (OSError, ValueError) as e:
            self.close()
            raise ListenError(f"{self.bind}: TLS certificate {self.cert}: {e}") from None
        self._config = config

    async def start(self) -> None:
        assert self.sock is not None and self._config is not None
        quiet = logging.getLogger("uvicorn.error")
        if quiet.level == logging.NOTSET:  # its start/stop chatter; warnings still show
            quiet.setLevel(logging.WARNING)
        quiet_accept_errors(asyncio.get_running_loop())
        self._server = _Server(self._config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self.sock]),
                                         name=f"listener {self.name}")
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raise what stopped it

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._task
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
