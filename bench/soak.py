"""Benchmark (reliability): a soak of 2,000 runs of a 10-task flow with a websocket client
connected the whole time.

Prints one JSON line:
  runs, chain             how many runs of how many chained `exec true`
  soak_s                  wall time of the whole soak
  rss_at_500_mb, rss_at_2000_mb, rss_growth_mb
                          the engine's resident memory after run 500 and after the last one
                          ended, and the growth between (target < 50 MB)
  trigger_to_start_p99_ms p99 of push/data sent to the run's first task start, as the
                          websocket reports it (target < 100 ms)
Bounded: RUNS runs, at most IN_FLIGHT at once, gives up after LIMIT_S.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import websockets
from engine_proc import ADMIN, engine_running, percentile, rss_mb

sys.path.insert(0, str(Path(__file__).parent))
from hub_burst import chain_app

RUNS = 2000
IN_FLIGHT = 20
LIMIT_S = 1800.0


async def soak(pid: int, port: int) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}/build/api"
    pushed: dict[str, float] = {}
    started: dict[str, float] = {}
    ended: set[str] = set()
    rss: dict[int, float] = {}
    slots = asyncio.Semaphore(IN_FLIGHT)
    body = {"Ref": {"ID": "chain", "Ver": 1}, "Form": {"ID": "start"}}
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws",
                                  additional_headers={"X-Floe-Auth": ADMIN},
                                  max_queue=None) as ws, httpx.AsyncClient(
            base_url=base, headers={"X-Floe-Auth": ADMIN}, timeout=60) as c:
        done = asyncio.Event()

        async def watch() -> None:
            while len(ended) < RUNS:
                event = json.loads(await ws.recv())
                run = f'{event["RunRef"]["Run"]["HostID"]}-{event["RunRef"]["Run"]["ID"]}'
                if event["Tag"] == "sys.node.start" and run not in started:
                    started[run] = time.perf_counter()
                elif event["Tag"] == "sys.end.all" and run in pushed and run not in ended:
                    ended.add(run)
                    slots.release()
                    if len(ended) in (500, RUNS):
                        rss[len(ended)] = rss_mb(pid)
            done.set()

        watcher = asyncio.ensure_future(watch())
        t0 = time.perf_counter()
        async with asyncio.timeout(LIMIT_S):
            for _ in range(RUNS):
                await slots.acquire()
                t = time.perf_counter()
                r = await c.post("/push/data", json=body)
                pushed[r.json()["Payload"]["Runs"][0]] = t
            await done.wait()
        await watcher
    latencies = [started[r] - pushed[r] for r in pushed if r in started]
    return {"soak_s": round(time.perf_counter() - t0, 1),
            "rss_at_500_mb": round(rss[500], 1), "rss_at_2000_mb": round(rss[RUNS], 1),
            "rss_growth_mb": round(rss[RUNS] - rss[500], 1),
            "trigger_to_start_p99_ms": round(percentile(latencies, 0.99) * 1000, 1)}


def main() -> None:
    with engine_running(chain_app("local"), "floe-soak-") as (proc, port):
        figures = asyncio.run(soak(proc.pid, port))
    print(json.dumps({"bench": "soak", "runs": RUNS, "chain": 10, **figures}))


if __name__ == "__main__":
    main()
