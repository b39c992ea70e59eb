"""What the server's routes share: the engine, sessions, peers and a cache of run summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..cluster.peers import Peers
from ..config.model import AppConfig
from ..engine import Engine
from ..errors import ContributionError
from ..events import SYS_END_ALL, Event
from ..hub import Hub
from ..runs import pend_summary
from .auth import Sessions


@dataclass
class ServerContext:
    engine: Engine
    sessions: Sessions
    peers: Peers
    admin_token: str = ""
    # flow id -> archived run summaries, newest first; dropped when a run of the flow ends
    _archive: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ends: dict[str, int] = field(default_factory=dict)  # flow id -> runs ended so far

    @classmethod
    def for_engine(cls, engine: Engine, admin_token: str = "") -> ServerContext:
        common = engine.config.common
        ctx = cls(engine, Sessions(engine.store, common.users, admin_token),
                  Peers(common.hosts, common.api_base, admin_token), admin_token)
        engine.queue.subscribe(ctx._on_event)
        return ctx

    @property
    def hub(self) -> Hub:
        return self.engine.hub

    @property
    def config(self) -> AppConfig:
        return self.engine.config

    @property
    def base(self) -> str:
        return self.engine.config.common.api_base.rstrip("/") or "/build/api"

    def _on_event(self, event: Event) -> None:
        if event.tag == SYS_END_ALL:
            flow_id = event.run_ref.flow_ref.id
            self._ends[flow_id] = self._ends.get(flow_id, 0) + 1
            self._archive.pop(flow_id, None)

    async def run_summaries(self, flow_id: str) -> dict[str, list[dict[str, Any]]]:
        """This host's `{Active, Pending, Archive}` of a flow. The archive is read from the
        store once per change, so polling a flow with a long history stays cheap."""
        hub = self.engine.hub
        archive = self._archive.get(flow_id)
        if archive is None:
            ends = self._ends.get(flow_id, 0)
            archive = [r.summary() for r in await hub.store.list_runs(flow_id) if r.ended]
            if self._ends.get(flow_id, 0) == ends:  # no run ended while we read
                self._archive[flow_id] = archive

        active = sorted((r.record for r in hub.active.values() if r.flow.id == flow_id),
                        key=lambda r: r.start_time.timestamp() if r.start_time else 0.0,
                        reverse=True)
        return {"Active": [r.summary() for r in active],
                "Pending": [pend_summary(p) for p in reversed(hub.pends)
                            if p.flow.id == flow_id],
                "Archive": list(archive)}

    def data_types(self) -> frozenset[str]:
        """The task types that wait for a form."""
        out = set()
        for name in self.engine.config.used_types():
            try:
                if getattr(self.engine.registry.task_class(name), "awaits_input", False):
                    out.add(name)
            except ContributionError:
                continue
        return frozenset(out)

    async def close(self) -> None:
        self.engine.queue.unsubscribe(self._on_event)
        await self.peers.close()
