"""The websocket at `/ws`: every event of this host as §2.1 JSON, one text frame each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import RequestError
from ..events import Event, EventQueue
from .auth import Sessions, require
from .envelope import error_reply

log = logging.getLogger(__name__)

CLIENT_QUEUE = 1000  # events a client may fall behind by before it is dropped


class _Client:
    def __init__(self, flow: str, run: str, tag: str = "") -> None:
        self.flow = flow
        self.run = run
        self.tag = tag  # a tag prefix, e.g. `sys.end` for run ends only
        self.queue: asyncio.Queue[str] = asyncio.Queue(CLIENT_QUEUE)
        self.dropped = asyncio.Event()

    def wants(self, event: Event) -> bool:
        ref = event.run_ref
        return ((not self.flow or ref.flow_ref.id == self.flow)
                and (not self.run or ref.run_id == self.run)
                and (not self.tag or event.tag.startswith(self.tag)))


class EventStream:
    """Fans the host's events out to websocket clients. Publishing never waits on a client:
    each has a bounded queue, and one that falls too far behind is dropped."""

    def __init__(self, queue: EventQueue, sessions: Sessions) -> None:
        self.sessions = sessions
        self.clients: set[_Client] = set()
        self._last: tuple[int, str] = (0, "")
        queue.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if not self.clients:
            return
        text = ""
        for client in list(self.clients):
            if client.dropped.is_set() or not client.wants(event):
                continue
            if not text:  # encoded once for every client
                text = json.dumps(event.to_json())
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                log.warning("websocket client %d events behind: dropped", CLIENT_QUEUE)
                client.dropped.set()

    async def endpoint(self, websocket: WebSocket) -> None:
        try:
            await require(websocket, self.sessions)
        except RequestError as e:
            await websocket.send_denial_response(error_reply(e))
            return
        params = websocket.query_params
        client = _Client(params.get("flow", ""), params.get("run", ""), params.get("tag", ""))
        await websocket.accept()
        self.clients.add(client)
        writer = asyncio.create_task(self._write(websocket, client))
        reader = asyncio.create_task(self._read(websocket))
        dropped = asyncio.create_task(client.dropped.wait())
        try:
            await asyncio.wait({writer, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
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
                await websocket.send_text(await client.queue.get())

    async def _read(self, websocket: WebSocket) -> None:
        # What clients send is read and ignored (the web app says hello on open).
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
