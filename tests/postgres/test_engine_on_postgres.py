"""An engine with `store-type: postgres` works as it does on SQLite: a run started, its
task's lines logged, archived good, and all of it (with the run counter) still there for the
engine that starts next on the same database."""

from __future__ import annotations

from pathlib import Path

from flows import app, rerun_flows
from harness import EngineHarness, make_engine

from floecli.engine.store.postgres import PostgresStore

APP = """
common:
  store-type: postgres
  store-url: URL
flows:
  - id: gpu-job
    ver: 1
    host-tags: [gpu]
    triggers: [{name: start, type: data}]
    tasks:
      - {name: work, listen: trigger.good, type: exec, opts: {cmd: "echo on gpu"}}
      - {name: done, listen: task.work.good, type: end}
"""


async def test_a_run_and_a_pend_outlive_the_engine_on_postgres(tmp_path: Path,
                                                              pg_url: str) -> None:
    app = APP.replace("URL", pg_url)
    first = EngineHarness(make_engine(tmp_path, app, tags=("gpu",)))
    assert isinstance(first.engine.store, PostgresStore)
    await first.engine.start()
    try:
        end = await first.run_to_end("gpu-job", {"ref": "v1"})
        assert end.good and end.run_ref.run_id == "h1-1"
        stored = await first.engine.store.load_run("h1-1")
        assert stored is not None and stored.status == "good"
        assert stored.exec_nodes["work"].logs[-1] == "on gpu", stored.exec_nodes["work"].logs
    finally:
        await first.engine.stop()

    # no gpu on this one: the run it adopts waits as a pend, kept by the database
    second = EngineHarness(make_engine(tmp_path / "b", app, tags=("linux",)))
    await second.engine.start()
    try:
        assert await second.start_run("gpu-job", {"ref": "v2"}) == "h1-2"
        page, total = await second.engine.store.archive_page("gpu-job")
        assert total == 1 and page[0]["Ref"]["Run"] == {"HostID": "h1", "ID": 1}
    finally:
        await second.engine.stop()

    third = EngineHarness(make_engine(tmp_path / "c", app, tags=("gpu",)))
    await third.engine.start()
    try:
        end = await third.wait_tag("sys.end.all", "h1-2")
        assert end.good
        assert await third.start_run("gpu-job") == "h1-3"
    finally:
        await third.engine.stop()




async def test_the_original_of_a_re_run_waiting_in_the_database_is_not_pruned(
        tmp_path: Path, pg_url: str) -> None:
    """On a shared store a re-run from a node waits as a row of the database, not in the
    host's memory: retention still keeps its original, record, logs and workspace."""
    text = app(*rerun_flows(), store_type="postgres", store_url=pg_url)
    h = EngineHarness(make_engine(tmp_path, text))
    await h.engine.start()
    try:
        hub = h.hub
        old, new = [(await h.run_to_end("ci")).run_ref.run_id for _ in range(2)]
        holder = await h.start_run("holder")
        await h.wait_tag("sys.data.required", holder)  # holds `box`: the re-run must wait
        pend = await hub.rerun("ci", old, "test")
        report = await h.engine.pruner.prune()
        assert report.runs == 0  # `old` is beyond keep: 1, but the waiting re-run needs it
        assert await hub.store.load_run(old) is not None
        assert (hub.workspace_root / "spaces" / "ci" / "ws" / old / "made.txt").is_file()
        # the database itself refuses to delete it, should a pruner have chosen it anyway
        assert await hub.store.delete_runs([old]) == 0
        await hub.stop_run("holder", holder)
        end = await h.wait_tag("sys.end.all", pend.run_id)
        assert end.good, await hub.node_logs(pend.run_id)
        assert (await hub.node_logs(pend.run_id))["test"][-1] == "made"
        assert new
    finally:
        await h.engine.stop()
