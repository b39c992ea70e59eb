"""One view of the cluster from any host: finding the host that executes a run, forwarding a
request to it, and following every host's events.

A run lives on the host executing it (its records, logs, processes). Any host answers for
it by asking the others (p2p routes, host token) which one has it, then forwarding the
user's request there with the host token and relaying the answer as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from .membership import Membership, Peer

log = logging.getLogger(__name__)

FIND_TIMEOUT = 3.0
FORWARD_TIMEOUT = 30.0
FOLLOW_READY = 3.0  # a ?cluster=1 websocket opens once every peer streams, or after this


async def executing_peer(members: Membership, flow_id: str, run_id: str) -> Peer | None:
    """The peer that has the run (active or archived there), asked all at once."""
    peers = [p for p in members.others() if p.usable()]

    async def has(p: Peer) -> bool:
        try:
            r = await members.http().get(f"{p.root}/flows/{flow_id}/runs/{run_id}",
                                         timeout=FIND_TIMEOUT)
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        payload = (r.json() or {}).get("Payload") or {}
        # a pend there is not the run yet: the host executing it is the one with StartTime
        return bool(payload.get("StartTime")) and not str(
            payload.get("StartTime")).startswith("0001")

    found = await asyncio.gather(*(has(p) for p in peers))
    return next((p for p, yes in zip(peers, found, strict=True) if yes), None)


async def forward(members: Membership, peer: Peer, method: str, path: str,
                  query: str = "", body: bytes = b"", headers: dict[str, str] | None = None
                  ) -> httpx.Response:
    """`method <peer api root><path>?query` with the host token: the peer's answer."""
    url = peer.root[: -len("/p2p")] + path + (f"?{query}" if query else "")
    return await members.http().request(method, url, content=body or None,
                                        headers={"Content-Type": "application/json",
                                                 **(headers or {})},
                                        timeout=FORWARD_TIMEOUT)


async def follow(members: Membership, peer: Peer, params: dict[str, str],
                 put: Callable[[str], None], stopped: asyncio.Event,
                 connected: asyncio.Event | None = None) -> None:
    """Relay `peer`'s own events (`GET p2p/events`, one JSON line each) to `put`, following
    it again when it comes back, until `stopped`. `connected` is set once the peer streams
    (or is found offline), so a client can be told it misses nothing from then on."""
    connected = connected or asyncio.Event()
    while not stopped.is_set():
        if not peer.usable():
            connected.set()
            await _wait(stopped, 1.0)
            continue
        try:
            async with members.http().stream("GET", peer.root + "/events", params=params,
                                             timeout=httpx.Timeout(10.0, read=None)) as r:
                if r.status_code != 200:
                    connected.set()
                    await _wait(stopped, 1.0)
                    continue
                connected.set()
                async for line in r.aiter_lines():
                    if line.strip():
                        put(line)
        except httpx.HTTPError as e:
            connected.set()
            log.debug("events of %s: %s", peer.name, e)
        await _wait(stopped, 0.5)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def event_lines(subscribe: Callable[[Callable[[Any], None]], None],
                      unsubscribe: Callable[[Callable[[Any], None]], None],
                      wants: Callable[[Any], bool], encode: Callable[[Any], str],
                      until: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    """This host's events as JSON lines, for a peer's `?cluster=1` websocket, until the
    follower leaves or `until` is set (this host stops: its listener need not wait)."""
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10000)
    until = until or asyncio.Event()

    def on_event(event: Any) -> None:
        if wants(event):
            # a follower this far behind loses events rather than the host its memory
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(encode(event))

    subscribe(on_event)
    ended = asyncio.ensure_future(until.wait())
    try:
        yield b"\n"  # headers out at once: the follower knows it is connected
        while not until.is_set():
            got = asyncio.ensure_future(queue.get())
            await asyncio.wait({got, ended}, return_when=asyncio.FIRST_COMPLETED)
            if not got.done():
                got.cancel()
                return
            yield got.result().encode() + b"\n"
    finally:
        ended.cancel()
        unsubscribe(on_event)


def is_json_line(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
