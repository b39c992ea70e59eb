"""Benchmark (reliability): `GET flows/:id` of a flow with 100,000 archived runs.

Prints one JSON line:
  archived             runs in the flow's archive
  first_page_ms        median latency of the default page (the newest 1000), not cached:
                       each request follows a run's end (target < 100 ms)
  cached_page_ms       median latency when nothing changed since the last request
  deep_page_ms         median latency of ?offset=90000&limit=100
Bounded: ARCHIVED records written once, SAMPLES requests of each kind.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from engine_proc import ADMIN, start_engine

sys.path.insert(0, str(Path(__file__).parent))
from api_bench import fill_archive
from hub_burst import chain_app

ARCHIVED = 100_000
SAMPLES = 20
APP = chain_app("local", length=1)  # a run of one `exec true`


def timed(c: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    c.get(url).raise_for_status()
    return time.perf_counter() - t


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="floe-archive-") as d:
        tmp = Path(d)
        conf = tmp / "app.yml"
        conf.write_text(APP)
        fill_archive(tmp / "root", APP, ARCHIVED, chain=1)
        proc, port = start_engine(tmp, conf, tmp / "root")
        base = f"http://127.0.0.1:{port}/build/api"
        body = {"Ref": {"ID": "chain", "Ver": 1}, "Form": {"ID": "start"}}
        try:
            with httpx.Client(base_url=base, headers={"X-Floe-Auth": ADMIN},
                              timeout=60) as c:
                first, cached, deep = [], [], []
                for _ in range(SAMPLES):
                    run = c.post("/push/data", json=body).json()["Payload"]["Runs"][0]
                    while not c.get(f"/flows/chain/runs/{run}").json()["Payload"][
                            "Summary"]["Ended"]:
                        time.sleep(0.01)
                    first.append(timed(c, "/flows/chain"))
                    cached.append(timed(c, "/flows/chain"))
                    deep.append(timed(c, "/flows/chain?offset=90000&limit=100"))
        finally:
            proc.terminate()
            proc.wait(30)

    def ms(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 1)

    print(json.dumps({"bench": "archive", "archived": ARCHIVED, "first_page_ms": ms(first),
                      "cached_page_ms": ms(cached), "deep_page_ms": ms(deep)}))


if __name__ == "__main__":
    main()
