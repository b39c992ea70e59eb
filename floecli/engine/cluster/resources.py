"""Resource tags that hold cluster-wide: one host grants them, per run id.

A host's own check (hub/dispatch.py) sees only its own active runs, and two hosts deciding
at once from what they last heard would both start. So the grant is one host's decision:
the *grantor* is the lowest host id among the hosts that have answered at least once (every
host computes the same one once they have all met; a host that is not the grantor refuses to
grant). A run that names resource tags
starts (here, or on the host it is handed to) only once the grantor has recorded it as the
holder of those tags, durably, and the grant is released when the run ends: the executing
host announces every run end to every host (cluster/cluster.py). A grant is idempotent per
run id, so an adopter that crashed and asks again gets the same answer.

Trade-off: while the grantor is offline, runs that name resource tags wait (with that
reason); runs without resource tags are not affected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from ..pend import Pend
from ..store.base import RunStore
from .membership import Membership, fmt_clock

log = logging.getLogger(__name__)

GRANTS_KEY = "cluster/resource-grants"  # the grantor's {run id: {Host, Flow, Tags}}
CLAIM_TIMEOUT = 5.0


class Resources:
    def __init__(self, membership: Membership, store: RunStore,
                 wake: Callable[[], None] = lambda: None) -> None:
        self._members = membership
        self._store = store
        self.wake = wake
        self.granted: set[str] = set()  # run ids of this host's pends that hold their tags
        self._reasons: dict[str, str] = {}  # run id -> why its claim was not granted
        self._claiming: dict[str, asyncio.Task[str]] = {}
        self.holders: dict[str, dict[str, Any]] = {}  # grantor side: run id -> holder
        self.unreleased: set[str] = set()  # run ends the grantor has not heard yet

    async def load(self) -> None:
        kept = await self._store.get(GRANTS_KEY)
        self.holders = dict(kept) if isinstance(kept, dict) else {}

    # ---- the adopter's side -----------------------------------------------------------

    def grantor(self) -> tuple[str, str]:
        """(the grantor's host id, "") or ("", why there is none yet): the lowest id among
        this host and the peers it has ever reached, once every peer was polled once. A
        listed host never reached (a typo, a host not built yet) does not hold the cluster
        up; one that answered once and went down does: it may hold grants."""
        if not self._members.polled:
            return "", "resource tags wait for the first contact with the other hosts"
        ids = [self._members.host_id]
        ids += [p.host_id for p in self._members.others() if p.host_id]
        return min(ids), ""

    def gate(self, pend: Pend) -> str:
        """Why `pend` may not start yet for its resource tags ("" once it holds them). Asks
        the grantor in the background; the dispatcher is woken when the answer comes."""
        tags = pend.flow.resource_tags
        if not tags or pend.run_id in self.granted:
            return ""
        if pend.run_id not in self._claiming:
            task = asyncio.create_task(self.claim(pend), name=f"claim {pend.run_id}")
            self._claiming[pend.run_id] = task
            task.add_done_callback(lambda _t, r=pend.run_id: self._claiming.pop(r, None))
        return self._reasons.get(pend.run_id) or (
            f"asking for resource tags [{', '.join(tags)}]")

    async def claim(self, pend: Pend) -> str:
        """Ask the grantor for the pend's resource tags: "" when granted, else why not."""
        tags = list(pend.flow.resource_tags)
        if not tags or pend.run_id in self.granted:
            return ""
        grantor, why = self.grantor()
        if grantor == self._members.host_id:
            why = await self.grant(pend.run_id, grantor, pend.flow.id, tags)
        elif grantor:
            why = await self._ask(grantor, pend, tags)
        if why:
            self._reasons[pend.run_id] = why
            pend.reason = why
            return why
        self._reasons.pop(pend.run_id, None)
        self.granted.add(pend.run_id)
        self.wake()
        return ""

    async def _ask(self, grantor: str, pend: Pend, tags: list[str]) -> str:
        peer = self._members.peer(grantor)
        what = f"resource tags [{', '.join(tags)}] are granted by {grantor}"
        if peer is None or not peer.usable():
            since = fmt_clock(peer.offline_since) if peer else "start-up"
            return f"{what}, offline since {since}"
        try:
            r = await self._members.http().post(
                peer.root + "/resources/claim", timeout=CLAIM_TIMEOUT,
                json={"Run": pend.run_id, "Host": self._members.host_id, "Flow": pend.flow.id,
                      "Tags": tags})
        except httpx.HTTPError as e:
            self._members.lost(peer, f"{type(e).__name__}: {e}")
            return f"{what}, which did not answer"
        self._members.heard(peer)
        if r.status_code == 200:
            return ""
        try:
            body = r.json()
        except ValueError:
            body = {}
        return str(body.get("Payload") or body.get("Message") or f"HTTP {r.status_code}")

    def forget(self, run_id: str) -> None:
        """The run ended (or left this host): its grant is no longer this host's."""
        self.granted.discard(run_id)
        self._reasons.pop(run_id, None)

    # ---- the grantor's side -----------------------------------------------------------

    async def grant(self, run_id: str, host: str, flow_id: str, tags: list[str]) -> str:
        """Record `run_id` as the holder of `tags` ("" done, durable) or say who holds one."""
        if run_id in self.holders:
            return ""  # asked again (a restart, a lost reply): the same answer
        for other, h in self.holders.items():
            shared = [t for t in tags if t in (h.get("Tags") or ())]
            if shared:
                return (f"resource tag {shared[0]} held by {h.get('Flow', '')} {other} on "
                        f"{h.get('Host', '')}")
        self.holders[run_id] = {"Host": host, "Flow": flow_id, "Tags": tags}
        self._store.put(GRANTS_KEY, self.holders)
        await self._store.flush()  # granted only once a restart would remember it
        return ""

    def release(self, run_id: str) -> bool:
        """A run ended somewhere: its tags are free (on the grantor; a no-op elsewhere)."""
        self.forget(run_id)
        if self.holders.pop(run_id, None) is None:
            return False
        self._store.put(GRANTS_KEY, self.holders)
        self.wake()
        return True
