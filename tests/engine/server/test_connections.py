"""Connections are bounded: half-sent requests time out and are capped per address and in
total, the open-file limit is raised, accept errors are not logged per attempt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import time
from pathlib import Path

import httpx
from servertest import ADMIN, ONE_FLOW_APP, wait_until
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from floecli.engine.server.connguard import (
    MAX_WAITING_PER_CLIENT,
    AcceptErrorFilter,
    GuardedH11Protocol,
)
from floecli.engine.server.listeners import Listener

SLOWLORIS = 2000
PARTIAL = b"GET /build/api/flows HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _raise_our_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))


def _half_sent(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(PARTIAL)
    s.setblocking(False)  # so _closed_by_server can peek without waiting
    return s


def _closed_by_server(socks: list[socket.socket]) -> int:
    closed = 0
    for s in socks:
        try:
            closed += s.recv(1024, socket.MSG_PEEK) == b""
        except BlockingIOError:
            pass  # still open, nothing to read
        except OSError:
            closed += 1  # reset
    return closed


def test_a_slowloris_leaves_the_api_answering(start_engine):
    _raise_our_limit(SLOWLORIS + 500)
    # A long header timeout: what protects the API here is the per-address cap.
    engine = start_engine(ONE_FLOW_APP, "-header_timeout=120")
    port = engine.ports["pub"]
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 90
        while len(socks) < SLOWLORIS and time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # a reset: the server already dropped it
                socks.append(_half_sent(port))
        assert len(socks) >= SLOWLORIS * 0.9
        with httpx.Client(base_url=engine.url() + "/build/api",
                          headers={"X-Floe-Auth": ADMIN}, timeout=10) as c:
            for _ in range(20):
                assert c.get("/flows").status_code == 200
            for _ in range(5):  # a fresh connection each, as a new browser tab
                with httpx.Client(base_url=engine.url() + "/build/api", timeout=10) as fresh:
                    assert fresh.get("/flows", headers={"X-Floe-Auth": ADMIN}).status_code == 200
        wait_until(lambda: _closed_by_server(socks) >= len(socks) - MAX_WAITING_PER_CLIENT,
                   60, "the engine to drop the oldest half-sent requests")
    finally:
        for s in socks:
            s.close()
    assert len(engine.stderr) < 20_000  # no line per connection


def test_a_half_sent_request_is_closed_after_the_header_timeout(start_engine):
    engine = start_engine(ONE_FLOW_APP, "-header_timeout=1")
    s = _half_sent(engine.ports["pub"])
    s.setblocking(True)
    s.settimeout(30)
    try:
        assert s.recv(1024) == b""  # closed by the engine, bounded by the timeout above
    finally:
        s.close()
    with engine.client() as c:
        assert c.get("/flows").status_code == 200


def test_a_body_sent_too_slowly_is_closed_after_the_body_timeout(start_engine):
    engine = start_engine(ONE_FLOW_APP, "-body_timeout=1")
    s = socket.create_connection(("127.0.0.1", engine.ports["pub"]), timeout=30)
    try:
        # A whole head, then 10 of the 100 body bytes it announces, and nothing more.
        s.sendall(f"POST /build/api/push/data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"X-Floe-Auth: {ADMIN}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: 100\r\n\r\n{{\"Ref\": {{".encode())
        assert s.recv(1024) == b""  # closed by the engine, bounded by the timeout above
    finally:
        s.close()
    with engine.client() as c:
        assert c.get("/flows").status_code == 200
    assert "Traceback" not in engine.stderr and "failed" not in engine.stderr


def test_the_open_file_limit_is_raised_at_start(start_engine):
    engine = start_engine(ONE_FLOW_APP)
    limits = Path(f"/proc/{engine.proc.pid}/limits").read_text()
    line = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard


def _app() -> Starlette:
    async def ok(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", ok)])


async def test_past_the_connection_cap_the_oldest_half_sent_goes_first(monkeypatch):
    monkeypatch.setattr(GuardedH11Protocol, "max_connections", 10)
    listener = Listener("pub", "127.0.0.1:0", _app())
    listener.open()
    assert listener.sock is not None and listener.sock.proto == socket.IPPROTO_TCP  # NODELAY
    await listener.start()
    try:
        slow = []
        for _ in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            writer.write(PARTIAL)
            await writer.drain()
            slow.append((reader, writer))
        async with httpx.AsyncClient(base_url=listener.url, timeout=10) as c:
            assert (await c.get("/")).text == "ok"
        async with asyncio.timeout(10):
            assert await slow[0][0].read() == b""  # the oldest was closed to make room
        for _, writer in slow:
            writer.close()
    finally:
        await listener.stop()


async def test_accept_errors_are_logged_once_in_a_while(caplog):
    loop = asyncio.get_running_loop()
    handler = AcceptErrorFilter(loop, every=3600)
    with caplog.at_level(logging.ERROR, logger="floecli.engine.server.connguard"):
        for _ in range(10_000):
            handler(loop, {"message": "socket.accept() out of system resource",
                           "exception": OSError(24, "Too many open files")})
    assert len(caplog.records) == 1 and handler.suppressed == 9_999
