"""Every run store keeps pends, runs, logs and documents alike, across a reopen for SQLite and
PostgreSQL (a real server, tests/pgserver.py): the contract tests run against each."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from records import T0, flow, pend, record, ref

from floecli.engine.errors import StoreError
from floecli.engine.runs import RunRecord
from floecli.engine.store import MemoryStore, RunStore, SqliteStore, make_store
from floecli.engine.store.base import KEPT_PREFIX


class Stores:
    """The store under test, and its restart: a new SqliteStore on the same file, a new
    PostgresStore on the same database, or the same MemoryStore (which lives only as long as
    its object)."""

    def __init__(self, kind: str, root: Path, url: str = "") -> None:
        self.kind, self.root, self.url = kind, root, url
        self.opened: list[RunStore] = []
        self._memory = MemoryStore()

    def new(self) -> RunStore:
        if self.kind == "memory":
            store: RunStore = self._memory
        else:
            store = make_store(self.kind, self.root, url=self.url, host="h1")
        self.opened.append(store)
        return store


@pytest.fixture(params=["memory", "local", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    s = Stores(request.param, tmp_path / "root", url)
    yield s
    for store in s.opened:  # a failed test must not leave a worker thread behind
        asyncio.run(store.close())


def run(body: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(body())  # type: ignore[arg-type]


def ended(r: RunRecord, good: bool = True) -> RunRecord:
    assert r.start_time is not None
    r.ended, r.good, r.end_time = True, good, r.start_time + timedelta(seconds=30)
    return r


def test_pends_and_counter_survive_a_reopen(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        assert store.open().counter == 0
        for n in (1, 2, 3):
            store.add_pend(pend(n), n)
        store.activate(record(2))  # the pend becomes an active run, in one write
        await store.close()

        again = stores.new()
        state = again.open()
        assert state.counter == 3
        assert [p.run_id for p in state.pends] == ["h1-1", "h1-3"]
        assert state.pends[0] == pend(1)
        assert [r.run_id for r in state.active] == ["h1-2"]
        await again.close()

    run(body)


def test_a_saved_run_loads_back_equal(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        r = record(1)
        store.activate(r)
        assert await store.load_run("h1-1") == r
        assert await store.load_run("h1-404") is None
        r.exec_nodes["build"].stopped, r.exec_nodes["build"].status = T0, 2
        store.save_run(r)
        assert await store.load_run("h1-1") == r
        await store.close()

    run(body)


def test_logs_keep_their_order_per_node(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        r = record(1)
        store.activate(r)
        for node, line in [("build", "a"), ("test", "x"), ("build", "b"), ("test", "y"),
                           ("build", "c")]:
            store.append_log("h1-1", node, line)
        assert await store.node_logs("h1-1") == {"build": ["a", "b", "c"], "test": ["x", "y"]}
        assert await store.node_logs("h1-1", "test") == {"test": ["x", "y"]}
        assert await store.node_logs("h1-1", "deploy") == {}
        assert await store.node_logs("h1-404") == {}
        loaded = await store.load_run("h1-1")
        assert loaded is not None
        assert loaded.exec_nodes["build"].logs == ["a", "b", "c"]
        # a line logged before its node's first save is not lost
        assert loaded.exec_nodes["test"].logs == ["x", "y"]
        # logs are kept apart from the record: lists of runs come without them
        [listed] = await store.list_runs()
        assert listed.exec_nodes["build"].logs == []
        await store.close()

    run(body)


def test_a_saved_record_carries_no_logs_of_its_own(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        r = record(1)
        r.exec_nodes["build"].logs = ["held in memory by the hub"]
        store.activate(r)
        store.append_log("h1-1", "build", "stored")
        loaded = await store.load_run("h1-1")
        assert loaded is not None
        assert loaded.exec_nodes["build"].logs == ["stored"]
        await store.close()

    run(body)


def test_an_archived_run_is_no_longer_active(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        for n in (1, 2):
            store.activate(record(n))
            store.append_log(f"h1-{n}", "build", f"line of {n}")
        store.finish(ended(record(1), good=False))
        await store.close()

        again = stores.new()
        state = again.open()
        assert [r.run_id for r in state.active] == ["h1-2"]
        assert state.active[0].exec_nodes["build"].logs == ["line of 2"]
        archived = await again.load_run("h1-1")
        assert archived is not None
        assert (archived.status, archived.exec_nodes["build"].logs) == ("bad", ["line of 1"])
        await again.close()

    run(body)


def test_a_save_after_the_archive_does_not_revive_the_run(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        store.finish(ended(record(1)))
        store.save_run(record(1))  # a task finishing after its run was stopped
        loaded = await store.load_run("h1-1")
        assert loaded is not None and loaded.ended
        await store.close()
        assert stores.new().open().active == []

    run(body)


def test_list_runs_is_newest_first_by_flow_with_a_limit(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        store.activate(record(1, "f", started=10))
        store.activate(record(2, "g", started=20))
        store.activate(record(3, "f", started=30))
        store.finish(ended(record(1, "f", started=10)))
        # a pend stopped before it started has no start time: it sits at its end time
        stopped = RunRecord(ref=ref(4, "f"), flow=flow("f"), ended=True,
                            end_time=T0 + timedelta(minutes=25), reason="stopped")
        store.finish(stopped)

        async def ids(*args: Any) -> list[str]:
            return [r.run_id for r in await store.list_runs(*args)]

        assert await ids() == ["h1-3", "h1-4", "h1-2", "h1-1"]
        assert await ids("f") == ["h1-3", "h1-4", "h1-1"]
        assert await ids("f", 2) == ["h1-3", "h1-4"]
        assert await ids(None, 1) == ["h1-3"]
        # archived runs only, as summaries, a page at a time, with the count of them all
        page, total = await store.archive_page("f")
        assert total == 2 and page == [stopped.summary(), ended(record(1, "f", started=10))
                                       .summary()]
        assert await store.archive_page("f", 1, 1) == (page[1:], 2)
        assert await store.archive_page("f", 5, 10) == ([], 2)
        assert await store.archive_page("g") == ([], 0)
        assert await ids("nope") == []
        assert [r.status for r in await store.list_runs("f")] == ["running", "bad", "good"]
        await store.close()

    run(body)


def test_documents_get_put_delete(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        assert await store.get("refs/f/poll") is None
        store.put("refs/f/poll", {"refs": {"main": "abc"}, "n": 1})
        store.put("session/x", "alice")
        assert await store.get("refs/f/poll") == {"refs": {"main": "abc"}, "n": 1}
        store.put("refs/f/poll", [1, 2])
        store.delete("session/x")
        store.delete("never/there")
        with pytest.raises(TypeError):
            store.put("bad", object())  # refused at the call, not lost on a worker
        await store.close()

        again = stores.new()
        again.open()
        assert await again.get("refs/f/poll") == [1, 2]
        assert await again.get("session/x") is None
        await again.close()

    run(body)


def test_reads_see_the_writes_made_before_them_without_a_flush(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        store.put("k", 1)
        assert await store.get("k") == 1
        store.activate(record(1))
        store.append_log("h1-1", "build", "hello")
        assert [r.run_id for r in await store.list_runs()] == ["h1-1"]
        assert await store.node_logs("h1-1", "build") == {"build": ["hello"]}
        store.finish(ended(record(1)))
        loaded = await store.load_run("h1-1")
        assert loaded is not None and loaded.status == "good"
        store.delete("k")
        assert await store.get("k") is None
        await store.flush()
        await store.close()

    run(body)


def test_ten_thousand_log_lines_all_arrive(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        store.activate(record(1))
        for i in range(10_000):
            store.append_log("h1-1", "build" if i % 2 else "test", f"line {i}")
        logs = await store.node_logs("h1-1")
        assert len(logs["build"]) == len(logs["test"]) == 5_000
        assert logs["test"][:2] == ["line 0", "line 2"]
        assert logs["build"][-1] == "line 9999"
        await store.close()

        again = stores.new()
        [active] = again.open().active
        assert len(active.exec_nodes["build"].logs) == 5_000
        await again.close()

    run(body)


def test_retention_sees_the_archive_and_removes_runs_whole(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        for n, f in ((1, "f"), (2, "f"), (3, "g"), (4, "f")):
            store.activate(record(n, f))
            store.append_log(f"h1-{n}", "build", f"line of {n}")
        for n, f in ((1, "f"), (2, "f"), (3, "g")):
            store.finish(ended(record(n, f)))
        store.put(KEPT_PREFIX + "h1-2", True)
        index = await store.archive_index()
        assert [(a.run_id, a.flow_id, a.kept) for a in index] == [
            ("h1-2", "f", True), ("h1-1", "f", False), ("h1-3", "g", False)]
        assert index[0].start_time == (T0 + timedelta(minutes=2)).timestamp()
        # an active run and an unknown id are left alone
        assert await store.delete_runs(["h1-1", "h1-2", "h1-4", "h1-404"]) == 2
        assert await store.load_run("h1-1") is None and await store.node_logs("h1-1") == {}
        assert await store.get(KEPT_PREFIX + "h1-2") is None
        assert [a.run_id for a in await store.archive_index()] == ["h1-3"]
        assert (await store.node_logs("h1-4")) == {"build": ["line of 4"]}
        await store.close()

    run(body)


def test_the_archive_index_names_what_a_re_run_from_a_node_re_ran(stores: Stores) -> None:
    async def body() -> None:
        store = stores.new()
        store.open()
        links = {1: {}, 2: {"Of": "h1-1", "From": "test", "User": "ann"},
                 3: {"Of": "h1-1", "User": "ann"}}  # 3: a plain re-run, carrying nothing
        for n, link in links.items():
            r = record(n)
            r.rerun = link
            store.activate(r)
            store.finish(ended(r))
        index = await store.archive_index()
        assert {a.run_id: a.rerun_of for a in index} == {"h1-1": "", "h1-2": "h1-1",
                                                         "h1-3": ""}
        await store.close()

    run(body)


def test_a_mutated_record_does_not_change_the_stored_copy() -> None:
    async def body() -> None:
        store = MemoryStore()
        store.open()
        r, p, doc = record(1), pend(2), {"refs": ["a"]}
        store.activate(r)
        store.add_pend(p, 2)
        store.put("doc", doc)
        r.exec_nodes["build"].status = 9
        r.merge_nodes["join"].waits["task.other.good"] = True
        r.reason = "changed"
        p.opts["ref"] = "changed"
        doc["refs"].append("b")
        assert await store.load_run("h1-1") == record(1)
        assert store.open().pends == [pend(2)]
        assert await store.get("doc") == {"refs": ["a"]}
        loaded = await store.load_run("h1-1")
        assert loaded is not None
        loaded.reason = "changed again"
        assert await store.load_run("h1-1") == record(1)

    run(body)


def test_make_store_chooses_by_store_type(tmp_path: Path) -> None:
    assert isinstance(make_store("memory", tmp_path), MemoryStore)
    local = make_store("local", tmp_path)
    assert isinstance(local, SqliteStore)
    assert local.path == tmp_path / "store" / "floe.db"
    with pytest.raises(StoreError, match=r"^redis is not a supported store$"):
        make_store("redis", tmp_path)


def test_the_store_directories_are_private(tmp_path: Path) -> None:
    store = make_store("local", tmp_path / "a" / "b")
    store.open()
    asyncio.run(store.close())
    for d in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "store"):
        assert d.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a" / "b" / "store" / "floe.db").stat().st_mode & 0o077 == 0


def test_a_directory_in_place_of_the_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "store" / "floe.db").mkdir(parents=True)
    with pytest.raises(StoreError) as caught:
        make_store("local", tmp_path).open()
    assert str(tmp_path / "store" / "floe.db") in str(caught.value)
    assert "directory" in str(caught.value)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "floe.db"
    db.write_text("not sqlite, not at all; " * 100)
    with pytest.raises(StoreError, match="cannot open the run store"):
        SqliteStore(db).open()


def test_a_failing_write_is_logged_and_the_worker_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path / "floe.db")
        store.open()
        other = sqlite3.connect(tmp_path / "floe.db")
        other.execute("DROP TABLE kv")
        other.commit()
        other.close()
        store.put("k", 1)  # fails on the worker: no kv table any more
        store.activate(record(1))
        loaded = await store.load_run("h1-1")
        assert loaded is not None and loaded.run_id == "h1-1"
        with pytest.raises(StoreError, match="reading the run store"):
            await store.get("k")
        await store.close()

    with caplog.at_level(logging.ERROR, logger="floecli.engine.store"):
        run(body)
    assert any("insert into kv" in r.getMessage() for r in caplog.records)


def test_writes_to_a_closed_store_are_dropped_and_reads_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path / "floe.db")
        store.open()
        await store.close()
        await store.close()  # twice is harmless
        store.put("k", 1)
        with pytest.raises(StoreError, match="not open"):
            await store.get("k")

    with caplog.at_level(logging.WARNING, logger="floecli.engine.store"):
        run(body)
    assert any("dropped" in r.getMessage() for r in caplog.records)
