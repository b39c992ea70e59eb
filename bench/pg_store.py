"""Benchmark (issue 21): the PostgreSQL run store on a throwaway local server.

Starts its own cluster (tests/pgserver.py: Debian's initdb, a temp dir, a free loopback
port; fsync off, synchronous_commit on), then prints one JSON line:
  add_pend_per_s        pends added (fire-and-forget) then flushed, per second
  activate_ms_median    one awaited activation (pend → active, committed), sequentially
  activate_burst_per_s  ACTIVATIONS activations issued at once, all awaited, per second
  finish_per_s          runs archived (fire-and-forget) then flushed, per second
  log_lines_per_s       LOG_LINES lines appended then flushed, per second
  claim_ms_median/_p99  one host claiming pends one after another (claim_next)
  claims_per_s_4_hosts  4 hosts, each its own pool, claiming and finishing CLAIMS pends
                        whose flows share resource tags, until none is left
  renew_ms_median       one heartbeat (renew) of a host holding 20 claims
Bounded: fixed counts, and every phase gives up after LIMIT_S.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from pgserver import PgServer

from floecli.engine.events import FlowRef, HostedID, NodeRef, RunRef
from floecli.engine.flow import Flow, Node
from floecli.engine.pend import Pend
from floecli.engine.runs import ExecNode, RunRecord
from floecli.engine.store.postgres import ClusterSettings, PostgresStore
from floecli.engine.store.postgres.migrations import migrate_url

PENDS = 2000
ACTIVATIONS = 1000
SEQUENTIAL = 200
LOG_LINES = 100_000
CLAIMS = 1000
LIMIT_S = 300.0
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def flow(flow_id: str, resource_tags: tuple[str, ...] = ()) -> Flow:
    return Flow(id=flow_id, name=flow_id, ver=1, resource_tags=resource_tags,
                tasks=(Node(id="build", name="build", class_="task", type="exec",
                            listen="trigger.good", opts={"cmd": "make"}),))


def pend(n: int, f: Flow) -> Pend:
    return Pend(RunRef(FlowRef(f.id, 1), HostedID("h1", n), "h1"), f,
                NodeRef("trigger", "start"), {"ref": f"v{n}"}, created=T0)


def record(p: Pend, ended: bool = False) -> RunRecord:
    r = RunRecord.from_pend(p, start_time=T0)
    r.exec_nodes["build"] = ExecNode(started=T0, stopped=T0 if ended else None)
    if ended:
        r.ended, r.good, r.end_time = True, True, T0 + timedelta(seconds=1)
    return r


async def single_host(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    store = PostgresStore(url, host="h1")
    store.open()
    f = flow("f")
    pends = [pend(n, f) for n in range(1, PENDS + 1)]
    began = time.perf_counter()
    for n, p in enumerate(pends, 1):
        store.add_pend(p, n)
    await store.flush()
    out["add_pend_per_s"] = PENDS / (time.perf_counter() - began)

    times = []
    for p in pends[:SEQUENTIAL]:
        t = time.perf_counter()
        await store.activate(record(p))
        times.append(time.perf_counter() - t)
    out["activate_ms_median"] = statistics.median(times) * 1000

    burst = pends[SEQUENTIAL:SEQUENTIAL + ACTIVATIONS]
    began = time.perf_counter()
    await asyncio.gather(*(store.activate(record(p)) for p in burst))
    out["activate_burst_per_s"] = len(burst) / (time.perf_counter() - began)

    began = time.perf_counter()
    for p in pends[:SEQUENTIAL + ACTIVATIONS]:
        store.finish(record(p, ended=True))
    await store.flush()
    out["finish_per_s"] = (SEQUENTIAL + ACTIVATIONS) / (time.perf_counter() - began)

    began = time.perf_counter()
    for i in range(LOG_LINES):
        store.append_log("h1-1", "build", f"line {i} of a chatty task")
    await store.flush()
    out["log_lines_per_s"] = LOG_LINES / (time.perf_counter() - began)
    await store.close()
    return out


async def claims(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    adder = PostgresStore(url, host="h1")
    adder.open()
    flows = [flow("a", ("db",)), flow("b", ("cache",)), flow("c"), flow("d"), flow("e")]
    for n in range(1, CLAIMS + SEQUENTIAL + 1):
        adder.add_pend(pend(n, flows[n % len(flows)] if n > SEQUENTIAL else flows[2]), n)
    await adder.flush()
    await adder.close()

    one = PostgresStore(url, host="one", settings=ClusterSettings())
    one.open()
    times = []
    held = []
    for _ in range(SEQUENTIAL):
        t = time.perf_counter()
        p = await one.claim_next()
        times.append(time.perf_counter() - t)
        assert p is not None
        held.append(p)
    times.sort()
    out["claim_ms_median"] = statistics.median(times) * 1000
    out["claim_ms_p99"] = times[int(len(times) * 0.99) - 1] * 1000
    for p in held[:20]:
        await one.activate(record(p))
    renewals = []
    for _ in range(50):
        t = time.perf_counter()
        await one.renew()
        renewals.append(time.perf_counter() - t)
    out["renew_ms_median"] = statistics.median(renewals) * 1000
    for p in held:
        one.finish(record(p, ended=True))
    await one.close()

    done = 0

    async def host(name: str) -> None:
        nonlocal done
        store = PostgresStore(url, host=name, tags=("master",), settings=ClusterSettings())
        store.open()
        waker = await store.listen()
        try:
            while done < CLAIMS:
                p = await store.claim_next()
                if p is None:
                    await waker.wait(0.05)
                    continue
                await store.activate(record(p))
                store.finish(record(p, ended=True))
                done += 1
            await store.flush()
        finally:
            await store.close()

    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(host(f"h{i}") for i in range(4))), LIMIT_S)
    out["claims_per_s_4_hosts"] = CLAIMS / (time.perf_counter() - began)
    return out


def main() -> None:
    server = PgServer().start()
    try:
        results: dict[str, float] = {}
        for name, phase in (("single", single_host), ("claims", claims)):
            server.sql(f"CREATE DATABASE bench_{name}")
            url = server.url(f"bench_{name}")
            migrate_url(url)
            results.update(asyncio.run(asyncio.wait_for(phase(url), LIMIT_S)))
        print(json.dumps({k: round(v, 2) for k, v in results.items()}))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
