"""The websocket at `/ws`: every event of this host as §2.1 JSON; output lines coalesce."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..cluster.views import is_json_line
from ..errors import RequestError
from ..events import SYS_NODE_UPDATE, Event, EventQueue
from ..secrets import mask
from .auth import Sessions, require
from .effects import READ
from .envelope import error_reply

if TYPE_CHECKING:
    from ..cluster.cluster import Cluster

log = logging.getLogger(__name__)

BYTES_BEHIND = 16 << 20  # a client this far behind (encoded frames) is dropped
MERGE_MAX = 64 << 10  # a coalesced sys.node.update frame grows up to about this


class _Frame:
    """One frame waiting to be sent: an event's shared encoded text, or a run of
    sys.node.update lines of one node coalesced into one event (Opts.update joined by
    newlines, Opts.lines their count)."""

    __slots__ = ("event", "lines", "size", "text")

    def __init__(self, event: dict[str, Any], text: str) -> None:
        self.event = event
        self.text: str | None = text
        self.size = len(text)
        self.lines: list[str] | None = None

    def merge(self, event: dict[str, Any], line: str) -> bool:
        first = self.event
        if (first["Tag"] != SYS_NODE_UPDATE or first["RunRef"] != event["RunRef"]
                or first["SourceNode"] != event["SourceNode"] or self.size > MERGE_MAX):
            return False
        if self.lines is None:
            self.lines = [str(first["Opts"]["update"])]
        self.lines.append(line)
        self.text = None
        self.size += len(line) + 1
        return True

    def encoded(self) -> str:
        if self.text is None:
            assert self.lines is not None
            self.text = json.dumps({**self.event, "Opts": {
                "update": "\n".join(self.lines), "lines": len(self.lines)}})
        return self.text


def _plain_update(event: Event) -> str | None:
    """The line of a sys.node.update that carries nothing else, so it may be coalesced."""
    if event.tag != SYS_NODE_UPDATE or set(event.opts) != {"update"}:
        return None
    line = event.opts["update"]
    return line if isinstance(line, str) else None


class _Client:
    def __init__(self, flow: str, run: str, tag: str = "") -> None:
        self.flow = flow
        self.run = run
        self.tag = tag  # a tag prefix, e.g. `sys.end` for run ends only
        self.frames: deque[_Frame] = deque()
        self.behind = 0  # bytes queued, not yet sent
        self.ready = asyncio.Event()
        self.dropped = asyncio.Event()

    def wants(self, event: Event) -> bool:
        ref = event.run_ref
        return ((not self.flow or ref.flow_ref.id == self.flow)
                and (not self.run or ref.run_id == self.run)
                and (not self.tag or event.tag.startswith(self.tag)))

    def put(self, event: Event, as_json: dict[str, Any], text: str) -> None:
        line = _plain_update(event)
        last = self.frames[-1] if self.frames else None
        if line is not None and last is not None and last.merge(as_json, line):
            self.behind += len(line) + 1
        else:
            self.frames.append(_Frame(as_json, text))
            self.behind += len(text)
        self.ready.set()
        if self.behind > BYTES_BEHIND:
            log.warning("websocket client %d MiB behind: dropped", BYTES_BEHIND >> 20)
            self.dropped.set()

    def put_relayed(self, text: str) -> None:
        """An event another host sent (`?cluster=1`), already encoded and filtered there."""
        event = is_json_line(text)
        if event is None:
            return
        self.frames.append(_Frame(event, text))
        self.behind += len(text)
        self.ready.set()
        if self.behind > BYTES_BEHIND:
            self.dropped.set()

    def take(self) -> str | None:
        if not self.frames:
            self.ready.clear()
            return None
        frame = self.frames.popleft()
        text = frame.encoded()
        self.behind -= frame.size
        return text


class EventStream:
    """Fans the host's events out to websocket clients. Publishing never waits on a client:
    each has a queue bounded in bytes where bursts of output lines coalesce, and one that
    falls too far behind is dropped."""

    def __init__(self, queue: EventQueue, sessions: Sessions,
                 cluster: Cluster | None = None) -> None:
        self.sessions = sessions
        self.cluster = cluster  # `?cluster=1` relays every host's events
        self.clients: set[_Client] = set()
        self._last: tuple[int, str] = (0, "")
        queue.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if not self.clients:
            return
        text = ""
        as_json: dict[str, Any] = {}
        for client in list(self.clients):
            if client.dropped.is_set() or not client.wants(event):
                continue
            if not text:  # encoded once for every client
                as_json = event.to_json()
                text = mask(json.dumps(as_json))  # secrets: *** (engine/secrets.py)
            client.put(event, as_json, text)

    async def endpoint(self, websocket: WebSocket) -> None:
        try:
            await require(websocket, self.sessions, READ)
        except RequestError as e:
            await websocket.send_denial_response(error_reply(e))
            return
        params = websocket.query_params
        client = _Client(params.get("flow", ""), params.get("run", ""), params.get("tag", ""))
        stopped = asyncio.Event()
        relays: list[asyncio.Task[None]] = []
        if self.cluster is not None and params.get("cluster", "") in ("1", "true", "yes"):
            from ..cluster.views import FOLLOW_READY, follow

            wanted = {k: params[k] for k in ("flow", "run", "tag") if params.get(k)}
            ready = [asyncio.Event() for _ in self.cluster.membership.others()]
            relays = [asyncio.create_task(follow(self.cluster.membership, peer, wanted,
                                                 client.put_relayed, stopped, connected))
                      for peer, connected in zip(self.cluster.membership.others(), ready,
                                                 strict=True)]
            # Open once every peer streams: from then on the client misses no host's event.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)),
                                       FOLLOW_READY)
        await websocket.accept()
        self.clients.add(client)
        writer = asyncio.create_task(self._write(websocket, client))
        reader = asyncio.create_task(self._read(websocket))
        dropped = asyncio.create_task(client.dropped.wait())
        try:
            await asyncio.wait({writer, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.set()
            for t in relays:
                t.cancel()
            await asyncio.gather(*relays, return_exceptions=True)
            self.clients.discard(client)
            for t in (writer, reader, dropped):
                t.cancel()
            await asyncio.gather(writer, reader, dropped, return_exceptions=True)
            if client.dropped.is_set():
                with contextlib.suppress(Exception):
                    # A client that stopped reading may never take the close frame either.
                    await asyncio.wait_for(websocket.close(1008, "too slow"), 1.0)

    async def _write(self, websocket: WebSocket, client: _Client) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                text = client.take()
                if text is None:
                    await client.ready.wait()
                    continue
                # While this send waits on a slow reader, later lines coalesce behind it.
                await websocket.send_text(text)

    async def _read(self, websocket: WebSocket) -> None:
        # What clients send is read and ignored (the web app says hello on open).
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
