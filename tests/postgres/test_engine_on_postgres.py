"""An engine with `store-type: postgres` works as it does on SQLite: a run started, its
task's lines logged, archived good, and all of it (with the run counter) still there for the
engine that starts next on the same database."""

from __future__ import annotations

from pathlib import Path

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
