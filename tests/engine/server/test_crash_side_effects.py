"""kill -9 of a real engine, counted by the tasks' own side effects: a line each task appends
to a file outside the workspace. Write ahead means no task runs twice, and a task whose
process never started is started after the restart instead of being called interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
from collections import Counter
from pathlib import Path

from flows import app, chain, flow, task
from servertest import wait_until

from floecli.engine.hub.reaper import root_tag

NOT_STARTED_LINE = "the engine stopped before this task's process started: starting it now"


def chain_app(side: Path, length: int) -> str:
    return app(chain("chain", length, shell=lambda n: f"echo $(basename $FLOEWS) t{n} >> {side}"),
               store_type="local")


def push(c, flow: str) -> str:
    r = c.post("/push/data", json={"Ref": {"ID": flow, "Ver": 1}, "Form": {"ID": "start"}})
    assert r.status_code == 200, r.text
    return r.json()["Payload"]["Runs"][0]


def lines(side: Path) -> list[str]:
    return side.read_text().splitlines() if side.exists() else []


def stored_runs(root: Path) -> dict[str, dict]:
    with contextlib.closing(sqlite3.connect(root / "store" / "floe.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM pends").fetchone() == (0,)
        rows = db.execute("SELECT run_id, state, json FROM runs").fetchall()
    assert all(state == "archive" for _, state, _ in rows)
    return {run_id: json.loads(text) for run_id, _, text in rows}


def all_archived(c, flow: str, count: int) -> bool:
    runs = c.get(f"/flows/{flow}").json()["Payload"]["Runs"]
    return len(runs["Archive"]) == count and not runs["Active"] and not runs["Pending"]


def test_side_effects_at_most_once_across_kill_9(start_engine, tmp_path):
    rng = random.Random(1905)
    runs_per_trial, length = 40, 10
    for trial in range(5):
        side = tmp_path / f"side-{trial}"
        app = chain_app(side, length)
        name = f"trial{trial}"
        engine = start_engine(app, name=name)
        with engine.client() as c:
            acked = [push(c, "chain") for _ in range(runs_per_trial)]
        # kill -9 at a moment chosen by what has happened, not by a clock
        kill_after = rng.randrange(1, runs_per_trial * length // 2)
        wait_until(lambda: len(lines(side)) >= kill_after, 60, "tasks to run")  # noqa: B023
        engine.proc.send_signal(signal.SIGKILL)
        engine.proc.wait(30)
        again = start_engine(app, name=name)
        with again.client() as c:
            wait_until(lambda: all_archived(c, "chain", runs_per_trial), 120,
                       "every run archived")
        assert again.stop() == 0
        seen = Counter(lines(side))
        assert [line for line, n in seen.items() if n > 1] == [], f"trial {trial}"
        records = stored_runs(again.root)
        assert sorted(records) == sorted(acked)
        for run_id, record in records.items():
            for node, rec in record["ExecNodes"].items():
                line = f"{run_id} {node}"
                # a node with a side effect finished or was interrupted, never "not started"
                if line in seen:
                    assert rec["Stopped"] and rec["Started"], (trial, line, rec)
                    assert rec["Good"] or rec["Reason"] == "interrupted", (trial, line, rec)


def marked_nodes(prefix: str) -> set[str]:
    """The nodes whose processes are alive, from the FLOE_TASK marker in their environment."""
    needle = f"FLOE_TASK={prefix}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for var in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                if var.startswith(needle):
                    found.add(var.decode().rsplit(":", 1)[1])
    return found


def settled(scan, what: str) -> set[str]:
    """What `scan` returns once two scans in a row agree."""
    previous: list[set[str]] = []

    def check() -> set[str] | None:
        now = scan()
        same = bool(previous) and previous[-1] == now
        previous.append(now)
        return now if same else None
    return wait_until(check, 30, what)


def test_tasks_queued_behind_the_spawner_start_after_kill_9_never_interrupted(start_engine,
                                                                                tmp_path):
    # 150 tasks fired by one event: their processes start one by one on the engine's spawner
    # thread, so when the first has printed, most are still queued.
    started = tmp_path / "started"
    # (An interrupted task's bad event is handled, so the run goes on to its end.)
    tasks = [t for n in range(150) for t in (
        task(f"w{n}", shell=f"echo w{n} >> {started}; sleep 2"),
        task(f"h{n}", "true", listen=f"task.w{n}.bad"))]
    wide = app(flow("wide", *tasks), store_type="local")
    engine = start_engine(wide, name="wide")
    with engine.client() as c:
        run = push(c, "wide")
    wait_until(lambda: lines(started), 60, "the first task to start")
    engine.proc.send_signal(signal.SIGKILL)
    engine.proc.wait(30)
    # What had a process at the kill: scanned until two scans agree (a fork in flight).
    prefix = f"{root_tag(engine.root.resolve())}:{run}:"
    spawned = settled(lambda: marked_nodes(prefix), "the task processes to settle")
    assert 0 < len(spawned) < 150
    again = start_engine(wide, name="wide")
    with again.client() as c:
        wait_until(lambda: all_archived(c, "wide", 1), 120, "the run to end")
        logs = c.get(f"/flows/wide/runs/{run}/logs").json()["Payload"]
    assert again.stop() == 0
    record = stored_runs(again.root)[run]
    interrupted = {n for n, rec in record["ExecNodes"].items()
                   if rec["Reason"] == "interrupted"}
    # Every task with a process at the kill is interrupted. The one spawner thread may have
    # been between journaling a start and its fork: at most that one more (never run twice).
    assert spawned <= interrupted and len(interrupted - spawned) <= 1, (interrupted, spawned)
    restarted = {n for n in record["ExecNodes"] if NOT_STARTED_LINE in logs.get(n, [])}
    assert restarted == {f"w{n}" for n in range(150)} - interrupted
    assert all(record["ExecNodes"][n]["Good"] for n in restarted)
    counts = Counter(lines(started))
    assert all(counts[n] == 1 for n in restarted)  # each queued task ran once, after the restart
