"""Benchmark (issue 20): hand-off between two real engine processes on 127.0.0.1.

Prints one JSON line:
  handoff_median_ms / handoff_p99_ms   POST push/data to h1 of a flow only h2's tags satisfy,
                      until that run's task started on h2 (its node's Started time in the run
                      record), HANDOFFS runs one after another (target median < 20 ms)
  online_median_ms / online_max_ms     with h2 down and a run of that flow waiting on h1:
                      from h2 serving again (its port file written) to the run's start on h2,
                      ONLINE_ROUNDS restarts (target < 100 ms)
  burst_1_host_s / burst_3_hosts_s / burst_3_to_1   bench/hub_burst.py's 100 runs of 10 chained
                      `exec true`, pushed at once over the API, on one host and spread over three
                      hosts listing each other (common.hosts), until every run ended
Bounded: every wait gives up after LIMIT_S.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from engine_proc import ADMIN, START_LIMIT_S, percentile

HANDOFFS = 200
ONLINE_ROUNDS = 5
LIMIT_S = 60.0

APP = """\
common:
  store-type: local
  hosts: [127.0.0.1:{p1}, 127.0.0.1:{p2}]
flows:
  - id: f
    ver: 1
    host-tags: [w]
    triggers: [{{id: start, type: data}}]
    tasks: [{{id: a, listen: trigger.good, type: exec, opts: {{cmd: "true"}}}}]
"""


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(tmp: Path, name: str, tags: str, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """An engine; returns it and the time it was serving (its port file written)."""
    ports = tmp / f"{name}.ports"
    ports.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "floecli.engine", f"-conf={tmp / 'app.yml'}",
                             f"-root={tmp / name}", f"-pub_bind=127.0.0.1:{port}",
                             f"-admin={ADMIN}", f"-host_name={name}", f"-tags={tags}",
                             f"-port_file={ports}"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_LIMIT_S
    while not (ports.exists() and ports.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"engine {name} did not start")
        time.sleep(0.001)
    return proc, time.time()


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait(what: str, check):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + LIMIT_S
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.002)


def node_started(c: httpx.Client, run: str) -> float | None:
    r = c.get(f"/flows/f/runs/{run}")
    if r.status_code != 200:
        return None
    for level in r.json()["Payload"]["Graph"]:
        for node in level:
            if node["ID"] == "a" and node.get("Started") and not node["Started"].startswith(
                    "0001"):
                return when(node["Started"])
    return None


def push(c: httpx.Client) -> tuple[str, float]:
    t0 = time.time()
    r = c.post("/push/data", json={"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start"}})
    r.raise_for_status()
    return r.json()["Payload"]["Runs"][0], t0


def burst_over(hosts: int) -> float:
    """The 100x10 burst pushed over `hosts` hosts' APIs (listing each other when several)."""
    import asyncio

    from hub_burst import chain_app
    from pg_cluster import burst

    class Serving:
        def __init__(self, port: int) -> None:
            self.port = port

    with tempfile.TemporaryDirectory(prefix="floe-cluster-burst-") as d:
        tmp = Path(d)
        ports = free_ports(hosts)
        listed = "".join(f"\n    - 127.0.0.1:{p}" for p in ports) if hosts > 1 else " []"
        text = chain_app("local").replace("common:\n", f"common:\n  hosts:{listed}\n")
        (tmp / "app.yml").write_text(text)
        procs = [start(tmp, f"h{i + 1}", "master", port)[0] for i, port in enumerate(ports)]
        try:
            return asyncio.run(burst([Serving(p) for p in ports]))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)


def main() -> None:
    one, three = burst_over(1), burst_over(3)
    with tempfile.TemporaryDirectory(prefix="floe-cluster-bench-") as d:
        tmp = Path(d)
        p1, p2 = free_ports(2)
        (tmp / "app.yml").write_text(APP.format(p1=p1, p2=p2))
        h1, _ = start(tmp, "h1", "x", p1)
        h2, _ = start(tmp, "h2", "w", p2)
        c1 = httpx.Client(base_url=f"http://127.0.0.1:{p1}/build/api",
                          headers={"X-Floe-Auth": ADMIN}, timeout=30)
        try:
            wait("h1 to see h2", lambda: c1.get("/hosts").json()["Payload"]["AllHosts"]
                 .get("h2", {}).get("Online"))
            handoff = []
            for _ in range(HANDOFFS):
                run, t0 = push(c1)
                started = wait(f"{run} to start on h2", lambda run=run: node_started(c1, run))
                handoff.append((started - t0) * 1000)
            online = []
            for _ in range(ONLINE_ROUNDS):
                h2.terminate()
                h2.wait(30)
                run, _ = push(c1)
                wait("the run to wait for h2", lambda run=run: any(
                    "h2" in p.get("Reason", "") for p in
                    c1.get("/flows/f").json()["Payload"]["Runs"]["Pending"]))
                h2, up = start(tmp, "h2", "w", p2)
                started = wait(f"{run} to start on h2", lambda run=run: node_started(c1, run))
                online.append((started - up) * 1000)
        finally:
            c1.close()
            for proc in (h1, h2):
                proc.terminate()
                proc.wait(30)
    print(json.dumps({
        "handoff_median_ms": round(statistics.median(handoff), 2),
        "handoff_p99_ms": round(percentile(handoff, 0.99), 2),
        "handoffs": len(handoff),
        "online_median_ms": round(statistics.median(online), 2),
        "online_max_ms": round(max(online), 2),
        "online_rounds": len(online),
        "burst_1_host_s": round(one, 3), "burst_3_hosts_s": round(three, 3),
        "burst_3_to_1": round(three / one, 2),
    }))


if __name__ == "__main__":
    main()
