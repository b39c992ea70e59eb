"""Outbound hand-off: a pend this host cannot start goes to a peer that can (floe-reference
§5.2), exactly once.

Exactly once rests on three things:
- the executing host refuses a run id it already has (hub/state.py) and then answers 200
  "already started" (server/api.py), so offering the same pend again is harmless;
- before an offer is sent, `handoff/<run id>` = the peer is made durable here: a pend whose
  offer may have arrived (the reply was lost, or this host died before removing the pend)
  is offered again to that peer only, never to another, until that peer answers;
- after a 200 the pend is removed with the mark set to "handed", in one store write
  (RunState.handed_off).

The reason a pend waits is worded for a user: `no online host has tags [gpu]`,
`h2 offline since 12:03:04`, `h2 busy: resource tag db held by ...`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from ..host import missing_tags
from ..pend import Pend
from ..store.base import HANDOFF_PREFIX, RunStore
from .membership import Membership, Peer, fmt_clock
from .resources import Resources

if TYPE_CHECKING:
    from ..hub.state import RunState

log = logging.getLogger(__name__)

OFFER_TIMEOUT = 10.0  # an offer waits for the peer's store to commit the run
ACCEPTED, BUSY, FAILED, UNREACHED, IN_DOUBT = "accepted", "busy", "failed", "unreached", "doubt"


class Handoff:
    """What the dispatcher asks when a pend cannot start here (hub/dispatch.py)."""

    def __init__(self, membership: Membership, resources: Resources, state: RunState,
                 store: RunStore, tags: tuple[str, ...],
                 on_handed: Callable[[Pend, str], None] = lambda pend, host: None) -> None:
        self._members = membership
        self._resources = resources
        self._state = state
        self._store = store
        self._tags = tags
        self._on_handed = on_handed
        self._offering: dict[str, asyncio.Task[None]] = {}
        # run id -> the peer it was offered to and may hold it ("" once known not to)
        self._marks: dict[str, str] = {}
        self._gated: set[str] = set()  # could start here but for its resource tags' grant

    # ---- the dispatcher's hook ---------------------------------------------------------

    async def takes(self, pend: Pend) -> bool:
        """Whether the pend is this object's to handle now: an offer is in flight, or one
        may have reached a peer (then it is offered to that peer again, and only to it)."""
        if pend.run_id in self._offering:
            return True
        mark = await self._mark(pend.run_id)
        if not mark:
            return False
        self._spawn(pend, only=mark)
        return True

    def gate(self, pend: Pend) -> str:
        """Why a pend of this host may not start here for cluster reasons ("" when it may)."""
        why = self._resources.gate(pend)
        if why:
            self._gated.add(pend.run_id)  # it can run here once granted: not offered
        return why

    def offer(self, pend: Pend, local_reason: str) -> None:
        """The pend cannot start here (`local_reason`): offer it to the peers that could."""
        if pend.run_id in self._offering or self._state.pend(pend.run_id) is not pend:
            return
        if local_reason.startswith(f"run {pend.run_id} is no longer"):
            return
        if pend.run_id in self._gated:
            self._gated.discard(pend.run_id)
            return
        self._spawn(pend, local_reason=local_reason)

    def busy(self, run_id: str) -> bool:
        return run_id in self._offering

    # ---- offering ------------------------------------------------------------------------

    def _spawn(self, pend: Pend, *, only: str = "", local_reason: str = "") -> None:
        if pend.run_id in self._offering:
            return
        task = asyncio.create_task(self._offer(pend, only, local_reason),
                                   name=f"offer {pend.run_id}")
        self._offering[pend.run_id] = task
        task.add_done_callback(lambda _t, r=pend.run_id: self._offering.pop(r, None))

    async def _mark(self, run_id: str) -> str:
        if run_id not in self._marks:
            kept = await self._store.get(HANDOFF_PREFIX + run_id)
            self._marks[run_id] = str(kept.get("Host") or "") if isinstance(kept, dict) else ""
        return self._marks[run_id]

    async def _offer(self, pend: Pend, only: str, local_reason: str) -> None:
        try:
            reason = await self._try(pend, only, local_reason)
        except Exception as e:  # an offer that fails never stops the dispatcher
            log.exception("run %s could not be offered", pend.run_id)
            reason = f"could not be offered to another host: {e}"
        if reason and self._state.pend(pend.run_id) is pend:
            pend.reason = reason

    async def _try(self, pend: Pend, only: str, local_reason: str) -> str:
        flow = pend.flow
        if only:
            peer = self._members.peer(only)
            if peer is None or not peer.usable():
                since = fmt_clock(peer.offline_since) if peer else "start-up"
                return (f"offered to {only}, which has not answered since {since}; it waits "
                        f"for {only} (it may have started there)")
            return await self._to(pend, [peer]) or ""
        if flow.resource_tags:
            why = await self._resources.claim(pend)
            if why:
                return why
        reasons: list[str] = []
        others = self._members.others()
        matching = [p for p in others if p.matches(flow.host_tags)]
        candidates = [p for p in matching if p.usable()]
        if candidates:
            why = await self._to(pend, candidates)
            if why is None:
                return ""
            reasons.append(why)
        missing = missing_tags(flow.host_tags, self._tags)
        if not missing and local_reason:
            reasons.insert(0, local_reason)  # it could run here: why it does not yet
        elif not any(p.usable() for p in candidates):  # those tried may have gone meanwhile
            reasons.insert(0, f"no online host has tags [{', '.join(missing)}]")
        for p in others:
            if p.refused:
                reasons.append(f"{p.name} refused the host token (401)")
            elif p in matching and not p.online and p not in candidates:
                reasons.append(f"{p.name} offline since {fmt_clock(p.offline_since)}")
            elif p.tags is None and p.ever_polled:
                reasons.append(f"{p.entry} not reached since {fmt_clock(p.offline_since)}")
        return "; ".join(dict.fromkeys(reasons)) or local_reason

    async def _to(self, pend: Pend, peers: list[Peer]) -> str | None:
        """Offer to each peer in turn: None once one took it, else why none did."""
        reasons = []
        for peer in peers:
            outcome, why = await self._send(pend, peer)
            if outcome == ACCEPTED:
                self._marks[pend.run_id] = peer.host_id
                if not await self._state.handed_off(pend, peer.host_id):
                    # Stopped here while the offer was on its way: stopped there too.
                    await self._stop_there(pend, peer)
                    return None
                log.info("run %s handed to %s", pend.run_id, peer.host_id)
                self._on_handed(pend, peer.host_id)
                return None
            if outcome == IN_DOUBT:
                return (f"offered to {peer.host_id}, no answer ({why}); it waits for "
                        f"{peer.host_id} (it may have started there)")
            reasons.append(why)
        return "; ".join(reasons)

    async def _send(self, pend: Pend, peer: Peer) -> tuple[str, str]:
        key = HANDOFF_PREFIX + pend.run_id
        # Write ahead: a crash after this line offers the pend to this peer only.
        self._marks[pend.run_id] = peer.host_id
        self._store.put(key, {"Host": peer.host_id, "State": "offered"})
        await self._store.flush()
        try:
            r = await self._members.http().post(peer.root + "/flows/exec", json=pend.to_json(),
                                                timeout=OFFER_TIMEOUT)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            self._clear(key, pend.run_id)  # never arrived: any host may have it
            self._members.lost(peer, f"{type(e).__name__}: {e}")
            return UNREACHED, f"{peer.host_id} offline since {fmt_clock(peer.offline_since)}"
        except httpx.HTTPError as e:
            self._members.lost(peer, f"{type(e).__name__}: {e}")
            return IN_DOUBT, type(e).__name__
        self._members.heard(peer)
        if r.status_code == 200:
            return ACCEPTED, ""
        self._clear(key, pend.run_id)  # a definite no: it did not start there
        message = _message(r)
        if r.status_code == 409:
            return BUSY, f"{peer.host_id} busy: {message}"
        if r.status_code in (401, 403):
            peer.refused, peer.online = True, False
            peer.problem = f"refused the host token ({r.status_code})"
            log.error("host %s refused this host's token (%d)", peer.host_id, r.status_code)
            return FAILED, f"{peer.host_id} refused the host token ({r.status_code})"
        log.error("run %s: host %s answered %d: %s", pend.run_id, peer.host_id, r.status_code,
                  message)
        return FAILED, f"{peer.host_id} could not start it: {message}"

    async def _stop_there(self, pend: Pend, peer: Peer) -> None:
        url = f"{peer.root[: -len('/p2p')]}/flows/{pend.flow.id}/runs/{pend.run_id}/stop"
        try:
            r = await self._members.http().post(url, timeout=OFFER_TIMEOUT)
        except httpx.HTTPError as e:
            log.error("run %s was stopped here but runs on %s, which did not take the stop: "
                      "%s", pend.run_id, peer.host_id, e)
            return
        log.info("run %s was stopped while offered: stopped on %s too (%d)", pend.run_id,
                 peer.host_id, r.status_code)

    def _clear(self, key: str, run_id: str) -> None:
        self._marks[run_id] = ""
        self._store.delete(key)

    def forget(self, run_id: str) -> None:
        self._marks.pop(run_id, None)
        self._gated.discard(run_id)


def _message(r: httpx.Response) -> str:
    try:
        body: Any = r.json()
    except ValueError:
        return r.text[:200]
    payload = body.get("Payload") if isinstance(body, dict) else None
    message = body.get("Message", "") if isinstance(body, dict) else ""
    return str(payload) if isinstance(payload, str) and payload else str(message)
