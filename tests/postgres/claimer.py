"""A host as a process of its own, for the tests that kill or pause one: it claims pends from
the database, runs each (a side effect: one line appended to OUT, then, for a pend whose opts
say `hold`, waiting until the HOLD file exists), and archives it. Its heartbeat renews its
claims and reaps other hosts'. It exits once the database holds TOTAL archived runs.

usage: claimer.py URL HOST OUT TOTAL HOLD LEASE HEARTBEAT
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from floecli.engine.errors import StoreError
from floecli.engine.runs import ExecNode, RunRecord
from floecli.engine.store.postgres import ClusterSettings, PostgresStore

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOLD_LIMIT = 120.0


def note(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def archived(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM runs WHERE state = 'archive'").fetchone()
        return int(row[0]) if row else 0


async def main(url: str, host: str, out: str, total: int, hold: str, lease: float,
               heartbeat: float) -> None:
    settings = ClusterSettings(heartbeat=heartbeat, lease=lease, poll=0.2)
    store = PostgresStore(url, host=host, tags=("master",), settings=settings,
                          on_fenced=lambda run_id: note(out + ".fenced", f"{run_id} {host}"))
    store.open()
    beat = asyncio.create_task(store.heartbeat())
    waker = await store.listen()
    note(out + ".ready", host)
    try:
        while True:
            try:
                p = await store.claim_next()
            except StoreError as e:  # the server away: the next poll tries again
                print(f"{host}: claim failed: {e}", file=sys.stderr)
                await waker.wait(settings.poll)
                continue
            if p is None:
                if await asyncio.to_thread(archived, url) >= total:
                    return
                await waker.wait(settings.poll)
                continue
            record = RunRecord.from_pend(p, start_time=T0)
            record.exec_nodes["build"] = ExecNode(started=T0)
            try:
                await store.activate(record)  # write ahead: nothing runs before this commits
            except StoreError as e:
                print(f"{host}: {p.run_id} not started: {e}", file=sys.stderr)
                continue
            note(out, f"{p.run_id} {host}")  # the task's side effect
            if p.opts.get("hold"):
                end = time.monotonic() + HOLD_LIMIT
                while not Path(hold).exists() and time.monotonic() < end:
                    await asyncio.sleep(0.05)  # the task runs until the test releases it
            store.append_log(p.run_id, "build", f"done on {host}")
            node = record.exec_nodes["build"]
            node.stopped, node.status = T0, 0
            record.ended, record.good, record.end_time = True, True, T0 + timedelta(seconds=1)
            store.finish(record)
            await store.flush()
    finally:
        beat.cancel()
        await store.close()


if __name__ == "__main__":
    url, host, out, total, hold, lease, heartbeat = sys.argv[1:8]
    asyncio.run(main(url, host, out, int(total), hold, float(lease), float(heartbeat)))
