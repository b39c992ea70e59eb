"""Benchmark (issue 21): the floor under the pickup latency on this machine, without floe.

Two plain processes on a server the bench starts itself (fsync off, as in pg_cluster.py): the
pusher commits a row with a NOTIFY; the runner, LISTENing, wakes, and then makes COMMITS more
commits one after the other (0 to 3: a claim, an activation, the started node: floe's
write-ahead path makes three), then answers over a pipe. Printed, as one JSON line per count
of commits: the median and p99 from the pusher's commit call to the answer, over ROUNDS rounds.

This is what psycopg and PostgreSQL cost on this machine when nothing else runs: a Python
engine doing the same work in an event loop, with an HTTP request in front and a process
spawn behind, cannot go below it.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from engine_proc import percentile
from pgserver import PgServer

ROUNDS = 300
LIMIT_S = 10.0  # one round gives up after this


def runner(url: str, commits: int, ready: mp.Event, answer) -> None:  # type: ignore[type-arg]
    with psycopg.connect(url, autocommit=True) as listen, psycopg.connect(url) as work:
        listen.execute("LISTEN floor")
        ready.set()
        for note in listen.notifies(timeout=LIMIT_S * ROUNDS):
            if note.payload == "stop":
                return
            for n in range(commits):
                work.execute("UPDATE work SET n = n + 1 WHERE id = %s", (n,))
                work.commit()
            answer.send(note.payload)


def main() -> None:
    server = PgServer().start()
    rows = []
    try:
        server.sql("CREATE DATABASE floor")
        url = server.url("floor")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE pends (id serial PRIMARY KEY, body text)")
            conn.execute("CREATE TABLE work (id int PRIMARY KEY, n int)")
            conn.execute("INSERT INTO work SELECT g, 0 FROM generate_series(0, 3) g")
        for commits in range(4):
            ready = mp.Event()
            theirs, ours = mp.Pipe()
            proc = mp.Process(target=runner, args=(url, commits, ready, theirs))
            proc.start()
            ready.wait(LIMIT_S)
            took = []
            with psycopg.connect(url) as push:
                for i in range(ROUNDS):
                    t = time.perf_counter()
                    push.execute("INSERT INTO pends (body) VALUES ('x')")
                    push.execute("SELECT pg_notify('floor', %s)", (str(i),))
                    push.commit()
                    if not ours.poll(LIMIT_S) or ours.recv() != str(i):
                        raise SystemExit("the runner did not answer")
                    took.append((time.perf_counter() - t) * 1000)
                push.execute("SELECT pg_notify('floor', 'stop')")
                push.commit()
            proc.join(LIMIT_S)
            took.sort()
            rows.append({"bench": "pg_floor", "commits_after_wake": commits, "rounds": ROUNDS,
                         "median_ms": round(statistics.median(took), 2),
                         "p99_ms": round(percentile(took, 0.99), 2)})
    finally:
        server.stop()
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
