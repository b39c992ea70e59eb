"""Benchmark (issue 21): engine hosts sharing one PostgreSQL database, real processes.

Prints one JSON line:
  burst_sqlite_1_s / burst_pg_1_s / burst_pg_3_s   100 runs of 10 chained `exec true`, pushed
                      at once (spread over the hosts' APIs), until every run is archived: on one
                      host with SQLite, one host with PostgreSQL, three hosts on PostgreSQL
  runs_per_s_*        the same as runs per second; pg_1_to_sqlite and pg_3_to_pg_1 the ratios
  pickup_median_ms / pickup_p99_ms   a push to a host that cannot run the flow (host tags) to
                      the task's start on an idle host that can (its sys.node.start on the
                      websocket), one run at a time, the next pushed once the runner is idle
                      again (targets 5 ms and 25 ms)
  failover_s          kill -9 of the host holding a resource tag to another host starting the
                      run that waited for the tag, with lease LEASE_S and heartbeat HEARTBEAT_S
                      (printed beside it)
  failover_default_s  the same with the default lease (15 s) and heartbeat (3 s), FAILOVERS
                      times (target <= 15 s); the server ends the killed host's sessions, so
                      it is presumed dead before its lease runs out (docs/postgres.md)
usage: pg_cluster.py [burst | pickup | failover ...]   (all three when none is named)
Bounded: PICKUPS runs for the pickup, one burst per setup, each phase gives up after LIMIT_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from api_bench import push, push_request
from engine_proc import ADMIN, percentile
from hub_burst import CHAIN, RUNS, chain_app
from pgserver import PgServer

PICKUPS = 200
FAILOVERS = 3
LIMIT_S = 300.0
LEASE_S, HEARTBEAT_S = 4, 1


def app(store: str, short_lease: bool = True) -> str:
    text = chain_app(store)
    if store == "postgres" and short_lease:
        timing = f"  cluster: {{heartbeat: {HEARTBEAT_S}, lease: {LEASE_S}, poll: 1}}\n"
        text = text.replace("common:\n", "common:\n" + timing)
    extra = """\
  - id: gpu
    ver: 1
    host-tags: [gpu]
    triggers: [{id: start, type: data}]
    tasks:
      - {id: t0, listen: trigger.good, type: exec, opts: {cmd: "true"}}
  - id: locked
    ver: 1
    resource-tags: [db]
    triggers: [{id: start, type: data}]
    tasks:
      - {id: hold, listen: trigger.good, type: exec, opts: {cmd: "sleep 60"}}
