"""The websocket: authenticated before the upgrade, filtered, and a stalled client is harmless."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
import websockets
from servertest import ADMIN, wait_until
from websockets.exceptions import InvalidStatus

RUNS = 100
CHAIN = 10


def chain_app() -> str:
    tasks = [f"      - {{id: t{i}, listen: {'trigger.good' if i == 0 else f'task.t{i - 1}.good'}"
             f", type: exec, opts: {{cmd: \"true\"}}}}" for i in range(CHAIN)]
    return ("common: {store-type: local}\nflows:\n  - id: chain\n    ver: 1\n"
            "    triggers: [{id: start, type: data}]\n    tasks:\n" + "\n".join(tasks) + "\n")


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
    from floecli.engine.server.ws import CLIENT_QUEUE, EventStream, _Client

    async def scenario() -> None:
        queue = EventQueue()
        stream = EventStream(queue, sessions=None)  # type: ignore[arg-type]
        slow, other = _Client("", ""), _Client("g", "")
        stream.clients.update({slow, other})
        for _ in range(CLIENT_QUEUE + 5):
            queue.publish(Event(RunRef(FlowRef("f", 1)), "sys.state"))
        assert slow.dropped.is_set()
        assert slow.queue.qsize() == CLIENT_QUEUE
        assert other.queue.qsize() == 0 and not other.dropped.is_set()  # filtered out

    asyncio.run(scenario())
