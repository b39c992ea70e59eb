"""How runs start, route, fail, stop and end (DECISIONS §2), with real subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

FAN = """
flows:
  - id: fan
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: a, listen: trigger.good, type: exec, opts: {shell: "echo a > a.txt"}}
      - {name: b1, listen: task.a.good, type: exec, opts: {shell: "sleep 0.2; echo b1 > b1.txt"}}
      - {name: b2, listen: task.a.good, type: exec, opts: {shell: "echo b2 > b2.txt"}}
      - {name: b3, listen: task.a.good, type: exec, opts: {shell: "sleep 0.1; echo b3 > b3.txt"}}
      - {name: join, class: merge, type: all,
         wait: [task.b1.good, task.b2.good, task.b3.good]}
      - {name: c, listen: merge.join.good, type: exec,
         opts: {shell: "cat a.txt b1.txt b2.txt b3.txt"}}
      - {name: done, listen: task.c.good, type: end}
"""


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


FAILING = """
flows:
  - id: failing
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: slow, listen: trigger.good, type: exec, opts: {cmd: "sleep 30"}}
      - {name: broken, listen: trigger.good, type: exec, opts: {shell: "echo oops; exit 3"}}
      - {name: never, listen: task.broken.good, type: exec, opts: {cmd: "echo never"}}
"""


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


STATUS = """
flows:
  - id: status
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: probe, listen: trigger.good, type: exec, use-status: true,
         opts: {shell: "exit 2"}}
      - {name: on-two, listen: task.probe.2, type: exec, opts: {cmd: "echo two"}}
      - {name: on-zero, listen: task.probe.0, type: exec, opts: {cmd: "echo zero"}}
      - {name: flaky, listen: task.on-two.good, type: exec, ignore-fail: true,
         opts: {shell: "exit 9"}}
      - {name: accepts-one, listen: task.flaky.good, type: exec, good: [0, 1],
         opts: {shell: "exit 1"}}
      - {name: done, listen: task.accepts-one.good, type: end}
"""


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


STOPPABLE = """
flows:
  - id: stoppable
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - name: long
        listen: trigger.good
        type: exec
        opts: {cmd: "bash SCRIPT"}
"""

# floe expands `$NAME` in task values before bash sees them (floe-reference §1.9.2), so
# scripts that need `$$` live in a file.
LONG_SCRIPT = "echo $$ > pid.txt; sleep 300 & echo $! > child.txt; wait\n"


def stoppable(tmp_path: Path) -> str:
    script = tmp_path / "long.sh"
    script.write_text(LONG_SCRIPT)
    return STOPPABLE.replace("SCRIPT", str(script))


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


TIMEOUT = """
flows:
  - id: slowpoke
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: slow, listen: trigger.good, type: exec, opts: {cmd: "sleep 60", timeout: 0.5}}
      - {name: cleanup, listen: task.slow.bad, type: exec, opts: {cmd: "echo cleaning"}}
"""


async def test_task_timeout_is_a_bad_task(engine_factory):
    h = await engine_factory(TIMEOUT)
    end = await h.run_to_end("slowpoke", timeout=20)
    run = end.run_ref.run_id
    assert h.count("task.slow.bad", run) == 1
    assert any("timed out after 0.5 s" in line for line in h.lines(run, "slow"))
    # the bad result was handled, so the run ends good once idle
    assert h.count("task.cleanup.good", run) == 1
    assert end.good


SHARED = """
flows:
  - id: one
    ver: 1
    resource-tags: [couchbase]
    triggers: [{name: start, type: data}]
    tasks:
      - {name: work, listen: trigger.good, type: exec, opts: {cmd: "sleep 0.3"}}
  - id: two
    ver: 1
    resource-tags: [nic, couchbase]
    triggers: [{name: start, type: data}]
    tasks:
      - {name: work, listen: trigger.good, type: exec, opts: {cmd: "sleep 0.3"}}
"""


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


HOST_TAGS = """
flows:
  - id: gpu-job
    ver: 1
    host-tags: [gpu]
    triggers: [{name: start, type: data}]
    tasks:
      - {name: work, listen: trigger.good, type: exec, opts: {cmd: "echo on gpu"}}
"""


async def test_pend_waits_for_host_tags_with_reason(engine_factory):
    h = await engine_factory(HOST_TAGS, tags=("linux",))
    run = await h.start_run("gpu-job")
    await asyncio.sleep(0.05)
    assert [p.reason for p in h.hub.pends] == ["no host has tags [gpu]"]
    summaries = await h.hub.run_summaries("gpu-job")
    assert summaries["Pending"][0]["Status"] == "pending"
    assert summaries["Pending"][0]["Reason"] == "no host has tags [gpu]"
    assert run not in h.hub.active


MISSING = """
flows:
  - id: missing
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: bad, listen: trigger.good, type: exec, opts: {cmd: "no-such-command-floe --x"}}
  - id: fine
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: ok, listen: trigger.good, type: exec, opts: {cmd: "echo still here"}}
"""


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


ENV = """
flows:
  - id: env
    ver: 1
    env: [FLOW_VAR=from-flow, SHARED=flow]
    triggers: [{name: start, type: data}]
    tasks:
      - name: show
        listen: trigger.good
        type: exec
        opts:
          env: [TASK_VAR=from-task, SHARED=task, OUT=./out]
          shell: "echo $FLOW_VAR $TASK_VAR $SHARED; echo $OUT; echo FLOEWS=$FLOEWS"
"""


async def test_task_env_is_appended_to_flow_env(engine_factory):
    h = await engine_factory(ENV)
    end = await h.run_to_end("env")
    run = end.run_ref.run_id
    ws = h.hub.workspace_root / "spaces" / "env" / "ws" / run
    lines = h.lines(run, "show")
    assert "from-flow from-task task" in lines
    assert f"{ws}/out" in lines
    assert f"FLOEWS={ws}" in lines


QUIET = """
flows:
  - id: quiet
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: fast, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - {name: slow, listen: trigger.good, type: exec, opts: {cmd: "sleep 0.5"}}
      - {name: after-slow, listen: task.slow.good, type: exec, opts: {cmd: "echo last"}}
"""


async def test_unhandled_good_does_not_end_run_early(engine_factory):
    h = await engine_factory(QUIET)
    end = await h.run_to_end("quiet")
    run = end.run_ref.run_id
    assert end.good
    # task.fast.good is unhandled, yet the run waited for the slow branch to finish
    assert h.count("task.after-slow.good", run) == 1


async def test_timer_task_waits_its_period(engine_factory):
    h = await engine_factory("""
    flows:
      - id: wait
        ver: 1
        triggers: [{name: start, type: data}]
        tasks:
          - {name: pause, listen: trigger.good, type: timer, opts: {period: 0.3}}
          - {name: done, listen: task.pause.good, type: end}
    """)
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
