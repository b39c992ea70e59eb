"""Benchmark (issue 4): the REST API of a real engine process, driven over HTTP.

Prints one JSON line:
  flow_get_rps        requests/s of `GET flows/:id` on a flow with 1000 archived runs
                      (CONCURRENCY clients, REQUESTS requests; target >= 500)
  flow_get_kb         size of one such reply (uncompressed JSON)
  http_burst_s        100 runs of 10 chained `exec true`, started by 100 POST push/data at
                      once, until the websocket reported the last sys.end.all
  inprocess_burst_s   the same burst started in-process (bench/hub_burst.py's measure)
  http_burst_ratio    http_burst_s / inprocess_burst_s (target <= 1.2)
  push_during_burst_median_ms  median latency of 100 sequential POST push/data sent while
                      the burst runs (target <= 2 ms); _total_s is their sum
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

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).parent))

from engine_proc import ADMIN, start_engine
from hub_burst import CHAIN, RUNS, chain_app, measure

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
    url = f"http://127.0.0.1:{port}/build/api/flows/chain"
    headers = {"X-Floe-Auth": ADMIN, "Accept-Encoding": "identity"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as c:
        first = await c.get(url)
        assert len(first.json()["Payload"]["Runs"]["Archive"]) == ARCHIVED
        left = REQUESTS

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                r = await c.get(url)
                r.raise_for_status()

        t = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))),
                               LIMIT_S)
        return REQUESTS / (time.perf_counter() - t), len(first.content) / 1024


async def http_burst(port: int) -> tuple[float, list[float]]:
    """The burst over the API, then (while it runs) SEQUENTIAL_PUSHES one-at-a-time
    push/data: the burst's wall time and each push's latency."""
    base = f"http://127.0.0.1:{port}/build/api"
    ended: set[str] = set()
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws?flow=chain&tag=sys.end",
                                  additional_headers={"X-Floe-Auth": ADMIN},
                                  max_queue=None) as ws, httpx.AsyncClient(
            base_url=base, headers={"X-Floe-Auth": ADMIN}, timeout=60,
            limits=httpx.Limits(max_connections=RUNS)) as c:
        body = {"Ref": {"ID": "chain", "Ver": 1}, "Form": {"ID": "start"}}
        t = time.perf_counter()
        await asyncio.gather(*(c.post("/push/data", json=body) for _ in range(RUNS)))

        async def watch() -> float:
            first_burst_end = 0.0  # when RUNS runs had ended: the burst's own wall time
            async with asyncio.timeout(LIMIT_S):
                while len(ended) < RUNS + SEQUENTIAL_PUSHES:
                    event = json.loads(await ws.recv())
                    if event["Tag"] == "sys.end.all":
                        ended.add(str(event["RunRef"]["Run"]))
                        if len(ended) == RUNS:
                            first_burst_end = time.perf_counter()
            return first_burst_end

        watcher = asyncio.ensure_future(watch())
        pushes = []
        for _ in range(SEQUENTIAL_PUSHES):
            p = time.perf_counter()
            (await c.post("/push/data", json=body)).raise_for_status()
            pushes.append(time.perf_counter() - p)
        return await watcher - t, pushes


def main() -> None:
    app_text = chain_app("local")
    with tempfile.TemporaryDirectory(prefix="floe-api-bench-") as d:
        tmp = Path(d)
        conf = tmp / "app.yml"
        conf.write_text(app_text)
        root = tmp / "root"
        fill_archive(root, app_text)
        proc, port = start_engine(tmp, conf, root)
        try:
            rps, kb = asyncio.run(flow_get_rps(port))
            burst, pushes = asyncio.run(http_burst(port))
        finally:
            proc.terminate()
            proc.wait(30)
        inproc = asyncio.run(measure(tmp / "inproc", "local"))["burst_s"]
    print(json.dumps({"bench": "api", "archived": ARCHIVED, "requests": REQUESTS,
                      "concurrency": CONCURRENCY, "flow_get_rps": round(rps, 1),
                      "flow_get_kb": round(kb, 1), "runs": RUNS, "chain": CHAIN,
                      "http_burst_s": round(burst, 3), "inprocess_burst_s": inproc,
                      "http_burst_ratio": round(burst / inproc, 2),
                      "push_during_burst_median_ms": round(statistics.median(pushes) * 1e3, 2),
                      "push_during_burst_total_s": round(sum(pushes), 3)}))


if __name__ == "__main__":
    main()
