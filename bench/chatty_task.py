"""Benchmark (reliability): one task printing 200 MB (`yes | head -c 200000000`) while a
client polls the API.

Prints one JSON line:
  output_mb         what the task printed
  task_s            from push/data to the run's end
  max_rss_mb        the engine process's peak resident memory while it ran (target < 150)
  api_p99_ms        p99 latency of GET flows/:id/runs/:run (the run view) polled every
                    20 ms meanwhile (target < 100)
  api_requests      how many of those requests
Bounded: one run, gives up after LIMIT_S.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from engine_proc import ADMIN, engine_running, percentile, rss_mb

OUTPUT_BYTES = 200_000_000
LIMIT_S = 600.0
APP = f"""\
common: {{store-type: local}}
flows:
  - id: chatty
    ver: 1
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: talk, listen: trigger.good, type: exec,
         opts: {{shell: "yes | head -c {OUTPUT_BYTES}"}}}}
"""


async def measure(pid: int, port: int) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}/build/api"
    async with httpx.AsyncClient(base_url=base, headers={"X-Floe-Auth": ADMIN},
                                 timeout=60) as c:
        t0 = time.perf_counter()
        r = await c.post("/push/data", json={"Ref": {"ID": "chatty", "Ver": 1},
                                             "Form": {"ID": "start"}})
        run = r.json()["Payload"]["Runs"][0]
        latencies: list[float] = []
        peak = 0.0
        async with asyncio.timeout(LIMIT_S):
            while True:
                t = time.perf_counter()
                view = (await c.get(f"/flows/chatty/runs/{run}")).json()["Payload"]
                latencies.append(time.perf_counter() - t)
                peak = max(peak, rss_mb(pid))
                if view["Summary"]["Ended"]:
                    break
                await asyncio.sleep(0.02)
        return {"task_s": round(time.perf_counter() - t0, 2), "max_rss_mb": round(peak, 1),
                "api_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
                "api_requests": len(latencies)}


def main() -> None:
    with engine_running(APP, "floe-chatty-") as (proc, port):
        figures = asyncio.run(measure(proc.pid, port))
    print(json.dumps({"bench": "chatty_task", "output_mb": OUTPUT_BYTES / 1e6, **figures}))


if __name__ == "__main__":
    main()
