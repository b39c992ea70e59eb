"""Benchmark (issue 10): figures behind docs/reliability.md, from real components.

Prints one JSON line:
  login_known_ms / login_unknown_ms   median failed login of a known and an unknown user
                                      (in-process Sessions, real scrypt); should be close
  keepalive_get_ms                    median GET /flows on one kept-alive connection
  fresh_get_ms                        median GET /flows on a new connection each
  slowloris_conns                     half-sent requests held open against the engine
  during_flood_get_ms_p50 / _max     GET /flows on fresh connections, one after another, while
                                      the flood's connections are being opened
  slowloris_get_ms_p50 / _max         GET /flows on fresh connections meanwhile (target max
                                      <= 100 ms); _first is the one queued behind the flood's
                                      accept backlog, _max_held the worst of the others
  bomb_refused_ms                     loading a 342-byte billion-laughs document to its
                                      ConfigError
Bounded: fixed counts, and the slowloris phase gives up after LIMIT_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "engine" / "server"), str(ROOT / "tests")]

from servertest import ADMIN, ONE_FLOW_APP, launch  # noqa: E402

from floecli.engine.config import ConfigError, parse_app  # noqa: E402
from floecli.engine.errors import RequestError  # noqa: E402
from floecli.engine.flow import User  # noqa: E402
from floecli.engine.server.auth import Sessions  # noqa: E402
from floecli.engine.server.passwords import hash_password  # noqa: E402
from floecli.engine.store.memory import MemoryStore  # noqa: E402

SLOWLORIS = 2000
GETS = 50
LOGINS = 15
LIMIT_S = 60.0
LAUGHS = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p != '_' else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip("_abcdefgh", "abcdefghi", strict=True))


async def login_ms(user: str) -> float:
    sessions = Sessions(MemoryStore(), [User("ann", "admin", hash_password("s3cret"))])
    times = []
    for i in range(LOGINS):
        t = time.perf_counter()
        with contextlib.suppress(RequestError):
            await sessions.login(user, "wrong", f"10.0.0.{i}")
        times.append((time.perf_counter() - t) * 1000)
        sessions.by_user.succeeded(f"user:{user}")  # measure the hash, not the backoff
    return statistics.median(times)


def fresh_get(port: int) -> None:
    # A raw socket: an httpx.Client per request would time its own SSL context set-up.
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(f"GET /build/api/flows HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Floe-Auth: {ADMIN}"
                  "\r\nConnection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass


def probe(port: int, flooding: threading.Event, out: list[float]) -> None:
    """Fresh-connection GETs, one after the other, while the flood's connects go on."""
    while flooding.is_set() and len(out) < GETS * 10:
        t = time.perf_counter()
        fresh_get(port)
        out.append((time.perf_counter() - t) * 1000)


def gets_ms(url: str, port: int, fresh: bool) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers={"X-Floe-Auth": ADMIN}, timeout=10) as kept:
        for _ in range(GETS):
            t = time.perf_counter()
            if fresh:
                fresh_get(port)
            else:
                kept.get("/flows")
            out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    figures: dict[str, object] = {}
    figures["login_known_ms"] = round(asyncio.run(login_ms("ann")), 1)
    figures["login_unknown_ms"] = round(asyncio.run(login_ms("nobody")), 1)
    t = time.perf_counter()
    try:
        parse_app(LAUGHS, "bomb.yml")
    except ConfigError:
        figures["bomb_refused_ms"] = round((time.perf_counter() - t) * 1000, 1)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        engine = launch(Path(tmp), ONE_FLOW_APP, "-header_timeout=120")
        url = engine.url() + "/build/api"
        try:
            port = engine.ports["pub"]
            figures["keepalive_get_ms"] = round(statistics.median(gets_ms(url, port, False)),
                                                2)
            figures["fresh_get_ms"] = round(statistics.median(gets_ms(url, port, True)), 2)
            socks = []
            deadline = time.monotonic() + LIMIT_S
            flooding = threading.Event()
            flooding.set()
            during: list[float] = []
            prober = threading.Thread(target=probe, args=(port, flooding, during))
            prober.start()
            while len(socks) < SLOWLORIS and time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    s = socket.create_connection(("127.0.0.1", engine.ports["pub"]), 10)
                    s.sendall(b"GET /build/api/flows HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    socks.append(s)
            flooding.clear()
            prober.join()
            figures["slowloris_conns"] = len(socks)
            figures["during_flood_gets"] = len(during)
            figures["during_flood_get_ms_p50"] = round(statistics.median(during), 2)
            figures["during_flood_get_ms_max"] = round(max(during), 2)
            times = gets_ms(url, port, True)
            figures["slowloris_get_ms_p50"] = round(statistics.median(times), 2)
            figures["slowloris_get_ms_max"] = round(max(times), 2)
            # The first request queues behind the flood's accept backlog; the rest are
            # answered while the 2,000 are held (or evicted).
            figures["slowloris_get_ms_first"] = round(times[0], 2)
            figures["slowloris_get_ms_max_held"] = round(max(times[1:]), 2)
            for s in socks:
                s.close()
        finally:
            engine.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
