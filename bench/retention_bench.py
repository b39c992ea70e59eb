"""Benchmark (operations): the engine prunes 10,000 archived runs while the API answers.

A store is filled with ARCHIVED ended runs of one flow, each with LOG_LINES log lines and a
workspace directory; an engine is started on it with `retention: {keep: KEEP}`, and one
client GETs `flows/:id?limit=20` back to back until the archive is down to KEEP. Prints one
JSON line:
  archived         runs in the archive before
  kept             runs in the archive after (KEEP)
  prune_s          from the engine's start until the archive was down to KEEP
  gets             GETs answered meanwhile (every one must be a 200)
  get_p50_ms       median latency of those GETs
  get_p99_ms       99th percentile latency of those GETs
  workspaces_left  run workspaces left on disk (KEEP)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from api_bench import fill_archive
from engine_proc import ADMIN, percentile, start_engine
from hub_burst import chain_app

ARCHIVED = 10_000
KEEP = 10
LOG_LINES = 5


def seed(root: Path, app: str) -> None:
    fill_archive(root, app, ARCHIVED, chain=1)
    import sqlite3

    db = sqlite3.connect(root / "store" / "floe.db")
    with db:
        db.executemany("INSERT INTO logs (run_id, node_id, line) VALUES (?, 't0', ?)",
                       ((f"h1-{n}", f"line {i} of run {n}") for n in range(1, ARCHIVED + 1)
                        for i in range(LOG_LINES)))
    db.close()
    spaces = root / "spaces" / "chain" / "ws"
    for n in range(1, ARCHIVED + 1):
        ws = spaces / f"h1-{n}"
        ws.mkdir(parents=True)
        (ws / "out.txt").write_text("x")


def main() -> None:
    app = chain_app("local", length=1).replace(
        "common:\n", f"common:\n  retention: {{keep: {KEEP}}}\n")
    with tempfile.TemporaryDirectory(prefix="floe-retention-") as d:
        tmp = Path(d)
        conf = tmp / "app.yml"
        conf.write_text(app)
        root = tmp / "root"
        seed(root, app)
        t0 = time.perf_counter()
        proc, port = start_engine(tmp, conf, root)
        latencies: list[float] = []
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/build/api",
                              headers={"X-Floe-Auth": ADMIN}, timeout=60) as c:
                while True:
                    t = time.perf_counter()
                    r = c.get("/flows/chain?limit=20")
                    latencies.append(time.perf_counter() - t)
                    if r.status_code != 200:
                        raise SystemExit(f"GET answered {r.status_code}: {r.text[:200]}")
                    total = r.json()["Payload"]["Runs"]["ArchiveTotal"]
                    if total <= KEEP:
                        break
                    if time.perf_counter() - t0 > 600:
                        raise SystemExit(f"still {total} archived runs after 600 s")
            prune_s = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(30)
        left = sum(1 for _ in (root / "spaces" / "chain" / "ws").iterdir())
    ms = [x * 1000 for x in latencies]
    print(json.dumps({"archived": ARCHIVED, "kept": total, "prune_s": round(prune_s, 2),
                      "gets": len(ms), "get_p50_ms": round(percentile(ms, 0.5), 2),
                      "get_p99_ms": round(percentile(ms, 0.99), 2), "workspaces_left": left}))


if __name__ == "__main__":
    main()
