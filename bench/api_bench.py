"""Benchmark (issue 4): the REST API of a real engine process, driven over HTTP.

Prints one JSON line:
  flow_get_rps        requests/s of `GET flows/:id` on a flow with 1000 archived runs
                      (CONCURRENCY clients, REQUESTS requests; target >= 500)
  flow_get_kb         size of one such reply (uncompressed JSON)
  http_burst_s        100 runs of 10 chained `exec true`, started by 100 POST push/data at
                      once (each on its own connection, written by hand), until the
                      websocket reported the end of each of those runs
  inprocess_burst_s   the same burst started in-process (bench/hub_burst.py's measure)
  http_burst_ratio    http_burst_s / inprocess_burst_s (target <= 1.2)
  http_burst_to_bash  http_burst_s / bash_1000_true_s, a bash loop spawning the same 1000
                      /bin/true (target <= 1.7)
  push_during_burst_median_ms  median latency of sequential POST push/data (at most 100),
                      each starting a run of a one-task flow, sent on one kept-alive
                      connection while a second such burst runs (target <= 2 ms);
                      pushes_during_burst counts them, _total_s is their sum
  fresh_pushes_during_burst_total_s  the same with a plain client: each push/data on a
                      connection of its own (connect, request, reply, close), one after
                      another while a third burst runs; the sum of their times (target
                      <= 0.08 s for 100), and fresh_pushes_during_burst counts them
  api_step_overhead_ms per step of a 40-step chain of `exec true` started by POST push/data
                      and ended as the websocket tells: its wall time minus 40 bare spawns
                      of /bin/true, divided by 40; the median of 5 (target <= 1.0 ms)
Bounded: REQUESTS requests, 100 runs, and each phase gives up after LIMIT_S.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).parent))

from engine_proc import ADMIN, start_engine
from hub_burst import CHAIN, RUNS, SEQUENTIAL, bare_spawns, bash_baseline, chain_app, measure

from floecli.engine import eventloop
from floecli.engine.config.loader import parse_app
from floecli.engine.contributions.registry import Registry
from floecli.engine.events import FlowRef, HostedID, RunRef
from floecli.engine.runs import ExecNode, RunRecord
from floecli.engine.store import make_store

ARCHIVED = 1000
REQUESTS = 3000
CONCURRENCY = 16
SEQUENTIAL_PUSHES = 100
LIMIT_S = 300.0


def fill_archive(root: Path, app_text: str, archived: int = 0, chain: int = CHAIN) -> None:
    """`archived` (ARCHIVED) ended runs of `chain`, written straight to the store the engine
    will open."""
    archived = archived or ARCHIVED
    config = parse_app(app_text, "bench.yml", Registry.discover().catalog())
    flow = config.flows[0]
    store = make_store("local", root)
    store.open()
    t0 = datetime.now(UTC) - timedelta(days=1)
    for n in range(1, archived + 1):
        start = t0 + timedelta(seconds=n)
        record = RunRecord(RunRef(FlowRef("chain", 1), HostedID("h1", n), "h1"), flow,
                           start_time=start, end_time=start + timedelta(seconds=1),
                           ended=True, good=True,
                           exec_nodes={f"t{i}": ExecNode(start, start, True, 0)
                                       for i in range(chain)})
        store.finish(record)
    asyncio.run(store.close())


async def flow_get_rps(port: int) -> tuple[float, float]:
    """CONCURRENCY kept-alive connections, written by hand, share REQUESTS `GET flows/:id`:
    requests/s, and one reply's size. (httpx spent five times the engine's CPU reading the
    replies: what was measured was the client.)"""
    request = (f"GET /build/api/flows/chain HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"X-Floe-Auth: {ADMIN}\r\nAccept-Encoding: identity\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        body = await exchange(reader, writer, request)
    finally:
        writer.close()
    assert len(json.loads(body)["Payload"]["Runs"]["Archive"]) == ARCHIVED
    size = len(body)
    left = REQUESTS

    async def worker() -> None:
        nonlocal left
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left > 0:
                left -= 1
                await exchange(reader, writer, request)
        finally:
            writer.close()

    t = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))), LIMIT_S)
    return REQUESTS / (time.perf_counter() - t), size / 1024


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: bytes) -> bytes:
    """One request on a kept-alive connection: its reply's body (a 200, or AssertionError)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return await reader.readexactly(length)


PUSH_BODY = {"Ref": {"ID": "chain", "Ver": 1}, "Form": {"ID": "start"}}
PING_BODY = {"Ref": {"ID": "ping", "Ver": 1}, "Form": {"ID": "start"}}
SEQ_BODY = {"Ref": {"ID": "seq", "Ver": 1}, "Form": {"ID": "start"}}


def bench_app() -> str:
    """The 10-step `chain` flow, `ping` (one `exec true`) for the pushes under load, and the
    40-step `seq`."""
    ping = chain_app("local", "ping", 1).split("flows:\n", 1)[1]
    seq = chain_app("local", "seq", SEQUENTIAL).split("flows:\n", 1)[1]
    return chain_app("local") + ping + seq


