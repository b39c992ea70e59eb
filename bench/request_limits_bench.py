"""Benchmark (issue 18): figures behind docs/security.md's request limits, on a real engine.

Prints one JSON line:
  idle_peak_mib                 the engine's VmHWM after start
  slow_login_peak_mib           VmHWM after 600 clients each sent 1 MiB of a 4 MiB login body
  budget_peak_mib               VmHWM after 40 logged-in clients each held 3 MiB of a 4 MiB
                                push body open (and then finished it)
  budget_refused                how many of those 40 got 503 (the 64 MiB budget)
  many_values_refused_ms_p50    a 4 MiB `[{},{},...]` push, sent to its 413 (client side)
  get_ms_p50 / get_ms_max       GET /flows while two clients keep posting such bodies
  get_ms_quiet_p50              GET /flows with nobody else
  parse_check_ms_max            the server-side work on the worst bodies measured in-process
                                (shape count, parse, walk), over several 4 MiB shapes
  parse_check_cpu_ms_max        the same in CPU time: what the loop itself spent, whatever
                                else the machine was running
Bounded: fixed counts; each phase gives up after LIMIT_S.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "engine" / "server"), str(ROOT / "tests")]

from servertest import ADMIN, BASE, ONE_FLOW_APP, launch  # noqa: E402
from test_request_limits import (  # noqa: E402
    MANY_DICTS,
    peak_rss,
    test_slow_login_bodies_are_refused_before_they_are_held,
    test_unfinished_bodies_share_one_budget,
)

from floecli.engine.server.bodies import check_json, check_shape, walk_needed  # noqa: E402

MiB = 1 << 20
LIMIT_S = 120.0


def server_work_ms() -> tuple[float, float]:
    shapes = [MANY_DICTS, b"[" + b",".join([b"0"] * (2 * MiB - 2)) + b"]",
              json.dumps(["ab"] * 800_000).encode(), json.dumps({"x": "a,[{" * MiB}).encode(),
              json.dumps([[{"a": "\\ud800x"}] for _ in range(6600)]).encode(),
              json.dumps(["a,b," * 50] * 19_000).encode(),
              json.dumps({"x": "\\\"" * MiB}).encode()]
    worst = worst_cpu = 0.0
    for body in shapes:
        t, cpu = time.perf_counter(), time.thread_time()
        try:
            check_shape(body)
            value = json.loads(body.decode())
            depth, strings = walk_needed(body)
            check_json(value, depth=depth, strings=strings)
        except (ValueError, RecursionError):
            pass
        worst = max(worst, (time.perf_counter() - t) * 1000)
        worst_cpu = max(worst_cpu, (time.thread_time() - cpu) * 1000)
    return worst, worst_cpu


def main() -> None:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = launch(Path(tmp) / "a", ONE_FLOW_APP)
        try:
            out["idle_peak_mib"] = round(peak_rss(engine.proc.pid) / MiB)
            test_slow_login_bodies_are_refused_before_they_are_held(engine)
            out["slow_login_peak_mib"] = round(peak_rss(engine.proc.pid) / MiB)
        finally:
            engine.stop()
        engine = launch(Path(tmp) / "b", ONE_FLOW_APP)
        try:
            test_unfinished_bodies_share_one_budget(engine)
            out["budget_peak_mib"] = round(peak_rss(engine.proc.pid) / MiB)
            url = engine.url() + BASE
            with httpx.Client(base_url=url, headers={"X-Floe-Auth": ADMIN}, timeout=30) as c:
                quiet = []
                for _ in range(30):
                    t = time.perf_counter()
                    c.get("/flows")
                    quiet.append((time.perf_counter() - t) * 1000)
                out["get_ms_quiet_p50"] = round(statistics.median(quiet), 2)
            refused: list[float] = []
            stop = threading.Event()

            def abuse() -> None:
                with httpx.Client(base_url=url, headers={"X-Floe-Auth": ADMIN},
                                  timeout=30) as c:
                    while not stop.is_set():
                        t = time.perf_counter()
                        c.post("/push/data", content=MANY_DICTS,
                               headers={"Content-Type": "application/json"})
                        refused.append((time.perf_counter() - t) * 1000)

            threads = [threading.Thread(target=abuse) for _ in range(2)]
            for t in threads:
                t.start()
            gets = []
            deadline = time.monotonic() + LIMIT_S
            with httpx.Client(base_url=url, headers={"X-Floe-Auth": ADMIN}, timeout=30) as c:
                while len(gets) < 100 and time.monotonic() < deadline:
                    t = time.perf_counter()
                    c.get("/flows")
                    gets.append((time.perf_counter() - t) * 1000)
            stop.set()
            for t in threads:
                t.join(LIMIT_S)
            out["many_values_refused_ms_p50"] = round(statistics.median(refused), 1)
            out["get_ms_p50"] = round(statistics.median(gets), 2)
            out["get_ms_max"] = round(max(gets), 2)
        finally:
            engine.stop()
    wall, cpu = server_work_ms()
    out["parse_check_ms_max"] = round(wall, 1)
    out["parse_check_cpu_ms_max"] = round(cpu, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
