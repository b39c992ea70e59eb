"""The engine's network service: the app, its public/private/tester listeners, start and stop."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..engine import Engine
from .app import build_app
from .context import ServerContext
from .listeners import Listener

log = logging.getLogger(__name__)


class Service:
    """open() binds every address; start() serves; stop() closes listeners, then contexts."""

    def __init__(self, engine: Engine, *, admin_token: str = "", pub_bind: str = "",
                 pub_cert: str = "", pub_key: str = "", prv_bind: str = "",
                 prv_cert: str = "", prv_key: str = "", tester_bind: str = "",
                 dev: bool = False, origins: Sequence[str] = ()) -> None:
        self.engine = engine
        self.listeners: list[Listener] = []
        self.ctx: ServerContext | None = None
        self.tester = None
        if pub_bind or prv_bind:
            self.ctx = ServerContext.for_engine(engine, admin_token, origins)
            app = build_app(self.ctx, dev=dev)
            if pub_bind:
                self.listeners.append(Listener("pub", pub_bind, app, cert=pub_cert,
                                               key=pub_key))
            # The same address twice is one listener, as the reference; ":0" twice is two ports.
            if prv_bind and (prv_bind != pub_bind or prv_bind.endswith(":0")):
                self.listeners.append(Listener("prv", prv_bind, app, cert=prv_cert,
                                               key=prv_key))
        if tester_bind:
            from .tester import Tester

            self.tester = Tester(engine)
            self.listeners.append(Listener("tester", tester_bind, self.tester.app()))

    def open(self) -> None:
        try:
            for listener in self.listeners:
                listener.open()
        except BaseException:
            for listener in self.listeners:
                listener.close()
            raise
        pub = next((lst for lst in self.listeners if lst.name == "pub"), None)
        if pub is not None and self.engine.store.shared:
            # Bound before the engine starts: its first heartbeat tells the other hosts.
            self.engine.store.address = pub.url

    async def start(self) -> None:
        for listener in self.listeners:
            await listener.start()
        if self.ctx is not None and self.ctx.cluster is not None:
            # Once it serves: peers told it is online can reach it at once.
            await self.ctx.cluster.start(
                f"{lst.sock.getsockname()[0]}:{lst.port}" for lst in self.listeners
                if lst.name != "tester" and lst.sock is not None)

    def urls(self) -> list[str]:
        """The lines announcing each listener (tools read the real port from them)."""
        out = []
        for listener in self.listeners:
            what = {"pub": "floe", "prv": "floe private", "tester": "floe tester"}[listener.name]
            out.append(f"{what} listening on {listener.url}")
        return out

    def ports(self) -> dict[str, int]:
        return {listener.name: listener.port for listener in self.listeners}

    async def stop(self) -> None:
        if self.ctx is not None and self.ctx.cluster is not None:
            await self.ctx.cluster.close()
        for listener in self.listeners:
            await listener.stop()
        if self.tester is not None:
            await self.tester.close()
        if self.ctx is not None:
            await self.ctx.close()
