"""Restarts with the SQLite store lose no pend and leave no run `running` (DECISIONS §2)."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import flows
from flows import end, flow, one_task, task
from harness import EngineHarness, make_engine, wait_until

GPU_JOB = flow("gpu-job", task("work", "echo on gpu"), end(listen="task.work.good"),
               host_tags=["gpu"])
SCRIPT = "echo $$ > pid.txt; echo started; sleep 60\n"


def app(tmp_path: Path) -> str:
    # floe expands `$NAME` in task values, so the script that needs `$$` lives in a file
    (tmp_path / "long.sh").write_text(SCRIPT)
    return flows.app(GPU_JOB, one_task("long", f"bash {tmp_path / 'long.sh'}", task_id="wait"),
                     store_type="local")


async def test_graceful_restart_resumes_pends(tmp_path):
    first = EngineHarness(make_engine(tmp_path, app(tmp_path), tags=("linux",)))
    await first.engine.start()
    run = await first.start_run("gpu-job", {"ref": "v1"})
    assert [p.run_id for p in first.hub.pends] == [run]
    await first.engine.stop()
    assert (tmp_path / "root" / "store" / "floe.db").is_file()

    second = EngineHarness(make_engine(tmp_path, app(tmp_path), tags=("gpu",)))
    await second.engine.start()
    try:
        end = await second.wait_tag("sys.end.all", run)
        assert end.good
        tg = next(e for e in second.events if e.tag == "trigger.good")
        assert tg.opts == {"ref": "v1"}
        # the counter survived too: the next run does not reuse h1-1
        assert await second.start_run("gpu-job") == "h1-2"
    finally:
        await second.engine.stop()


async def test_a_clean_stop_kills_tasks_and_the_restart_routes_them_interrupted(tmp_path):
    h = EngineHarness(make_engine(tmp_path, app(tmp_path)))
    await h.engine.start()
    run = await h.start_run("long")
    await h.wait_for(lambda e: e.opts.get("update") == "started")
    ws = h.hub.active[run].workspace
    pid = int((ws / "pid.txt").read_text())
    await h.engine.stop()
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    again = EngineHarness(make_engine(tmp_path, app(tmp_path)))
    await again.engine.start()
    try:
        await again.wait_tag("sys.end.all", run)
        record = await again.hub.find_run("long", run)
        assert (record.status, record.reason) == ("bad", "interrupted")
        assert "started" in record.exec_nodes["wait"].logs
    finally:
        await again.engine.stop()


def wait_for_log_row(db: Path, run: str, line: str, timeout: float = 30.0) -> None:
    """Until the engine's store has committed `line` of `run` (read as another process)."""
    def committed() -> bool:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as c:
            try:
                return c.execute("SELECT 1 FROM logs WHERE run_id = ? AND line = ?",
                                 (run, line)).fetchone() is not None
            except sqlite3.OperationalError:
                return False
    wait_until(committed, timeout, f"log line {line!r} of {run} committed")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


async def test_crashed_engine_leaves_no_run_running(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(textwrap.dedent(app(tmp_path)))
    root = tmp_path / "root"
    engine = subprocess.Popen(
        [sys.executable, "-m", "floecli.engine", f"-conf={conf}", f"-root={root}",
         "-tags=linux", "-start=long", "-events"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    run = ""
    try:
        assert engine.stdout is not None
        deadline = time.monotonic() + 30
        for line in engine.stdout:
            event = json.loads(line)
            if event["Tag"] == "sys.node.update" and event["Opts"]["update"] == "started":
                run = f'{event["RunRef"]["Run"]["HostID"]}-{event["RunRef"]["Run"]["ID"]}'
                break
            assert time.monotonic() < deadline, "the run never started"
        wait_for_log_row(root / "store" / "floe.db", run, "started")
        engine.send_signal(signal.SIGKILL)
        engine.wait(10)
    finally:
        if engine.poll() is None:
            engine.kill()
    ws = root / "spaces" / "long" / "ws" / run
    orphan = int((ws / "pid.txt").read_text())
    assert not _zombie(orphan)  # a crashed engine cannot kill its children...

    h = EngineHarness(make_engine(tmp_path, app(tmp_path)))
    await h.engine.start()
    try:
        await h.wait_tag("sys.end.all", run)
        assert _zombie(orphan)  # ...the next engine on its root does, before resuming
        assert not h.hub.active
        record = await h.hub.find_run("long", run)
        assert (record.status, record.reason) == ("bad", "interrupted")
        assert record.ended and record.end_time is not None
        assert "started" in record.exec_nodes["wait"].logs
        summaries = await h.hub.run_summaries("long")
        assert [s["Status"] for s in summaries["Archive"]] == ["bad"]
        assert summaries["Active"] == []
    finally:
        await h.engine.stop()