def push_request(body: dict[str, object]) -> bytes:
    """A POST push/data written by hand: what is timed is the engine's reply, not an HTTP
    client library's own work on a machine the burst keeps busy."""
    data = json.dumps(body).encode()
    return (f"POST /build/api/push/data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Floe-Auth: {ADMIN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def push(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               request: bytes) -> list[str]:
    """Send one push/data on a kept-alive connection: the runs it started."""
    return json.loads(await exchange(reader, writer, request))["Payload"]["Runs"]


async def ping_while(port: int, running: asyncio.Future[float], pushes: int
                     ) -> tuple[list[float], set[str]]:
    """Up to `pushes` one-at-a-time push/data of `ping` while `running` is not done, on one
    kept-alive connection."""
    request = push_request(PING_BODY)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = []
    runs: set[str] = set()
    try:
        while len(latencies) < pushes and not running.done():
            t = time.perf_counter()
            started = await push(reader, writer, request)
            latencies.append(time.perf_counter() - t)
            runs.update(started)
    finally:
        writer.close()
    return latencies, runs


async def fresh_pings_while(port: int, running: asyncio.Future[float], pushes: int
                            ) -> tuple[list[float], set[str]]:
    """Up to `pushes` push/data of `ping`, one after another while `running` is not done,
    each on a connection of its own, as a plain client (curl, a webhook) sends them: each
    one's time from connecting to the reply."""
    request = push_request(PING_BODY)
    latencies: list[float] = []
    runs: set[str] = set()
    while len(latencies) < pushes and not running.done():
        t = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            started = await push(reader, writer, request)
        finally:
            writer.close()
        latencies.append(time.perf_counter() - t)
        runs.update(started)
    return latencies, runs


async def step_overhead(port: int) -> float:
    """api_step_overhead_ms: see the module's docstring."""
    request = push_request(SEQ_BODY)
    walls = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?tag=sys.end",
                                  additional_headers={"X-Floe-Auth": ADMIN},
                                  max_queue=None) as ws:
        for _ in range(5):
            t = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                (run,) = await push(reader, writer, request)
            finally:
                writer.close()
            async with asyncio.timeout(LIMIT_S):
                while True:
                    event = json.loads(await ws.recv())
                    ref = event["RunRef"]["Run"]
                    if event["Tag"] == "sys.end.all" and f"{ref['HostID']}-{ref['ID']}" == run:
                        break
            walls.append(time.perf_counter() - t)
    return round((statistics.median(walls) - bare_spawns()) / SEQUENTIAL * 1000, 2)


async def push_at_once(port: int, count: int) -> set[str]:
    """`count` push/data of `chain` at once, each on a connection of its own: the runs."""
    request = push_request(PUSH_BODY)

    async def one() -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await push(reader, writer, request)
        finally:
            writer.close()

    return {r for started in await asyncio.gather(*(one() for _ in range(count)))
            for r in started}


async def http_burst(port: int, *, pushes: int = 0, fresh: bool = False
                     ) -> tuple[float, list[float]]:
    """RUNS POST push/data of `chain` at once, until the websocket reported the end of each
    run they started: the burst's wall time. With `pushes`, that many one-at-a-time
    push/data of `ping` are sent while the burst runs (`fresh`: each on a connection of its
    own): their latencies."""
    ended: set[str] = set()
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?tag=sys.end",
                                  additional_headers={"X-Floe-Auth": ADMIN},
                                  max_queue=None) as ws:

        async def watch(runs: set[str]) -> float:
            async with asyncio.timeout(LIMIT_S):
                while not runs <= ended:
                    event = json.loads(await ws.recv())
                    if event["Tag"] == "sys.end.all":
                        run = event["RunRef"]["Run"]
                        ended.add(f"{run['HostID']}-{run['ID']}")
            return time.perf_counter()

        t = time.perf_counter()
        burst = await push_at_once(port, RUNS)
        assert len(burst) == RUNS, "every push/data starts one run"
        watcher = asyncio.ensure_future(watch(burst))
        pinger = fresh_pings_while if fresh else ping_while
        latencies, pinged = await pinger(port, watcher, pushes)
        burst_end = await watcher
        await watch(pinged)  # nothing is left running when the engine is stopped
        return burst_end - t, latencies


def main() -> None:
    app_text = bench_app()
    with tempfile.TemporaryDirectory(prefix="floe-api-bench-") as d:
        tmp = Path(d)
        conf = tmp / "app.yml"
        conf.write_text(app_text)
        root = tmp / "root"
        fill_archive(root, app_text)
        proc, port = start_engine(tmp, conf, root)
        try:
            rps, kb = asyncio.run(flow_get_rps(port))
            burst, _ = asyncio.run(http_burst(port))
            _, pushes = asyncio.run(http_burst(port, pushes=SEQUENTIAL_PUSHES))
            _, fresh = asyncio.run(http_burst(port, pushes=SEQUENTIAL_PUSHES, fresh=True))
            per_step = asyncio.run(step_overhead(port))
        finally:
            proc.terminate()
            proc.wait(30)
        inproc = eventloop.run(measure(tmp / "inproc", "local"))["burst_s"]  # the engine's loop
    bash = bash_baseline()
    print(json.dumps({"bench": "api", "archived": ARCHIVED, "requests": REQUESTS,
                      "concurrency": CONCURRENCY, "flow_get_rps": round(rps, 1),
                      "flow_get_kb": round(kb, 1), "runs": RUNS, "chain": CHAIN,
                      "http_burst_s": round(burst, 3), "inprocess_burst_s": inproc,
                      "http_burst_ratio": round(burst / inproc, 2),
                      "bash_1000_true_s": round(bash, 3),
                      "http_burst_to_bash": round(burst / bash, 2),
                      "pushes_during_burst": len(pushes),
                      "push_during_burst_median_ms": round(statistics.median(pushes) * 1e3, 2),
                      "push_during_burst_total_s": round(sum(pushes), 3),
                      "fresh_pushes_during_burst": len(fresh),
                      "fresh_pushes_during_burst_total_s": round(sum(fresh), 3),
                      "api_step_overhead_ms": per_step}))


if __name__ == "__main__":
    main()
