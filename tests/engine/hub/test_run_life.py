"""How runs start, route, fail, stop and end (DECISIONS §2), with real subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from flows import app, end, flow, merge, one_task, task

FAN = app(flow(
    "fan",
    task("a", shell="echo a > a.txt"),
    task("b1", shell="sleep 0.2; echo b1 > b1.txt", listen="task.a.good"),
    task("b2", shell="echo b2 > b2.txt", listen="task.a.good"),
    task("b3", shell="sleep 0.1; echo b3 > b3.txt", listen="task.a.good"),
    merge("join", "task.b1.good", "task.b2.good", "task.b3.good"),
    task("c", shell="cat a.txt b1.txt b2.txt b3.txt", listen="merge.join.good"),
    end(listen="task.c.good")))


async def test_fan_out_fan_in(engine_factory):
    h = await engine_factory(FAN)
    end = await h.run_to_end("fan")
    run = end.run_ref.run_id
    assert end.good and end.source_node.id == "done"
    assert h.count("merge.join.good", run) == 1
    assert h.count("task.c.good", run) == 1
    assert h.lines(run, "c")[-4:] == ["a", "b1", "b2", "b3"]
    # the join fired only after all three branches
    tags = [e.tag for e in h.events if e.run_ref.run_id == run]
    assert tags.index("merge.join.good") > max(
        tags.index("task.b1.good"), tags.index("task.b2.good"), tags.index("task.b3.good"))
    ws = h.hub.workspace_root / "spaces" / "fan" / "ws" / run
    assert (ws / "b3.txt").read_text() == "b3\n"


FAILING = app(flow(
    "failing",
    task("slow", "sleep 30"),
    task("broken", shell="echo oops; exit 3"),
    task("never", "echo never", listen="task.broken.good")))


async def test_failing_task_fails_run_and_kills_siblings(engine_factory):
    h = await engine_factory(FAILING)
    end = await h.run_to_end("failing", timeout=20)
    run = end.run_ref.run_id
    assert not end.good
    assert end.source_node.id == "broken"
    assert h.count("task.never.good", run) == 0
    assert "exited with status: 3" in h.lines(run, "broken")
    record = await h.hub.find_run("failing", run)
    assert record.status == "bad"
    assert "task.broken.bad" in record.reason
    # the sibling `sleep 30` was killed with the run, long before it could finish
    assert run not in h.hub.active


STATUS = app(flow(
    "status",
    task("probe", shell="exit 2", use_status=True),
    task("on-two", "echo two", listen="task.probe.2"),
    task("on-zero", "echo zero", listen="task.probe.0"),
    task("flaky", shell="exit 9", listen="task.on-two.good", ignore_fail=True),
    task("accepts-one", shell="exit 1", listen="task.flaky.good", good=[0, 1]),
    end(listen="task.accepts-one.good")))


async def test_use_status_ignore_fail_and_good_list(engine_factory):
    h = await engine_factory(STATUS)
    end = await h.run_to_end("status")
    run = end.run_ref.run_id
    assert end.good and end.source_node.id == "done"
    probe = next(e for e in h.events if e.source_node.id == "probe" and e.tag.startswith("task"))
    assert probe.tag == "task.probe.2" and probe.good is False
    assert h.count("task.on-two.good", run) == 1
    assert h.count("task.on-zero.good", run) == 0
    assert h.count("task.flaky.good", run) == 1
    assert h.count("task.accepts-one.good", run) == 1


# floe expands `$NAME` in task values before bash sees them (floe-reference §1.9.2), so
# scripts that need `$$` live in a file.
LONG_SCRIPT = "echo $$ > pid.txt; sleep 300 & echo $! > child.txt; wait\n"


def stoppable(tmp_path: Path) -> str:
    script = tmp_path / "long.sh"
    script.write_text(LONG_SCRIPT)
    return app(one_task("stoppable", f"bash {script}", task_id="long"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


async def _dies(pid: int, timeout: float = 5) -> bool:
    for _ in range(int(timeout / 0.02)):
        if not _alive(pid):
            return True
        await asyncio.sleep(0.02)
    return False


async def _wait_file(path: Path, timeout: float = 10) -> str:
    for _ in range(int(timeout / 0.02)):
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never written")


async def test_stop_kills_every_process_of_the_run(engine_factory, tmp_path):
    h = await engine_factory(stoppable(tmp_path))
    run = await h.start_run("stoppable")
    await h.wait_tag("sys.node.start", run)
    ws = h.hub.active[run].workspace
    shell_pid = int(await _wait_file(ws / "pid.txt"))
    child_pid = int(await _wait_file(ws / "child.txt"))
    assert _alive(shell_pid) and _alive(child_pid)
    await h.hub.stop_run("stoppable", run)
    end = await h.wait_tag("sys.end.all", run)
    assert not end.good
    record = await h.hub.find_run("stoppable", run)
    assert (record.status, record.reason) == ("bad", "stopped")
    killed = next(iter(record.exec_nodes.values()))  # never left "running" in the archive
    assert killed.stopped is not None and killed.reason == "stopped" and not killed.good
    # Both were signalled before the stop returned; the kernel tears a process down
    # asynchronously, so give a loaded machine a moment to finish.
    assert await _dies(shell_pid)
    assert await _dies(child_pid)


TIMEOUT = app(flow(
    "slowpoke",
    task("slow", "sleep 60", opts={"timeout": 0.5}),
    task("cleanup", "echo cleaning", listen="task.slow.bad")))


async def test_task_timeout_is_a_bad_task(engine_factory):
    h = await engine_factory(TIMEOUT)
    end = await h.run_to_end("slowpoke", timeout=20)
    run = end.run_ref.run_id
    assert h.count("task.slow.bad", run) == 1
    assert any("timed out after 0.5 s" in line for line in h.lines(run, "slow"))
    # the bad result was handled, so the run ends good once idle
    assert h.count("task.cleanup.good", run) == 1
    assert end.good


SHARED = app(one_task("one", "sleep 0.3", resource_tags=["couchbase"]),
             one_task("two", "sleep 0.3", resource_tags=["nic", "couchbase"]))


async def test_resource_tag_serialises_runs(engine_factory):
    h = await engine_factory(SHARED)
    first = await h.start_run("one")
    await h.wait_tag("trigger.good", first)
    second = await h.start_run("two")
    await asyncio.sleep(0.05)
    pend = next(p for p in h.hub.pends if p.run_id == second)
    assert pend.reason == f"resource tag couchbase held by one {first}"
    third = await h.start_run("one")
    for run in (first, second, third):
        await h.wait_tag("sys.end.all", run)
    # never two of them active together: each activation follows the previous end
    seq = [(e.tag, e.run_ref.run_id) for e in h.events
           if e.tag in ("trigger.good", "sys.end.all")]
    active = 0
    for tag, _ in seq:
        active += 1 if tag == "trigger.good" else -1
        assert active <= 1, seq


HOST_TAGS = app(one_task("gpu-job", "echo on gpu", host_tags=["gpu"]))


async def test_pend_waits_for_host_tags_with_reason(engine_factory):
    h = await engine_factory(HOST_TAGS, tags=("linux",))
    run = await h.start_run("gpu-job")
    await asyncio.sleep(0.05)
    assert [p.reason for p in h.hub.pends] == ["no host has tags [gpu]"]
    summaries = await h.hub.run_summaries("gpu-job")
    assert summaries["Pending"][0]["Status"] == "pending"
    assert summaries["Pending"][0]["Reason"] == "no host has tags [gpu]"
    assert run not in h.hub.active


MISSING = app(one_task("missing", "no-such-command-floe --x", task_id="bad"),
              one_task("fine", "echo still here", task_id="ok"))


async def test_missing_command_is_a_bad_task_and_engine_goes_on(engine_factory):
    h = await engine_factory(MISSING)
    end = await h.run_to_end("missing")
    run = end.run_ref.run_id
    assert not end.good
    lines = h.lines(run, "bad")
    assert 'exec: "no-such-command-floe": executable file not found in $PATH' in lines
    assert "exited with status: 1" in lines
    end2 = await h.run_to_end("fine")
    assert end2.good
    assert "still here" in h.lines(end2.run_ref.run_id, "ok")


ENV = app(one_task(
    "env", shell="echo $FLOW_VAR $TASK_VAR $SHARED; echo $OUT; echo FLOEWS=$FLOEWS",
    task_id="show", opts={"env": ["TASK_VAR=from-task", "SHARED=task", "OUT=./out"]},
    env=["FLOW_VAR=from-flow", "SHARED=flow"]))


async def test_task_env_is_appended_to_flow_env(engine_factory):
    h = await engine_factory(ENV)
    end = await h.run_to_end("env")
    run = end.run_ref.run_id
    ws = h.hub.workspace_root / "spaces" / "env" / "ws" / run
    lines = h.lines(run, "show")
    assert "from-flow from-task task" in lines
    assert f"{ws}/out" in lines
    assert f"FLOEWS={ws}" in lines


QUIET = app(flow(
    "quiet",
    task("fast", "true"),
    task("slow", "sleep 0.5"),
    task("after-slow", "echo last", listen="task.slow.good")))


async def test_unhandled_good_does_not_end_run_early(engine_factory):
    h = await engine_factory(QUIET)
    end = await h.run_to_end("quiet")
    run = end.run_ref.run_id
    assert end.good
    # task.fast.good is unhandled, yet the run waited for the slow branch to finish
    assert h.count("task.after-slow.good", run) == 1


async def test_timer_task_waits_its_period(engine_factory):
    h = await engine_factory(app(flow("wait", task("pause", type="timer", opts={"period": 0.3}),
                                      end(listen="task.pause.good"))))
    run = await h.start_run("wait", {"branch": "main"})
    start = await h.wait_tag("sys.node.start", run)
    good = await h.wait_tag("task.pause.good", run)
    assert good.opts == {"branch": "main"}
    start_t = next(i for i, e in enumerate(h.events) if e is start)
    assert h.events.index(good) > start_t
    record = await h.hub.find_run("wait", run)
    node = record.exec_nodes["pause"]
    assert (node.stopped - node.started).total_seconds() >= 0.3


async def test_engine_keeps_serving_after_signal_to_task(engine_factory, tmp_path):
    h = await engine_factory(stoppable(tmp_path))
    run = await h.start_run("stoppable")
    await h.wait_tag("sys.node.start", run)
    ws = h.hub.active[run].workspace
    shell_pid = int(await _wait_file(ws / "pid.txt"))
    os.killpg(shell_pid, signal.SIGKILL)
    end = await h.wait_tag("sys.end.all", run)
    assert not end.good
    assert h.count("task.long.bad", run) == 1
