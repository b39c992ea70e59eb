"""The websocket: authenticated before the upgrade, filtered, and a stalled client is harmless."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
import websockets
from flows import app, chain, one_task
from servertest import ADMIN, wait_until
from websockets.exceptions import InvalidStatus

RUNS = 100
CHAIN = 10


def chain_app() -> str:
    return app(chain("chain", CHAIN), store_type="local")


def test_websocket_needs_a_session(start_engine):
    engine = start_engine(chain_app())
    url = engine.url(scheme="ws") + "/ws"

    async def refused(headers: dict[str, str]) -> int:
        with pytest.raises(InvalidStatus) as e:
            async with websockets.connect(url, additional_headers=headers, open_timeout=10):
                pass
        return e.value.response.status_code

    assert asyncio.run(refused({})) == 401
    assert asyncio.run(refused({"X-Floe-Auth": "bad"})) == 401

    with httpx.Client(base_url=engine.url() + "/build/api") as c:
        token = c.post("/login", json={"User": "admin", "Password": ADMIN}).json()["Payload"][
            "Token"]
    cookie = {"Cookie": f"floe-sesh={token}"}

    async def cookie_ok() -> None:
        async with websockets.connect(url, additional_headers=cookie, origin=engine.url(),
                                      open_timeout=10) as ws:
            await ws.send("Message to send")  # read and ignored, as the web app's hello

    asyncio.run(cookie_ok())
    # A cookie alone is not enough: a page of another origin (or none) is refused.
    assert asyncio.run(refused(cookie)) == 403
    assert asyncio.run(refused({**cookie, "Origin": "http://evil.example"})) == 403


def _stalled_client(port: int) -> socket.socket:
    """A websocket client that completes the handshake and then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Version: 13\r\nX-Floe-Auth: {ADMIN}\r\n\r\n").encode())
    return sock


def test_a_client_that_never_reads_does_not_hold_up_a_burst(start_engine):
    engine = start_engine(chain_app())
    stalled = [_stalled_client(engine.ports["pub"]) for _ in range(3)]
    ended: set[str] = set()

    async def scenario() -> None:
        url = engine.url(scheme="ws") + "/ws?flow=chain"
        async with websockets.connect(url, additional_headers={"X-Floe-Auth": ADMIN},
                                      open_timeout=10, max_queue=None) as ws:
            async with httpx.AsyncClient(base_url=engine.url() + "/build/api",
                                         headers={"X-Floe-Auth": ADMIN}, timeout=30) as c:
                replies = await asyncio.gather(*(
                    c.post("/push/data", json={"Ref": {"ID": "chain", "Ver": 1},
                                               "Form": {"ID": "start"}})
                    for _ in range(RUNS)))
            assert all(r.status_code == 200 for r in replies)
            async with asyncio.timeout(120):
                while len(ended) < RUNS:
                    event = json.loads(await ws.recv())
                    if event["Tag"] == "sys.end.all":
                        assert event["Good"], event
                        ended.add(f"{event['RunRef']['Run']['HostID']}-"
                                  f"{event['RunRef']['Run']['ID']}")

    try:
        asyncio.run(scenario())
    finally:
        for s in stalled:
            s.close()
    assert len(ended) == RUNS
    with engine.client() as c:
        archive = wait_until(lambda: len(a := c.get("/flows/chain").json()["Payload"]["Runs"]
                                         ["Archive"]) == RUNS and a)
    assert {s["Status"] for s in archive} == {"good"}


def test_a_client_too_far_behind_is_dropped_not_waited_for():
    from floecli.engine.events import Event, EventQueue, FlowRef, RunRef
    from floecli.engine.server.ws import BYTES_BEHIND, EventStream, _Client

    async def scenario() -> None:
        queue = EventQueue()
        stream = EventStream(queue, sessions=None)  # type: ignore[arg-type]
        slow, other = _Client("", ""), _Client("g", "")
        stream.clients.update({slow, other})
        big = "x" * 4096
        for _ in range(BYTES_BEHIND // 4096 + 5):
            queue.publish(Event(RunRef(FlowRef("f", 1)), "sys.state", opts={"big": big}))
        assert slow.dropped.is_set()
        assert slow.behind > BYTES_BEHIND
        assert not other.frames and not other.dropped.is_set()  # filtered out

    asyncio.run(scenario())


def test_a_burst_of_output_lines_coalesces_for_a_reader_behind():
    from floecli.engine.events import Event, EventQueue, FlowRef, NodeRef, RunRef
    from floecli.engine.server.ws import EventStream, _Client

    async def scenario() -> None:
        queue = EventQueue()
        stream = EventStream(queue, sessions=None)  # type: ignore[arg-type]
        reader = _Client("", "")
        stream.clients.add(reader)
        for i in range(1200):  # one task printing 1,200 lines at once
            queue.publish(Event(RunRef(FlowRef("f", 1)), "sys.node.update",
                                source_node=NodeRef("task", "a"), opts={"update": f"l{i}"}))
        queue.publish(Event(RunRef(FlowRef("f", 1)), "sys.end.all", good=True))
        assert not reader.dropped.is_set()
        frames = [json.loads(t) for t in iter(reader.take, None)]
        assert len(frames) < 100
        lines = [ln for f in frames if f["Tag"] == "sys.node.update"
                 for ln in f["Opts"]["update"].split("\n")]
        assert lines == [f"l{i}" for i in range(1200)]
        assert frames[-1]["Tag"] == "sys.end.all"

    asyncio.run(scenario())


LINES = 100_000


def test_a_reader_on_loopback_keeps_every_line_of_a_chatty_task(start_engine):
    engine = start_engine(app(one_task("chatty", f"seq 1 {LINES}", task_id="talk"),
                              store_type="local"))
    lines: list[str] = []

    async def scenario() -> None:
        url = engine.url(scheme="ws") + "/ws?flow=chatty"
        async with websockets.connect(url, additional_headers={"X-Floe-Auth": ADMIN},
                                      open_timeout=10, max_queue=None) as ws:
            async with httpx.AsyncClient(base_url=engine.url() + "/build/api",
                                         headers={"X-Floe-Auth": ADMIN}, timeout=30) as c:
                r = await c.post("/push/data", json={"Ref": {"ID": "chatty", "Ver": 1},
                                                     "Form": {"ID": "start"}})
                assert r.status_code == 200
            async with asyncio.timeout(110):
                while True:
                    event = json.loads(await ws.recv())
                    if event["Tag"] == "sys.node.update":
                        lines.extend(event["Opts"]["update"].split("\n"))
                    elif event["Tag"] == "sys.end.all":
                        assert event["Good"], event
                        return

    asyncio.run(scenario())
    numbers = [ln for ln in lines if ln.isdigit()]
    assert numbers == [str(i) for i in range(1, LINES + 1)]
