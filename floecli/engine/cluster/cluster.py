"""One host's part in a cluster (`common.hosts`): membership, hand-off, cluster-wide resource
tags, and the announcements that keep dispatch event driven across hosts.

Hosts announce to each other (`POST p2p/announce`) when they come online and when a run
ends, so a pend waiting for a host or a resource is offered again the moment that changes,
not on a tick. An announcement that does not arrive is covered by the heartbeat (a host
coming back is seen at the next poll) and by the dispatcher's sweep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpx

from ..events import SYS_END_ALL, Event
from ..flow import Flow, Node
from .handoff import Handoff
from .membership import Membership, Peer
from .resources import Resources

if TYPE_CHECKING:
    from ..hub import Hub

log = logging.getLogger(__name__)

ANNOUNCE_TIMEOUT = 2.0
ONCE_PER_CLUSTER = ("timer", "poll-git")  # trigger types only the leader fires


class Cluster:
    def __init__(self, hub: Hub, hosts: Iterable[str], base_url: str, admin_token: str) -> None:
        self.hub = hub
        self.membership = Membership(list(hosts), base_url, admin_token, hub.host_id,
                                     tuple(hub.tags), on_online=self._online)
        self.resources = Resources(self.membership, hub.store, self.wake)
        self.handoff = Handoff(self.membership, self.resources, hub.state, hub.store,
                               tuple(hub.tags))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self.closing = asyncio.Event()  # ends the event streams peers follow
        # The one hook into the hub: a pend that cannot start here is offered elsewhere.
        # Not on a shared store (PostgreSQL): there the database hands pends out
        # (hub/claiming.py) and a p2p offer would compete with its claims.
        if not hub.store.shared:
            hub.dispatcher.elsewhere = self.handoff
        hub.queue.subscribe(self._on_event)
        self._fire = hub.fire
        hub.fire = self._fire_once  # type: ignore[method-assign]

    def wake(self) -> None:
        self.hub.dispatcher.wake()

    # ---- life cycle -----------------------------------------------------------------------

    async def start(self, addresses: Iterable[str]) -> None:
        """Once this host serves: recognise itself, load the grants it keeps, poll every
        peer and tell them it is online."""
        self.membership.listening_on(addresses)
        await self.resources.load()
        self._started = True
        await self.membership.poll_all()
        self.membership.start()
        self._spawn(self.announce("online"))
        self.wake()

    async def close(self) -> None:
        self.closing.set()
        self.hub.queue.unsubscribe(self._on_event)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.membership.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- events -----------------------------------------------------------------------------

    def _online(self, peer: Peer) -> None:
        self.wake()  # what waits for it is offered now
        if self.resources.unreleased:
            self._spawn(self._resend_ends(peer))

    def _on_event(self, event: Event) -> None:
        if event.tag != SYS_END_ALL or not event.run_ref.adopted:
            return
        run_id = event.run_ref.run_id
        self.handoff.forget(run_id)
        self.resources.release(run_id)
        if self._started:
            self.resources.unreleased.add(run_id)
            self._spawn(self.announce("ended", run_id))

    def _fire_once(self, flow: Flow, trigger: Node, fired: Any) -> None:
        """Timers and git polls fire on the leader only (the lowest id that answers), so
        a cluster starts one run per tick, not one per host."""
        if trigger.type in ONCE_PER_CLUSTER and not self.membership.leader():
            log.debug("flow %s trigger %s: fired by the leader, not here", flow.id, trigger.id)
            return
        self._fire(flow, trigger, fired)

    def heard(self, host_id: str, kind: str, run_id: str = "") -> None:
        """A peer's announcement (`POST p2p/announce`)."""
        peer = self.membership.peer(host_id)
        if peer is None or not peer.online:
            self.membership.poll_soon(host_id)
        if kind == "ended" and run_id:
            self.resources.release(run_id)
            self.handoff.forget(run_id)
        self.wake()

    # ---- announcing -------------------------------------------------------------------------

    async def announce(self, kind: str, run_id: str = "") -> None:
        body = {"HostID": self.hub.host_id, "Event": kind, "Run": run_id}
        peers = [p for p in self.membership.others() if not p.refused]
        results = await asyncio.gather(*(self._tell(p, body) for p in peers))
        grantor, _ = self.resources.grantor()
        if kind == "ended" and (grantor == self.hub.host_id or any(
                ok and p.host_id == grantor for p, ok in zip(peers, results, strict=True))):
            self.resources.unreleased.discard(run_id)

    async def _tell(self, peer: Peer, body: dict[str, Any]) -> bool:
        try:
            r = await self.membership.http().post(peer.root + "/announce", json=body,
                                                  timeout=ANNOUNCE_TIMEOUT)
        except httpx.HTTPError:
            return False  # the heartbeat notices it; a run end is sent again when it is back
        return r.status_code == 200

    async def _resend_ends(self, peer: Peer) -> None:
        for run_id in list(self.resources.unreleased):
            told = await self._tell(peer, {"HostID": self.hub.host_id, "Event": "ended",
                                           "Run": run_id})
            if told and self.resources.grantor()[0] == peer.host_id:
                self.resources.unreleased.discard(run_id)

    # ---- what the API shows -----------------------------------------------------------------

    def online_roots(self) -> list[str]:
        """p2p roots of the other hosts worth asking now (online, or not polled yet)."""
        return [p.root for p in self.membership.others()
                if (p.online or not p.ever_polled) and not p.refused]

    def peer_for(self, root: str) -> Peer | None:
        return next((p for p in self.membership.peers if p.root == root), None)

