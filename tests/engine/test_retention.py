"""Retention through a real engine (SQLite store, real subprocesses): which archived runs go,
and that their node logs, log files and workspaces go with them, never a kept run's, an active
run's or a shared reuse-space workspace."""

from __future__ import annotations

import time

import pytest
from flows import app, rerun_flows

from floecli.engine.config.loader import parse_app
from floecli.engine.errors import RunError
from floecli.engine.retention import select
from floecli.engine.store.base import KEPT_PREFIX, ArchivedRun

APP = """
common:
  store-type: local
  retention: {keep: 2}
flows:
  - id: a
    ver: 1
    artifacts: [f.txt]
    triggers: [{name: start, type: data}]
    tasks:
      - {name: work, listen: trigger.good, type: exec,
         opts: {shell: "echo out > f.txt; echo logged"}}
  - id: shared
    ver: 1
    reuse-space: true
    retention: {keep: 1}
    triggers: [{name: start, type: data}]
    tasks:
      - {name: work, listen: trigger.good, type: exec, opts: {shell: "echo x >> f.txt"}}
  - id: wait
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: form, listen: trigger.good, type: data,
         opts: {form: {title: T, fields: [{id: x, type: string}]}}}
"""


async def test_keep_newest_n_with_logs_and_workspaces(engine_factory):
    h = await engine_factory(APP)
    hub = h.hub
    runs = [(await h.run_to_end("a")).run_ref.run_id for _ in range(5)]
    for _ in range(3):
        await h.run_to_end("shared")
    waiting = await h.start_run("wait")
    await h.wait_tag("sys.data.required", waiting)
    hub.store.put(KEPT_PREFIX + runs[0], True)  # as POST …/runs/:rid/keep does
    await h.engine.pruner.prune()

    archive, total = await hub.archive_summaries("a")
    left = {f"{s['Ref']['Run']['HostID']}-{s['Ref']['Run']['ID']}" for s in archive}
    assert left == {runs[0], runs[3], runs[4]} and total == 3
    spaces = hub.workspace_root / "spaces"
    for run in runs[1:3]:
        assert await hub.store.load_run(run) is None
        assert await hub.node_logs(run) == {}
        assert not (spaces / "a" / "ws" / run).exists()
        assert not (hub.workspace_root / "artifacts" / "a" / run).exists()  # kept with it
    for run in (runs[0], *runs[3:]):
        assert (await hub.node_logs(run))["work"][-1] == "logged"
        assert (spaces / "a" / "ws" / run / "f.txt").is_file()
        assert (hub.workspace_root / "artifacts" / "a" / run / "f.txt").is_file()
    # the shared workspace stays, with what all three runs wrote; one archived run is left
    assert (spaces / "shared" / "ws" / "single" / "f.txt").read_text() == "x\nx\nx\n"
    assert (await hub.archive_summaries("shared"))[1] == 1
    # the active run is untouched
    assert hub.state.active(waiting) is not None
    assert (spaces / "wait" / "ws" / waiting).is_dir()


async def test_the_engine_prunes_at_start(engine_factory):
    h = await engine_factory(APP.replace("keep: 2", "keep: 1"))
    first = [(await h.run_to_end("a")).run_ref.run_id for _ in range(3)]
    await h.engine.stop()
    h2 = await engine_factory(APP.replace("keep: 2", "keep: 1"))
    await h2.wait_until(lambda: h2.engine.pruner.passes >= 1, what="a first pass")
    archive, total = await h2.hub.archive_summaries("a")
    assert total == 1 and archive[0]["Ref"]["Run"]["ID"] == int(first[-1].split("-")[1])


def test_select_by_age_and_count():
    config = parse_app("""
common: {store-type: memory, retention: {days: 1}}
flows:
  - {id: a, tasks: [{name: t, listen: trigger.good}]}
  - {id: b, retention: {keep: 1, days: 0}, tasks: [{name: t, listen: trigger.good}]}
  - {id: c, retention: {}, tasks: [{name: t, listen: trigger.good}]}
""")
    now = time.time()
    day = 86400
    index = [ArchivedRun("h1-3", "a", now - 10), ArchivedRun("h1-2", "a", now - 2 * day),
             ArchivedRun("h1-1", "a", now - 3 * day, kept=True),
             ArchivedRun("h1-6", "b", now - 3 * day), ArchivedRun("h1-5", "b", now - 4 * day),
             ArchivedRun("h1-9", "c", now - 9 * day)]
    assert [v.run_id for v in select(index, config, now)] == ["h1-2", "h1-5"]


WORKSPACES_APP = """
common: {store-type: local}
flows:
  - id: ci
    ver: 1
    artifacts: [build.tgz]
    retention: {workspaces: 1}
    triggers: [{name: start, type: data}]
    tasks:
      - {name: build, listen: trigger.good, type: exec,
         opts: {shell: "echo tgz > build.tgz; echo scratch > scratch.txt"}}
      - {name: test, listen: task.build.good, type: exec, opts: {shell: "cat scratch.txt"}}
"""