"""
    return text + extra


class Host:
    def __init__(self, tmp: Path, name: str, tags: str, text: str, url: str = "") -> None:
        self.name = name
        tmp.mkdir(parents=True, exist_ok=True)
        conf = tmp / f"{name}.yml"
        conf.write_text(text)
        ports = tmp / f"{name}.ports"
        env = {**os.environ, **({"FLOE_STORE_URL": url} if url else {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "floecli.engine", f"-conf={conf}", f"-root={tmp / name}",
             f"-host_name={name}", f"-tags={tags}", "-pub_bind=127.0.0.1:0",
             f"-admin={ADMIN}", f"-port_file={ports}"],
            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while not (ports.exists() and ports.read_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"host {name} did not start")
            time.sleep(0.05)
        self.port = json.loads(ports.read_text())["pub"]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


def body(flow: str) -> dict[str, object]:
    return {"Ref": {"ID": flow, "Ver": 1}, "Form": {"ID": "start"}}


async def push_to(port: int, flow: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        (run,) = await push(reader, writer, push_request(body(flow)))
        return run
    finally:
        writer.close()


def run_id(event: dict) -> str:
    ref = event["RunRef"]["Run"]
    return f"{ref['HostID']}-{ref['ID']}"


async def burst(hosts: list[Host]) -> float:
    """RUNS pushes of `chain` at once, spread over the hosts, until each was archived (the
    host that adopted a run sees its end on a shared store too: it reads the archive)."""
    ended: set[str] = set()
    sockets = [await websockets.connect(f"ws://127.0.0.1:{h.port}/ws?tag=sys.end",
                                        additional_headers={"X-Floe-Auth": ADMIN},
                                        max_queue=None) for h in hosts]

    async def watch(ws) -> None:
        async for raw in ws:
            event = json.loads(raw)
            if event["Tag"] == "sys.end.all":
                ended.add(run_id(event))

    watchers = [asyncio.ensure_future(watch(ws)) for ws in sockets]
    try:
        t = time.perf_counter()
        runs = set(await asyncio.gather(*(push_to(hosts[i % len(hosts)].port, "chain")
                                          for i in range(RUNS))))
        async with asyncio.timeout(LIMIT_S):
            while not runs <= ended:
                await asyncio.sleep(0.01)  # a bench's poll of its own set, bounded above
        return time.perf_counter() - t
    finally:
        for w in watchers:
            w.cancel()
        for ws in sockets:
            await ws.close()


async def pickup(pusher: Host, runner: Host) -> list[float]:
    """One run at a time of `gpu`, pushed to `pusher` (no gpu), started on `runner`; the next
    push waits until the runner is idle again (the run ended), as the figure is defined. The
    runner is watched for exactly the two tags the figure needs, one websocket each, as a
    client that wants them would (the `sys.` prefix also brought every sys.state and log
    line event)."""
    latencies = []

    def watch(tag: str):
        return websockets.connect(f"ws://127.0.0.1:{runner.port}/ws?tag={tag}",
                                  additional_headers={"X-Floe-Auth": ADMIN}, max_queue=None)

    async with watch("sys.node.start") as starts, watch("sys.end.all") as ends:

        async def until(ws, run: str) -> None:
            async with asyncio.timeout(LIMIT_S):
                while run_id(json.loads(await ws.recv())) != run:
                    pass

        for _ in range(PICKUPS):
            t = time.perf_counter()
            run = await push_to(pusher.port, "gpu")
            await until(starts, run)
            latencies.append(time.perf_counter() - t)
            await until(ends, run)
    return latencies


async def failover(a: Host, b: Host) -> float:
    """`locked` held on one host, a second waiting; kill -9 the holder: time until the
    second starts on the other host."""
    async with websockets.connect(f"ws://127.0.0.1:{a.port}/ws?tag=sys.node.start",
                                  additional_headers={"X-Floe-Auth": ADMIN},
                                  max_queue=None) as wa, \
            websockets.connect(f"ws://127.0.0.1:{b.port}/ws?tag=sys.node.start",
                               additional_headers={"X-Floe-Auth": ADMIN},
                               max_queue=None) as wb:
        first = await push_to(a.port, "locked")
        starts: dict[str, Host] = {}

        async def seen(ws, host: Host) -> None:
            async for raw in ws:
                starts.setdefault(run_id(json.loads(raw)), host)

        tasks = [asyncio.ensure_future(seen(wa, a)), asyncio.ensure_future(seen(wb, b))]
        try:
            async with asyncio.timeout(LIMIT_S):
                while first not in starts:
                    await asyncio.sleep(0.01)
            holder = starts[first]
            other = b if holder is a else a
            second = await push_to(other.port, "locked")
            t = time.perf_counter()
            os.killpg(holder.proc.pid, signal.SIGKILL)  # the engine and its task
            holder.proc.wait(30)
            async with asyncio.timeout(LIMIT_S):
                while second not in starts:
                    await asyncio.sleep(0.01)
            return time.perf_counter() - t
        finally:
            for task in tasks:
                task.cancel()


def fresh_db(server: PgServer, name: str) -> str:
    server.sql(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    return server.url(name)


PHASES = ("burst", "pickup", "failover")


def main(phases: Sequence[str]) -> None:
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="floe-pg-cluster-") as d:
        tmp = Path(d)
        server = PgServer().start()
        try:
            if "burst" in phases:
                figures.update(bursts(server, tmp))
            if "pickup" in phases:
                figures.update(pickups(server, tmp))
            if "failover" in phases:
                defaults = []
                for i in range(FAILOVERS):
                    url = fresh_db(server, f"b_failover_{i}")
                    pair = [Host(tmp / f"failover{i}", f"h{n}", "linux", app("postgres", False),
                                 url) for n in (1, 2)]
                    try:
                        defaults.append(round(asyncio.run(failover(*pair)), 2))
                    finally:
                        for h in pair:
                            h.stop()
                figures["failover_default_s"] = defaults
        finally:
            server.stop()
    print(json.dumps({"bench": "pg_cluster", "runs": RUNS, "chain": CHAIN, **figures}))


def bursts(server: PgServer, tmp: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    for label, store, count in (("sqlite_1", "local", 1), ("pg_1", "postgres", 1),
                                ("pg_3", "postgres", 3)):
        url = fresh_db(server, f"b_{label}") if store == "postgres" else ""
        hosts = [Host(tmp / label, f"h{i + 1}", "linux", app(store), url)
                 for i in range(count)]
        try:
            took = asyncio.run(burst(hosts))
        finally:
            for h in hosts:
                h.stop()
        figures[f"burst_{label}_s"] = round(took, 3)
        figures[f"runs_per_s_{label}"] = round(RUNS / took, 1)
    figures["pg_1_to_sqlite"] = round(figures["burst_pg_1_s"] / figures["burst_sqlite_1_s"], 2)
    figures["pg_3_to_pg_1"] = round(figures["burst_pg_3_s"] / figures["burst_pg_1_s"], 2)
    return figures


def pickups(server: PgServer, tmp: Path) -> dict[str, float]:
    url = fresh_db(server, "b_pickup")
    pusher = Host(tmp / "pickup", "h1", "linux", app("postgres"), url)
    runner = Host(tmp / "pickup", "h2", "linux,gpu", app("postgres"), url)
    try:
        lat = asyncio.run(pickup(pusher, runner))
        fail = asyncio.run(failover(pusher, runner))
    finally:
        pusher.stop()
        runner.stop()
    ms = sorted(x * 1000 for x in lat)
    return {"pickups": len(ms), "pickup_median_ms": round(statistics.median(ms), 2),
            "pickup_p25_ms": round(percentile(ms, 0.25), 2),
            "pickup_p75_ms": round(percentile(ms, 0.75), 2),
            "pickup_p99_ms": round(percentile(ms, 0.99), 2), "failover_s": round(fail, 2),
            "lease_s": LEASE_S, "heartbeat_s": HEARTBEAT_S}


if __name__ == "__main__":
    chosen = sys.argv[1:] or PHASES
    if not set(chosen) <= set(PHASES):
        raise SystemExit(f"usage: pg_cluster.py [{' | '.join(PHASES)} ...]")
    with contextlib.suppress(KeyboardInterrupt):
        main(chosen)
