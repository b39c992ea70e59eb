"""Benchmark (issue 2): 100 runs of a flow of 10 chained `exec true` tasks, triggered at once.

Prints one JSON line:
  bash_1000_true_s      a bash loop spawning the same 1000 /bin/true processes
  burst_s               all 100 runs triggered at once, until the last one ended
  burst_ratio           burst_s / bash_1000_true_s (target < 2)
  trigger_to_start_ms   median time from the trigger to the run's first task start, measured
                        on runs triggered one at a time (target < 20 ms)
  burst_trigger_to_start_ms  the same median inside the burst
  step_overhead_ms      per step of a 40-step sequential flow: its wall time minus 40 bare
                        spawns of /bin/true (subprocess.run), divided by 40 (target <= 1.5 ms)
  max_rss_mb            peak resident memory of this process, which is only the engine and
                        this script (target < 80 MB)
Bounded: at most 100 + 20 runs, and it gives up after 300 s.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from floecli.engine import eventloop
from floecli.engine.config.loader import parse_app
from floecli.engine.contributions.registry import Registry
from floecli.engine.engine import Engine, EngineOptions
from floecli.engine.events import FlowRef

RUNS = 100
SINGLES = 20
CHAIN = 10
SEQUENTIAL = 40
LIMIT_S = 300.0


def chain_app(store: str, flow: str = "chain", length: int = CHAIN) -> str:
    tasks = []
    for i in range(length):
        listen = "trigger.good" if i == 0 else f"task.t{i - 1}.good"
        tasks.append(f"      - {{id: t{i}, listen: {listen}, type: exec, opts: {{cmd: \"true\"}}}}")
    tasks.append(f"      - {{id: done, listen: task.t{length - 1}.good, type: end}}")
    return (f"common:\n  store-type: {store}\nflows:\n  - id: {flow}\n    ver: 1\n"
            "    triggers: [{id: start, type: data}]\n    tasks:\n" + "\n".join(tasks) + "\n")


def bash_baseline() -> float:
    t = time.perf_counter()
    subprocess.run(["bash", "-c", "for i in $(seq 1000); do /bin/true; done"], check=True)
    return time.perf_counter() - t


async def measure(root: Path, store: str) -> dict[str, float]:
    registry = Registry.discover()
    config = parse_app(chain_app(store), "bench.yml", registry.catalog())
    engine = Engine(EngineOptions(root=str(root)), registry=registry, config=config)
    pushed: dict[str, float] = {}  # run id -> trigger time
    first_start: dict[str, float] = {}
    ended: dict[str, float] = {}
    added: list[float] = []
    all_done = asyncio.Event()
    expected = {"n": 0}

    def observe(e) -> None:
        now = time.perf_counter()
        run = e.run_ref.run_id
        if e.tag == "sys.state" and e.opts.get("action") == "add-pend":
            pushed[run] = added.pop(0)
        elif e.tag == "sys.node.start" and run not in first_start:
            first_start[run] = now
        elif e.tag == "sys.end.all":
            ended[run] = now
            if len(ended) >= expected["n"]:
                all_done.set()

    engine.queue.subscribe(observe)
    await engine.start()
    ref = FlowRef("chain", 1)

    submitting: set[asyncio.Future[list[str]]] = set()

    def trigger() -> None:
        added.append(time.perf_counter())
        submitted = asyncio.ensure_future(engine.hub.submit(ref, "start"))
        submitting.add(submitted)
        submitted.add_done_callback(submitting.discard)

    try:
        # one at a time: latency with nothing else going on
        for _ in range(SINGLES):
            all_done.clear()
            expected["n"] = len(ended) + 1
            trigger()
            await asyncio.wait_for(all_done.wait(), LIMIT_S)
        singles = [first_start[r] - pushed[r] for r in list(pushed)[:SINGLES]]
        # the burst
        all_done.clear()
        expected["n"] = len(ended) + RUNS
        t0 = time.perf_counter()
        for _ in range(RUNS):
            trigger()
        await asyncio.wait_for(all_done.wait(), LIMIT_S)
        burst = time.perf_counter() - t0
        burst_runs = list(pushed)[SINGLES:]
        in_burst = [first_start[r] - pushed[r] for r in burst_runs]
        bad = sum(1 for r in burst_runs if r not in ended)
    finally:
        await engine.stop()
    return {"burst_s": round(burst, 3), "step_overhead_ms": await step_overhead(root, store),
            "trigger_to_start_ms": round(statistics.median(singles) * 1000, 2),
            "burst_trigger_to_start_ms": round(statistics.median(in_burst) * 1000, 2),
            "unfinished": bad}


async def step_overhead(root: Path, store: str) -> float:
    """Per step of a 40-step sequential flow of `exec true`: its wall time minus 40 bare
    spawns of /bin/true (subprocess.run), divided by 40 (the median of 5 runs)."""
    registry = Registry.discover()
    config = parse_app(chain_app(store, "seq", SEQUENTIAL), "seq.yml", registry.catalog())
    engine = Engine(EngineOptions(root=str(root / "seq")), registry=registry, config=config)
    done = asyncio.Event()
    engine.queue.subscribe(lambda e: e.tag == "sys.end.all" and done.set())
    await engine.start()
    walls = []
    try:
        for _ in range(5):
            done.clear()
            t = time.perf_counter()
            await engine.hub.submit(FlowRef("seq", 1), "start")
            await asyncio.wait_for(done.wait(), LIMIT_S)
            walls.append(time.perf_counter() - t)
    finally:
        await engine.stop()
    per_step = (statistics.median(walls) - bare_spawns()) / SEQUENTIAL
    return round(per_step * 1000, 2)


def bare_spawns() -> float:
    """SEQUENTIAL bare spawns of /bin/true one after another, the median of 5: what a chain's
    processes cost without an engine. Bare: subprocess.run, as the engine's processes are
    Popen's too; not the loop's own subprocess_exec, which costs what that loop makes it cost
    (uvloop's forks instead of vforking, and is slower than the engine's whole step)."""
    spawns = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(SEQUENTIAL):
            subprocess.run(["/bin/true"], start_new_session=True, check=True)
        spawns.append(time.perf_counter() - t)
    return statistics.median(spawns)


def main() -> None:
    store = sys.argv[1] if len(sys.argv) > 1 else "local"
    baseline = bash_baseline()
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as d:
        # the engine's own loop (engine/eventloop.py), as a real engine process runs on
        figures = eventloop.run(measure(Path(d), store))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"bench": "hub_burst", "store": store, "runs": RUNS, "chain": CHAIN,
                      "bash_1000_true_s": round(baseline, 3), **figures,
                      "burst_ratio": round(figures["burst_s"] / baseline, 2),
                      "max_rss_mb": round(rss_mb, 1)}))


if __name__ == "__main__":
    main()
