"""What the server's routes share: the engine, sessions, peers and a cache of run summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cluster.cluster import Cluster
from ..cluster.peers import Peers
from ..engine import Engine
from ..errors import ContributionError
from ..events import SYS_END_ALL, SYS_STATE, Event
from ..flow import AppConfig
from ..hub import Hub
from .auth import Sessions
from .origin import OriginPolicy

ARCHIVE_PAGE = 1000  # archived runs in a `GET flows/:id` reply unless ?limit= says otherwise


@dataclass
class ServerContext:
    engine: Engine
    sessions: Sessions
    peers: Peers
    admin_token: str = ""
    cluster: Cluster | None = None  # None when `common.hosts` lists no host
    # flow id -> (first page of archived run summaries, newest first; how many in all),
    # dropped when a run of the flow ends
    _archive: dict[str, tuple[list[dict[str, Any]], int]] = field(default_factory=dict)
    _ends: dict[str, int] = field(default_factory=dict)  # flow id -> runs ended so far
    # flow id -> (what the reply was made from, JSON body, gzipped body) of `GET flows/:id`
    _replies: dict[str, tuple[Any, bytes, bytes]] = field(default_factory=dict)
    _changes: dict[str, int] = field(default_factory=dict)  # flow id -> runs added/started/ended

    @classmethod
    def for_engine(cls, engine: Engine, admin_token: str = "",
                   origins: Sequence[str] = ()) -> ServerContext:
        common = engine.config.common
        sessions = Sessions(engine.store, common.users, admin_token,
                            origins=OriginPolicy(origins))
        # The host's part in the cluster (`common.hosts`), before the engine starts: its
        # first dispatch already offers what cannot run here.
        cluster = (Cluster(engine.hub, common.hosts, common.api_base, admin_token)
                   if common.hosts else None)
        peers = Peers(common.hosts, common.api_base, admin_token,
                      roots_of=cluster.online_roots if cluster is not None else None)
        ctx = cls(engine, sessions, peers, admin_token, cluster)
        engine.queue.subscribe(ctx._on_event)
        engine.pruner.watch(ctx._on_pruned)
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
        if event.tag in (SYS_STATE, SYS_END_ALL):  # a run was added, started or ended
            flow_id = event.run_ref.flow_ref.id
            self._changes[flow_id] = self._changes.get(flow_id, 0) + 1
            self._replies.pop(flow_id, None)
        if event.tag == SYS_END_ALL:
            flow_id = event.run_ref.flow_ref.id
            self._ends[flow_id] = self._ends.get(flow_id, 0) + 1
            self._archive.pop(flow_id, None)

    def _on_pruned(self, flow_ids: set[str]) -> None:
        """Retention removed archived runs of these flows: what is kept of their lists goes."""
        for flow_id in flow_ids:
            self._changes[flow_id] = self._changes.get(flow_id, 0) + 1
            self._replies.pop(flow_id, None)
            self._ends[flow_id] = self._ends.get(flow_id, 0) + 1
            self._archive.pop(flow_id, None)

    async def run_summaries(self, flow_id: str, offset: int = 0, limit: int = ARCHIVE_PAGE
                            ) -> dict[str, Any]:
        """This host's `{Active, Pending, Archive, ArchiveTotal}` of a flow, the archive
        newest first from `offset`, at most `limit` runs (0: all). The first page is read
        from the store once per change, so polling a flow with a long history stays cheap."""
        hub = self.engine.hub
        # Another host's run ending tells this one nothing: a shared store is read each time.
        first_page = (offset, limit) == (0, ARCHIVE_PAGE) and not hub.store.shared
        page = self._archive.get(flow_id) if first_page else None
        if page is None:
            ends = self._ends.get(flow_id, 0)
            page = await hub.archive_summaries(flow_id, offset, limit)
            if first_page and self._ends.get(flow_id, 0) == ends:  # no run ended meanwhile
                self._archive[flow_id] = page
        archive, total = page
        return {**await hub.live_summaries(flow_id), "Archive": list(archive),
                "ArchiveTotal": total}

    def cached_reply(self, flow_id: str) -> tuple[bytes, bytes] | None:
        """The last `GET flows/:id` body (plain, gzipped) if nothing it shows has changed:
        no run added, started or ended, and every pend still waits for the same reason."""
        hit = self._replies.get(flow_id)
        if hit is None or self.engine.hub.store.shared or hit[0] != self.reply_key(flow_id):
            return None
        return hit[1], hit[2]

    def cache_reply(self, flow_id: str, body: bytes, gzipped: bytes, key: Any) -> None:
        self._replies[flow_id] = (key, body, gzipped)

    def reply_key(self, flow_id: str) -> Any:
        """Take it before reading what a reply shows: a change meanwhile makes it stale.
        Pends change their reason without an event; runs change with one (_on_event)."""
        hub = self.engine.hub
        return (self._changes.get(flow_id, 0),
                tuple(p.reason for p in hub.pends if p.flow.id == flow_id),
                tuple((r.run_id, n) for r in hub.state.active_runs() if r.flow.id == flow_id
                      for n, d in r.record.data_nodes.items() if d.enabled))

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
