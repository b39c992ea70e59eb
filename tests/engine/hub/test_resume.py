"""Runs resume after `kill -9` of a real engine process (DECISIONS §2): finished nodes keep
their results, a waiting form keeps waiting, a running task is interrupted or run again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flows import Flow, app, ask, end, flow, merge, task
from harness import EngineHarness, make_engine, wait_until

from floecli.engine.events import SYS_END_ALL, SYS_NODE_START, FlowRef

SLOW = "echo $$ > slow.pid; echo slow started; sleep 60\n"
AGAIN = ("if [ -e first ]; then echo second time; exit 0; fi\n"
         "touch first; echo $$ > again.pid; echo first time; sleep 60\n")


def resume_flows(tmp_path: Path) -> dict[str, Flow]:
    # floe expands `$NAME` in task values, so scripts that need `$$` live in files
    return {
        "branches": flow(
            "branches",
            task("quick", "echo quick done"),
            task("slow", f"bash {tmp_path / 'slow.sh'}"),
            merge("both", "task.quick.good", "task.slow.good"),
            end(listen="merge.both.good"),
            task("recover", "echo recovering", listen="task.slow.bad")),
        "approval": flow(
            "approval",
            ask("ask", "Go", {"id": "ok", "prompt": "OK", "type": "text"}),
            end(listen="task.ask.good")),
        "again": flow(
            "again",
            task("work", f"bash {tmp_path / 'again.sh'}", opts={"restart": "rerun"}),
            end(listen="task.work.good")),
    }


def write_app(tmp_path: Path) -> str:
    (tmp_path / "slow.sh").write_text(SLOW)
    (tmp_path / "again.sh").write_text(AGAIN)
    text = app(*resume_flows(tmp_path).values(), store_type="local")
    (tmp_path / "app.yml").write_text(text)
    return text


def run_row(db: Path, run: str) -> dict[str, Any] | None:
    """The run's record as the engine's store has committed it (read as another process)."""
    if not db.exists():
        return None  # the engine has not made its store yet (connecting would make a file)
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as c:
        try:
            row = c.execute("SELECT json FROM runs WHERE run_id = ?", (run,)).fetchone()
        except sqlite3.OperationalError:
            return None
    return json.loads(row[0]) if row else None


def crash_during(tmp_path: Path, flow: str,
                 ready: Callable[[dict[str, Any], Path], bool]) -> str:
    """Start a real engine with `-start=flow`, wait until the store shows `ready`, then
    kill -9 it, and the task processes it left (a dead engine cannot kill them). `ready`
    is given the run's stored record and its workspace. The id of the run."""
    root = tmp_path / "root"
    engine = subprocess.Popen(
        [sys.executable, "-m", "floecli.engine", f"-conf={tmp_path / 'app.yml'}",
         f"-root={root}", f"-start={flow}", "-events"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    try:
        assert engine.stdout is not None
        run = ""
        for line in engine.stdout:  # the first event of an adopted run names it
            ref = json.loads(line)["RunRef"]["Run"]
            if ref["ID"]:
                run = f'{ref["HostID"]}-{ref["ID"]}'
                break
        ws = root / "spaces" / flow / "ws" / run
        wait_until(lambda: (row := run_row(root / "store" / "floe.db", run)) and ready(row, ws),
                   30, f"run {run} of {flow} in the state to crash in")
        engine.send_signal(signal.SIGKILL)
        engine.wait(10)
    finally:
        if engine.poll() is None:
            engine.kill()
        engine.wait(10)
    for pid_file in (root / "spaces" / flow / "ws" / run).glob("*.pid"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
    return run


def integrity(tmp_path: Path) -> str:
    with contextlib.closing(sqlite3.connect(tmp_path / "root" / "store" / "floe.db")) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0]


def logged(row: dict[str, Any], node: str) -> bool:
    return (row.get("ExecNodes") or {}).get(node, {}).get("Started", "").startswith("2")


async def test_a_branch_that_finished_is_kept_and_the_running_one_is_interrupted(tmp_path):
    text = write_app(tmp_path)
    run = crash_during(tmp_path, "branches", lambda row, ws: (
        row["MergeNodes"].get("both", {}).get("Waits", {}).get("task.quick.good")
        and logged(row, "slow") and (ws / "slow.pid").exists()))
    h = EngineHarness(make_engine(tmp_path, text))
    await h.engine.start()
    try:
        await h.wait_tag("task.recover.good", run)  # the flow's own failure routing
        end = await h.wait_tag(SYS_END_ALL, run)
        record = await h.hub.find_run("branches", run)
    finally:
        await h.engine.stop()
    starts = [e.source_node.id for e in h.events if e.tag == SYS_NODE_START]
    assert starts == ["recover"]  # quick is not run again, slow is not restarted
    assert end.good  # recovered: the only unhandled events left were good
    assert record.exec_nodes["quick"].good
    assert record.exec_nodes["slow"].reason == "interrupted"
    assert record.exec_nodes["slow"].logs[-1].startswith("interrupted:")
    assert record.merge_nodes["both"].waits == {"task.quick.good": True}
    assert any(e.tag == "sys.state" and e.opts.get("action") == "resume" for e in h.events)
    assert integrity(tmp_path) == "ok"


async def test_a_run_waiting_on_a_form_keeps_waiting_and_finishes_when_pushed(tmp_path):
    text = write_app(tmp_path)
    run = crash_during(tmp_path, "approval",
                       lambda row, ws: row["DataNodes"].get("ask", {}).get("Enabled"))
    h = EngineHarness(make_engine(tmp_path, text))
    await h.engine.start()
    try:
        assert list(h.hub.active) == [run]
        await h.hub.push_data(FlowRef("approval", 1), run, "ask", {"ok": "yes"}, user="ann")
        end = await h.wait_tag(SYS_END_ALL, run)
        record = await h.hub.find_run("approval", run)
    finally:
        await h.engine.stop()
    assert end.good
    assert [s["User"] for s in record.data_nodes["ask"].submissions] == ["ann"]
    assert integrity(tmp_path) == "ok"


async def test_a_task_with_restart_rerun_runs_again(tmp_path):
    text = write_app(tmp_path)
    # crashed once the script has left its mark in the workspace, so the rerun can tell
    run = crash_during(tmp_path, "again",
                       lambda row, ws: logged(row, "work") and (ws / "again.pid").exists())
    h = EngineHarness(make_engine(tmp_path, text))
    await h.engine.start()
    try:
        end = await h.wait_tag(SYS_END_ALL, run)
        record = await h.hub.find_run("again", run)
        summaries = await h.hub.run_summaries("again")
    finally:
        await h.engine.stop()
    assert end.good
    assert "second time" in record.exec_nodes["work"].logs
    assert "running it again" in " ".join(record.exec_nodes["work"].logs)
    assert h.count(SYS_END_ALL, run) == 1
    assert [s["Ref"]["Run"]["ID"] for s in summaries["Archive"]] == [1]  # never active twice
    assert summaries["Active"] == [] and summaries["Pending"] == []
    assert integrity(tmp_path) == "ok"


async def test_a_run_whose_flow_was_removed_is_archived_interrupted(tmp_path):
    write_app(tmp_path)
    run = crash_during(tmp_path, "approval",
                       lambda row, ws: row["DataNodes"].get("ask", {}).get("Enabled"))
    without = app(*(f for id, f in resume_flows(tmp_path).items() if id != "approval"),
                  store_type="local")
    h = EngineHarness(make_engine(tmp_path, without))
    await h.engine.start()
    try:
        await h.wait_tag(SYS_END_ALL, run)
        record = await h.hub.find_run("approval", run)
    finally:
        await h.engine.stop()
    assert record.status == "bad"
    assert record.reason == "interrupted: flow approval ver 1 is no longer configured"


def test_start_once_on_a_flow_without_a_data_trigger_exits_with_a_message(tmp_path):
    (tmp_path / "app.yml").write_text(textwrap.dedent("""
    common: {store-type: memory}
    flows:
      - id: timed
        ver: 1
        tasks:
          - {name: work, listen: trigger.good, type: exec, opts: {cmd: "true"}}
    """))
    done = subprocess.run(
        [sys.executable, "-m", "floecli.engine", f"-conf={tmp_path / 'app.yml'}",
         f"-root={tmp_path / 'root'}", "-start=timed", "-once"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert "-start: flow 'timed' has no data trigger to start it" in done.stderr
    assert "Traceback" not in done.stderr
