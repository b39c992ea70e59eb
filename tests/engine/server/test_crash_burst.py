"""kill -9 of a real engine in the middle of a burst: every acknowledged run is archived
exactly once after the restart, and the SQLite store is intact."""

from __future__ import annotations

import contextlib
import signal
import sqlite3

from flows import app, chain
from servertest import wait_ended

APP = app(chain("burst", 3), store_type="local")
RUNS = 200
KILL_AT = 120


def test_kill_9_during_a_burst_loses_and_repeats_no_run(start_engine):
    engine = start_engine(APP)
    acked: list[str] = []
    body = {"Ref": {"ID": "burst", "Ver": 1}, "Form": {"ID": "start"}}
    with engine.client() as c:
        for n in range(RUNS):
            if n == KILL_AT:
                engine.proc.send_signal(signal.SIGKILL)
                engine.proc.wait(30)
                break
            r = c.post("/push/data", json=body)
            assert r.status_code == 200, r.text
            acked += r.json()["Payload"]["Runs"]
    assert len(acked) == KILL_AT
    again = start_engine(APP)  # the same root, so the same store
    with again.client() as c:
        for run in acked:
            summary = wait_ended(c, "burst", run, timeout=120)["Summary"]
            # good, unless one of its tasks was running at the kill
            assert summary["Good"] or summary["Reason"] == "interrupted", summary
    again.stop()
    with contextlib.closing(sqlite3.connect(again.root / "store" / "floe.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM pends").fetchone() == (0,)
        rows = db.execute("SELECT run_id, state FROM runs").fetchall()
    assert sorted(rows) == sorted((run, "archive") for run in acked)