async def test_workspaces_retention_keeps_records_logs_and_artifacts(engine_factory):
    # Workspaces are what fills a disk: beyond the newest `workspaces` runs of a flow only
    # the workspace goes; the record, its logs and its kept artifacts stay.
    h = await engine_factory(WORKSPACES_APP)
    hub = h.hub
    runs = [(await h.run_to_end("ci")).run_ref.run_id for _ in range(3)]
    report = await h.engine.pruner.prune()
    assert (report.runs, report.workspaces) == (0, 2)
    spaces = hub.workspace_root / "spaces" / "ci" / "ws"
    for run in runs[:2]:
        assert not (spaces / run).exists()
        assert (await hub.store.load_run(run)).ended
        assert (await hub.node_logs(run))["test"][-1] == "scratch"
        assert (hub.workspace_root / "artifacts" / "ci" / run / "build.tgz").read_text() == "tgz\n"
    assert (spaces / runs[2] / "scratch.txt").is_file()
    # a re-run from a node that needs the pruned workspace says so
    with pytest.raises(RunError, match="its workspace is gone"):
        await hub.rerun("ci", runs[0], "test")
    await hub.rerun("ci", runs[2], "test")  # the newest still has its workspace


RERUN_APP = app(*rerun_flows(), store_type="local")


async def test_the_original_of_a_waiting_re_run_from_a_node_is_not_pruned(engine_factory):
    # A re-run from a node copies its original's workspace when it starts and shows its
    # carried nodes' logs from the original: retention must not take the original first.
    h = await engine_factory(RERUN_APP)
    hub = h.hub
    old, new = [(await h.run_to_end("ci")).run_ref.run_id for _ in range(2)]
    holder = await h.start_run("holder")
    await h.wait_tag("sys.data.required", holder)  # holds `box`: the re-run must wait
    pend = await hub.rerun("ci", old, "test")
    assert hub.state.pend(pend.run_id) is not None
    report = await h.engine.pruner.prune()
    assert report.runs == 0  # `old` is beyond keep: 1, but the re-run needs it
    assert (hub.workspace_root / "spaces" / "ci" / "ws" / old / "made.txt").is_file()
    await hub.stop_run("holder", holder)
    end = await h.wait_tag("sys.end.all", pend.run_id)
    assert end.good, await hub.node_logs(pend.run_id)
    assert (await hub.node_logs(pend.run_id))["test"][-1] == "made"
    # Once the re-run has ended it is the newest run, and it still shows its carried build
    # node's log from `old`: `new` goes, `old` stays as long as the re-run does.
    report = await h.engine.pruner.prune()
    assert await hub.store.load_run(new) is None and report.runs == 1
    assert (await hub.node_logs(old))["build"]  # the re-run's carried log, still there
    # a newer run takes the re-run's place: the re-run goes, and its original with it
    await h.run_to_end("ci")
    report = await h.engine.pruner.prune()
    assert await hub.store.load_run(pend.run_id) is None and await hub.store.load_run(old) is None
    assert report.runs == 2


def test_a_re_runs_original_goes_only_with_the_last_re_run_that_shows_it():
    cfg = parse_app("common: {retention: {keep: 1}}\nflows: []\n")
    # newest first: D re-ran B from a node, B re-ran A from a node, C is a plain run
    d, c = ArchivedRun("h1-4", "f", 4, rerun_of="h1-2"), ArchivedRun("h1-3", "f", 3)
    b, a = ArchivedRun("h1-2", "f", 2, rerun_of="h1-1"), ArchivedRun("h1-1", "f", 1)
    assert ids(select([d, c, b, a], cfg, 10)) == ["h1-3"]  # D shows B's logs, B shows A's
    assert ids(select([c, b, a], cfg, 10)) == ["h1-2", "h1-1"]  # nothing shows them now
    assert ids(select([c, b, a], cfg, 10, live_sources={"h1-2"})) == []  # a pending re-run
    assert ids(select([c, a], cfg, 10, live_sources={"h1-1"})) == []


def ids(runs: list[ArchivedRun]) -> list[str]:
    return [r.run_id for r in runs]


async def test_a_pruned_runs_log_files_go_with_it(engine_factory):
    # A chatty task's lines past common.log-lines are in its log file, not the store.
    h = await engine_factory("""
common: {store-type: local, log-lines: 2, retention: {keep: 1}}
flows:
  - id: chatty
    ver: 1
    triggers: [{name: start, type: data}]
    tasks:
      - {name: talk, listen: trigger.good, type: exec, opts: {shell: "seq 1 50"}}
""")
    old, new = [(await h.run_to_end("chatty")).run_ref.run_id for _ in range(2)]
    logs = h.hub.workspace_root / "logs" / "chatty"
    assert (logs / old / "talk.log").is_file() and (logs / new / "talk.log").is_file()
    report = await h.engine.pruner.prune()
    assert report.runs == 1
    assert not (logs / old).exists()
    assert "50" in (logs / new / "talk.log").read_text()


async def test_floe_prunes_selection_spares_the_original_of_a_stored_re_run(tmp_path):
    # `floe prune` reads the store of a stopped engine: a pend or an active run that re-runs
    # from a node (resumed at the next start) keeps the run it re-runs.
    from datetime import timedelta

    from records import pend, record

    from floecli.engine.store.maintenance import StoreLocation, prune_candidates
    from floecli.engine.store.sqlite import SqliteStore

    db = tmp_path / "store" / "floe.db"
    store = SqliteStore(db)
    store.open()
    for n in (1, 2, 3):
        r = record(n)
        store.activate(r)
        r.ended, r.good, r.end_time = True, True, r.start_time + timedelta(seconds=1)
        store.finish(r)
    waiting = pend(4)
    waiting.rerun = {"Of": "h1-1", "From": "test", "User": "ann"}
    store.add_pend(waiting, 4)
    await store.close()
    cfg = parse_app("common: {retention: {keep: 1}}\nflows: []\n")
    victims, _ = prune_candidates(StoreLocation(db, tmp_path), cfg)
    assert ids(victims) == ["h1-2"]  # h1-1 stays for the pending re-run, h1-3 is the newest
