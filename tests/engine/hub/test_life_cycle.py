"""The run life cycle: every transition owned by hub/state.py, atomic, and refusing run ids it
already knows; the task boundary is total (issue: run life cycle with one owner)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from contribs import make_dir
from flows import TWO_FLOWS, app, flow, merge, one_task, task, trigger_node
from harness import EngineHarness, make_engine, wait_until

from floecli.engine.errors import StoreError
from floecli.engine.events import SYS_END_ALL, TRIGGER_GOOD, FlowRef, HostedID, NodeRef, RunRef
from floecli.engine.hub.workspace import prepare_workspace
from floecli.engine.pend import Pend
from floecli.engine.runs import now

ONE_STORED_FLOW = app(one_task("a", "echo ran"), store_type="local")
TWO_FLOWS_APP = app(*TWO_FLOWS)


async def test_stopping_a_pend_while_dispatch_prepares_another_run(engine_factory):
    h = await engine_factory(TWO_FLOWS_APP)
    entered, release = threading.Event(), threading.Event()

    async def prepare(path: Path, *, reuse: bool) -> None:
        if "/spaces/a/" in str(path):
            entered.set()
            assert await asyncio.to_thread(release.wait, 30), "the workspace was never released"
        await prepare_workspace(path, reuse=reuse)

    h.hub.dispatcher.prepare = prepare
    run_a = await h.start_run("a")
    run_b = await h.start_run("b")  # both pending when the dispatcher wakes
    assert await asyncio.to_thread(entered.wait, 30)
    # The stop lands while run a's activation is under way; whichever way the two interleave,
    # b is stopped once and never runs to an end of its own.
    stopping = asyncio.ensure_future(h.hub.stop_run("b", run_b))
    release.set()
    await asyncio.wait_for(stopping, 30)
    await h.wait_tag(SYS_END_ALL, run_a)
    record = await h.hub.find_run("b", run_b)
    assert (record.status, record.reason) == ("bad", "stopped")
    assert h.count(SYS_END_ALL, run_b) == 1
    assert h.count("task.work.good", run_b) == 0
    assert not h.hub.pends and not h.hub.active


async def test_stopping_a_pending_run(engine_factory):
    h = await engine_factory(app(one_task("gpu", "true", host_tags=["gpu"])))
    run = await h.start_run("gpu")
    await h.hub.stop_run("gpu", run)
    record = await h.hub.find_run("gpu", run)
    assert (record.status, record.reason) == ("bad", "stopped")
    assert h.hub.pends == [] and h.count(SYS_END_ALL, run) == 1


def _peer_pend(flow, run_id: int = 5) -> Pend:
    return Pend(RunRef(flow.ref, HostedID("h2", run_id)), flow, NodeRef("trigger", "start"),
                {}, created=now())


async def test_a_p2p_pend_handed_over_twice_runs_once(engine_factory):
    h = await engine_factory(TWO_FLOWS_APP)
    flow = h.hub.config.latest_flow("a")
    assert await h.hub.execute_pend(_peer_pend(flow)) == ""
    again = await h.hub.execute_pend(_peer_pend(flow))
    assert "already known" in again
    await h.wait_tag(SYS_END_ALL, "h2-5")
    # and once archived, the store still knows it
    assert "already known" in await h.hub.execute_pend(_peer_pend(flow))
    assert h.count(TRIGGER_GOOD, "h2-5") == 1
    assert h.count(SYS_END_ALL, "h2-5") == 1


BROKEN = '''\
import asyncio

from floecli.engine.nodes import BaseTask, TaskContext


class Raises(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        ctx.log("about to fail")
        raise RuntimeError("kaput")


class TimesOut(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        raise TimeoutError("the remote end never answered")


class NotAStatus(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        return "ok"
'''


def _vendor(tmp_path: Path) -> Path:
    vendor = tmp_path / "vendor"
    files = {"broken/__init__.py": BROKEN}
    for name, attr in (("raises", "Raises"), ("times-out", "TimesOut"),
                       ("not-a-status", "NotAStatus")):
        files[f"broken_{attr.lower()}/__init__.py"] = f"from broken import {attr}\n"
        files[f"broken_{attr.lower()}/descriptor.json"] = json.dumps({
            "name": name, "type": "floe:task", "version": "1.0.0",
            "main": f"broken_{attr.lower()}:{attr}", "opts": {"type": "object"}})
    make_dir(vendor, files)
    return vendor


def _broken_app(task_type: str, handled: bool) -> str:
    handler = [task("handler", "echo handled", listen="task.t.error")] if handled else []
    return app(flow("x", task("t", type=task_type), *handler))


async def test_a_raising_contribution_publishes_its_error_event(engine_factory, tmp_path):
    h = await engine_factory(_broken_app("raises", handled=True), vendor=(_vendor(tmp_path),))
    end = await h.run_to_end("x")
    run = end.run_ref.run_id
    assert h.count("task.t.error", run) == 1
    assert h.lines(run, "t") == ["about to fail", "error: RuntimeError: kaput"]
    assert "handled" in h.lines(run, "handler")  # the flow's routing was followed
    record = await h.hub.find_run("x", run)
    assert record.exec_nodes["t"].reason == "error" and not record.exec_nodes["t"].good


async def test_an_unhandled_error_fails_the_run(engine_factory, tmp_path):
    h = await engine_factory(_broken_app("raises", handled=False), vendor=(_vendor(tmp_path),))
    end = await h.run_to_end("x")
    assert not end.good
    record = await h.hub.find_run("x", end.run_ref.run_id)
    assert (record.status, record.reason) == ("bad", "task.t.error was not handled")


async def test_a_timeout_error_of_the_task_is_not_floes_timeout(engine_factory, tmp_path):
    h = await engine_factory(_broken_app("times-out", handled=False),
                             vendor=(_vendor(tmp_path),))
    end = await h.run_to_end("x")
    run = end.run_ref.run_id
    assert not end.good and h.count("task.t.error", run) == 1
    assert h.lines(run, "t") == ["error: TimeoutError: the remote end never answered"]


async def test_a_result_that_is_not_a_status_is_an_error(engine_factory, tmp_path):
    h = await engine_factory(_broken_app("not-a-status", handled=False),
                             vendor=(_vendor(tmp_path),))
    end = await h.run_to_end("x")
    assert h.count("task.t.error", end.run_ref.run_id) == 1
    assert "returned 'ok', not an exit status" in h.lines(end.run_ref.run_id, "t")[-1]


async def test_binary_garbage_output_is_logged_and_the_run_goes_on(engine_factory):
    h = await engine_factory(app(one_task(
        "x", shell=r"printf 'a\377\000\376b\n'; head -c 5000 /dev/urandom", task_id="t")))
    end = await h.run_to_end("x")
    assert end.good
    assert h.lines(end.run_ref.run_id, "t")[3] == "a\ufffd\x00\ufffdb"


async def test_merge_any_fires_once(engine_factory):
    h = await engine_factory(app(flow(
        "m",
        task("one", "true"),
        task("two", "true"),
        merge("either", "task.one.good", "task.two.good", type="any"),
        task("after", "echo after", listen="merge.either.good"))))
    end = await h.run_to_end("m")
    run = end.run_ref.run_id
    assert end.good
    assert h.count("merge.either.good", run) == 1
    assert h.count("task.after.good", run) == 1
    record = await h.hub.find_run("m", run)
    assert record.merge_nodes["either"].waits == {"task.one.good": True, "task.two.good": True}


async def test_reuse_space_serialises_runs_and_keeps_the_workspace(engine_factory):
    h = await engine_factory(app(one_task(
        "r", shell="ls; echo x >> runs.txt; wc -l < runs.txt", task_id="t", reuse_space=True)))
    first = await h.start_run("r")
    second = await h.start_run("r")
    await h.wait_tag("sys.node.start", first)
    pend = next(p for p in h.hub.pends if p.run_id == second)
    assert pend.reason == f"reuse-space held by {first}"
    await h.wait_tag(SYS_END_ALL, first)
    end = await h.wait_tag(SYS_END_ALL, second)
    assert end.good
    assert h.lines(second, "t")[-1].strip() == "2"  # the first run's file was kept
    assert h.lines(second, "t")[3] == "runs.txt"


COUNTER_TRIGGER = '''\
import asyncio

from floecli.engine.nodes import TriggerContext


class Counter:
    """Fires once per engine start, numbering its fires in its stored state."""

    async def watch(self, ctx: TriggerContext) -> None:
        n = (await ctx.load("fired")) or 0
        ctx.save("fired", n + 1)
        ctx.fire({"n": n})
'''


async def test_a_trigger_fires_runs_and_keeps_its_state_across_restarts(tmp_path):
    vendor = tmp_path / "vendor"
    make_dir(vendor, {"counter/__init__.py": COUNTER_TRIGGER,
                      "counter/descriptor.json": json.dumps({
                          "name": "counter", "type": "floe:trigger", "version": "1.0.0",
                          "main": "counter:Counter", "opts": {"type": "object"}})})
    counted = app(flow("counted", task("t", "true"), triggers=[trigger_node("tick", "counter")]),
                  store_type="local")
    seen = []
    for _ in range(2):
        h = EngineHarness(make_engine(tmp_path, counted, vendor=(vendor,)))
        await h.engine.start()
        try:
            trigger = await h.wait_tag(TRIGGER_GOOD)
            seen.append(trigger.opts["n"])
            await h.wait_tag(SYS_END_ALL, trigger.run_ref.run_id)
        finally:
            await h.engine.stop()
    assert seen == [0, 1]


async def test_a_refused_activation_runs_nothing_until_the_store_takes_it(tmp_path):
    # Write ahead: the run's tasks execute only once its activation is committed. The
    # store refuses the run's insert; the task's side effect (a line outside the workspace)
    # must not happen, and once the fault is gone the run runs once, without a restart.
    side = tmp_path / "side-effects"
    adopted = app(one_task("a", shell=f"basename $FLOEWS >> {side}", task_id="t"),
                  store_type="local")
    db = tmp_path / "root" / "store" / "floe.db"
    h = EngineHarness(make_engine(tmp_path, adopted))
    await h.engine.start()
    await h.engine.stop()  # the store exists now
    with contextlib.closing(sqlite3.connect(db)) as c:
        c.execute("CREATE TRIGGER fail_activation BEFORE INSERT ON runs "
                  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        c.commit()
    h = EngineHarness(make_engine(tmp_path, adopted))
    await h.engine.start()
    try:
        run = await h.start_run("a")
        pend = await h.wait_until(
            lambda: next((p for p in h.hub.pends if "could not start" in p.reason), None),
            what="the refused start to be the pend's reason")
        assert "injected failure" in pend.reason
        assert h.count(TRIGGER_GOOD, run) == 0 and not side.exists()
        with contextlib.closing(sqlite3.connect(db)) as c:
            c.execute("DROP TRIGGER fail_activation")
            c.commit()
        end = await h.wait_tag(SYS_END_ALL, run, timeout=60)  # retried, with backoff
        assert end.good and h.count(TRIGGER_GOOD, run) == 1
    finally:
        await h.engine.stop()
    assert side.read_text().splitlines() == [run]
    with contextlib.closing(sqlite3.connect(db)) as c:
        assert c.execute("SELECT count(*) FROM pends").fetchone() == (0,)
        assert c.execute("SELECT run_id, state FROM runs").fetchall() == [(run, "archive")]


async def test_a_run_s_activation_writes_the_nodes_its_first_event_starts(tmp_path):
    # One commit starts a run: the write that activates it already records the task its
    # trigger event started (that event routed), so the task waits for that commit alone.
    h = EngineHarness(make_engine(tmp_path, app(one_task("a", "true", task_id="t"))))
    written = []
    real = h.hub.store.activate

    def activate(record):
        written.append(copy.deepcopy(record))  # as this write stores it
        return real(record)

    h.hub.store.activate = activate
    await h.engine.start()
    try:
        run = await h.start_run("a")
        assert (await h.wait_tag(SYS_END_ALL, run)).good
    finally:
        await h.engine.stop()
    (record,) = written
    assert record.run_id == run
    assert record.exec_nodes["t"].started is not None and record.exec_nodes["t"].running
    assert record.queued == []  # routed, so a restart starts the task, not the event again
    assert h.count(TRIGGER_GOOD, run) == 1


async def test_a_new_run_id_is_above_every_run_the_store_holds(tmp_path):
    # Runs written to the store apart from this engine's counter (a restored backup, a bench
    # filling an archive): a new run never takes an id the store already holds, which would
    # overwrite an archived run (and, now that starts are written ahead, never start).
    db = tmp_path / "root" / "store" / "floe.db"
    h = EngineHarness(make_engine(tmp_path, ONE_STORED_FLOW))
    await h.engine.start()
    first = await h.start_run("a")
    await h.wait_tag(SYS_END_ALL, first)
    await h.engine.stop()
    with contextlib.closing(sqlite3.connect(db)) as c:
        (text,) = c.execute("SELECT json FROM runs WHERE run_id = ?", (first,)).fetchone()
        for n in range(2, 6):  # h1-2 .. h1-5, archived, the counter left at 1
            c.execute("INSERT INTO runs (run_id, flow_id, state, start_time, json) "
                      "VALUES (?, 'a', 'archive', 0, ?)", (f"h1-{n}", text))
        c.commit()
    h = EngineHarness(make_engine(tmp_path, ONE_STORED_FLOW))
    await h.engine.start()
    try:
        run = await h.start_run("a")
        assert run == "h1-6"
        assert (await h.wait_tag(SYS_END_ALL, run)).good
    finally:
        await h.engine.stop()


async def test_submit_names_the_runs_it_started(engine_factory):
    h = await engine_factory(TWO_FLOWS_APP)
    assert await h.hub.submit(FlowRef("a", 1)) == ["h1-1"]
    assert await h.hub.submit(FlowRef("nope", 1)) == []
    assert sorted(await h.hub.submit(FlowRef(""))) == ["h1-2", "h1-3"]  # every data trigger


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


ESCAPE = "setsid bash -c 'echo $$ > escaped.pid; exec sleep 300' & echo started; sleep 300\n"


async def test_a_stop_kills_processes_that_left_the_run_group(engine_factory, tmp_path):
    (tmp_path / "escape.sh").write_text(ESCAPE)
    h = await engine_factory(app(one_task("s", f"bash {tmp_path}/escape.sh", task_id="t")))
    run = await h.start_run("s")
    await h.wait_for(lambda e: e.opts.get("update") == "started")
    pid_file = h.hub.active[run].workspace / "escaped.pid"
    pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 30,
                         "the escaped child's pid"))
    assert _alive(pid)
    await h.hub.stop_run("s", run)
    # polled off the loop: the engine kills it on this loop
    await asyncio.to_thread(wait_until, lambda: not _alive(pid), 30,
                            f"the escaped process {pid} to be killed")


DAEMON = "setsid bash -c 'echo $$ > daemon.pid; exec sleep 300' >/dev/null 2>&1 &"


async def daemon_pid(h, run: str) -> int:
    pid_file = h.hub.workspace_root / "spaces" / "s" / "ws" / run / "daemon.pid"
    return int(await asyncio.to_thread(
        wait_until, lambda: pid_file.exists() and pid_file.read_text().strip(), 30,
        "the daemon's pid"))


@pytest.mark.parametrize("script", [
    f"{DAEMON} sleep 300",  # killed by its timeout
    # ended by itself once the daemon is up, the run ends good
    f"{DAEMON} until test -s daemon.pid; do sleep 0.01; done; echo done",
])
async def test_a_daemon_a_task_left_dies_with_its_task_or_run(engine_factory, script):
    h = await engine_factory(app(one_task("s", shell=script, task_id="t", opts={"timeout": 1})))
    run = await h.start_run("s")
    pid = await daemon_pid(h, run)
    end = await h.wait_tag("sys.end.all", run)
    assert end.good == script.endswith("done")
    await asyncio.to_thread(wait_until, lambda: not _alive(pid), 30,
                            f"the daemon {pid} to be killed")


async def test_a_timeout_kills_its_tasks_daemon_while_the_run_goes_on(engine_factory):
    # The timeout is handled and another task keeps the run going: the daemon dies with its
    # task's timeout, not with the run's end.
    h = await engine_factory(app(flow(
        "s", task("t", shell=f"{DAEMON} sleep 300", opts={"timeout": 1}),
        task("handled", "true", listen="task.t.bad"), task("other", "sleep 300"))))
    run = await h.start_run("s")
    pid = await daemon_pid(h, run)
    await h.wait_tag("task.t.bad", run)
    await asyncio.to_thread(wait_until, lambda: not _alive(pid), 30,
                            f"the daemon {pid} to be killed by its task's timeout")
    assert run in h.hub.active  # the run has not ended: the timeout killed it
    await h.hub.stop_run("s", run)


async def test_a_failing_dispatch_of_one_pend_never_stops_the_dispatcher(engine_factory):
    h = await engine_factory(TWO_FLOWS_APP)

    async def prepare(path: Path, *, reuse: bool) -> None:
        if "/spaces/a/" in str(path):
            raise RuntimeError("a bug in preparing this one workspace")
        await prepare_workspace(path, reuse=reuse)

    h.hub.dispatcher.prepare = prepare
    stuck = await h.start_run("a")
    end = await h.run_to_end("b")
    assert end.good
    pend = next(p for p in h.hub.pends if p.run_id == stuck)
    assert "could not be dispatched: a bug in preparing" in pend.reason


async def test_a_run_the_store_cannot_make_durable_is_not_adopted(engine_factory):
    h = await engine_factory(ONE_STORED_FLOW)
    journal = h.hub.store._journal
    writable, journal._fd = journal._fd, os.open(os.devnull, os.O_RDONLY)  # writes fail now
    try:
        with pytest.raises(StoreError, match="cannot write the intake journal"):
            await h.hub.submit(FlowRef("a", 1), "start")
        assert h.hub.pends == [] and h.hub.active == {}  # nothing half-adopted
    finally:
        os.close(journal._fd)
        journal._fd = writable
    end = await h.run_to_end("a")  # the next push works
    assert end.good
