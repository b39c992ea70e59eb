"""Connection limits uvicorn lacks: header and body timeouts, per-client and total caps, quiet
EMFILE."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0  # a request's line and headers must arrive within this
BODY_TIMEOUT = 30.0  # and its body (at most MAX_BODY, 4 MiB) within this after its head
KEEP_ALIVE = 5.0  # an idle kept-alive connection is closed after this
MAX_CONNECTIONS = 4096  # HTTP connections at once; beyond, the oldest header-waiting goes
MAX_WAITING_PER_CLIENT = 128  # connections of one address still sending their headers
GRACE = 1.0  # a connection waits this long for its head before it may be evicted for its address
MAX_HEADER_BYTES = 16 << 10  # request line and headers together
ACCEPT_LOG_EVERY = 10.0  # seconds between two logged accept() failures

_BUSY_BODY = b'{"Message": "too many connections, try again", "Payload": null}'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
         b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(_BUSY_BODY) + _BUSY_BODY)


class _Waiting:
    """Per listener: connections that have not sent a whole request head yet, oldest first,
    also by client address."""

    def __init__(self) -> None:
        self.all: OrderedDict[GuardedH11Protocol, float] = OrderedDict()
        self.by_host: dict[str, OrderedDict[GuardedH11Protocol, float]] = {}
        self.sweeps: set[str] = set()

    def add(self, p: GuardedH11Protocol) -> None:
        now = time.monotonic()
        self.all[p] = now
        self.by_host.setdefault(p.client_host, OrderedDict())[p] = now

    def remove(self, p: GuardedH11Protocol) -> None:
        self.all.pop(p, None)
        mine = self.by_host.get(p.client_host)
        if mine is not None:
            mine.pop(p, None)
            if not mine:
                del self.by_host[p.client_host]

    def enforce(self, host: str, loop: asyncio.AbstractEventLoop, cap: int) -> None:
        """Close the oldest of `host`'s connections past `cap` that have waited GRACE.
        Younger ones are spared: in a burst of connects, uvicorn sees every connection before
        it reads any of their (already sent) heads. A sweep comes back for them."""
        mine = self.by_host.get(host)
        excess = len(mine) - cap if mine else 0
        if excess <= 0 or mine is None:
            return
        now = time.monotonic()
        old = []
        # Oldest first, so the first young one ends the look: a flood of connects costs
        # each new connection what it evicts, not a walk over all the younger ones.
        for p, since in itertools.islice(mine.items(), excess):
            if now - since < GRACE:
                break
            old.append(p)
        for p in old:
            p._drop("too many connections from one address still sending headers")
        if len(old) < excess and host not in self.sweeps:
            self.sweeps.add(host)
            loop.call_later(GRACE, self._sweep, host, loop, cap)

    def _sweep(self, host: str, loop: asyncio.AbstractEventLoop, cap: int) -> None:
        self.sweeps.discard(host)
        self.enforce(host, loop, cap)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on request heads (slowloris) and eviction of
    the oldest header-waiting connections when one address or the listener holds too many,
    so a flood of half-sent requests never keeps others from being answered."""

    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT
    max_connections = MAX_CONNECTIONS
    max_waiting_per_client = MAX_WAITING_PER_CLIENT

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        if not hasattr(self.server_state, "floe_waiting"):
            self.server_state.floe_waiting = _Waiting()  # type: ignore[attr-defined]
        self._waiting: _Waiting = self.server_state.floe_waiting  # type: ignore[attr-defined]

    @property
    def client_host(self) -> str:
        return self.client[0] if self.client else ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_waiting()
        if len(self.connections) > self.max_connections and not self._evict(None):
            self._refuse()
            return
        self._waiting.enforce(self.client_host, self.loop, self.max_waiting_per_client)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._start_waiting()  # a (next) request begun but its head not complete
        else:
            self._stop_waiting()
        if state is h11.SEND_BODY:
            # One deadline for the whole body, not per chunk: a body sent a byte at a time
            # would otherwise hold its connection (and its handler) forever.
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.body_timeout, self._body_late)
        else:
            self._stop_body_timer()

    def on_response_complete(self) -> None:
        if self.cycle is not None and self.conn.their_state is h11.SEND_BODY:
            # Answered before its body was read (401, 413, 503): what uvicorn buffered of the
            # body is never handed to anyone now, and the rest is discarded as it arrives. Let
            # it go, rather than hold up to 64 KiB per connection until the client gives up.
            self.cycle.body = bytearray()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        self._stop_body_timer()
        super().connection_lost(exc)

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_late(self) -> None:
        self._body_timer = None
        if self.conn.their_state is h11.SEND_BODY and self.transport.get_protocol() is self:
            self._drop("request body not received in time")

    def _start_waiting(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._timed_out)
            self._waiting.add(self)

    def _stop_waiting(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._waiting.remove(self)

    def _timed_out(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and self.transport.get_protocol() is self:
            self._drop("request head not received in time")
        else:
            self._waiting.remove(self)

    def _evict(self, keep: GuardedH11Protocol | None) -> bool:
        for victim in self._waiting.all:
            if victim is not self and victim is not keep:
                victim._drop("connection limit reached")
                return True
        return False

    def _drop(self, why: str) -> None:
        log.debug("closing a connection from %s: %s", self.client_host, why)
        self._stop_waiting()
        self.transport.close()

    def _refuse(self) -> None:
        self._stop_waiting()
        with contextlib.suppress(Exception):
            self.transport.write(_BUSY)
        self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """What Listener passes to uvicorn.Config besides the app, sockets and TLS files."""
    return {"http": GuardedH11Protocol, "timeout_keep_alive": KEEP_ALIVE,
            "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "ws_max_size": 1 << 20,
            "backlog": 2048}


class AcceptErrorFilter:
    """Wraps the loop's exception handler so that `accept()` failing for lack of file
    descriptors is logged once per ACCEPT_LOG_EVERY seconds with a count, not per attempt."""

    def __init__(self, loop: asyncio.AbstractEventLoop, every: float = ACCEPT_LOG_EVERY) -> None:
        self.every = every
        self.previous = loop.get_exception_handler()
        self.suppressed = 0
        self._last = -every

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "socket.accept() out of system resource" in str(context.get("message", "")):
            now = time.monotonic()
            if now - self._last < self.every:
                self.suppressed += 1
                return
            self._last = now
            exc = context.get("exception")
            log.error("cannot accept connections: %s (%d more like this not logged)",
                      exc, self.suppressed)
            self.suppressed = 0
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    if not isinstance(loop.get_exception_handler(), AcceptErrorFilter):
        loop.set_exception_handler(AcceptErrorFilter(loop))


def raise_open_file_limit() -> int:
    """Kept for callers of this module; the portable version is engine/platform.py's."""
    from ..platform import raise_open_file_limit

    return raise_open_file_limit()
