"""A pend is durable once add_pend returns: the intake journal keeps it until it is committed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from records import pend, record

from floecli.engine.errors import StoreError
from floecli.engine.store import SqliteStore

# A process that adopts three runs while its store's worker is held inside a read, so none
# of them can be committed, then dies by SIGKILL: all it leaves is the journal.
KILLED_BEFORE_COMMIT = textwrap.dedent("""
    import asyncio, os, signal, sys, threading
    sys.path.insert(0, {tests!r})
    from records import pend
    from floecli.engine.store import SqliteStore

    async def main():
        store = SqliteStore({db!r})
        store.open()
        inside, held = threading.Event(), threading.Event()
        reading = asyncio.ensure_future(store._call(lambda conn: inside.set() or held.wait()))
        assert await asyncio.to_thread(inside.wait, 30)  # the worker is in that read
        for n in (1, 2, 3):
            store.add_pend(pend(n), n)
        await store.pends_durable()  # what push/data waits for before it answers
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


def test_runs_acknowledged_before_any_commit_survive_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "floe.db"
    script = KILLED_BEFORE_COMMIT.format(tests=str(Path(__file__).parents[2]), db=str(db))
    done = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert done.returncode == -signal.SIGKILL
    store = SqliteStore(db)
    state = store.open()
    try:
        assert [p.run_id for p in state.pends] == ["h1-1", "h1-2", "h1-3"]
        assert state.counter == 3
        assert state.pends[0].opts == {"ref": "v1"}
    finally:
        asyncio.run(store.close())
    assert Path(f"{db}.intake").stat().st_size == 0  # recovered, then emptied


def test_the_journal_is_emptied_once_its_pends_are_committed(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path / "floe.db")
        store.open()
        inside, held = threading.Event(), threading.Event()
        reading = asyncio.ensure_future(store._call(lambda c: inside.set() or held.wait(30)))
        # The worker is inside that read: nothing commits until it is released.
        assert await asyncio.to_thread(inside.wait, 30)
        store.add_pend(pend(1), 1)
        assert Path(f"{store.path}.intake").stat().st_size > 0
        held.set()
        await reading
        await store.flush()
        assert Path(f"{store.path}.intake").stat().st_size == 0
        await store.close()

    asyncio.run(body())


def test_a_journaled_run_the_database_knows_is_not_added_again(tmp_path: Path,
                                                                caplog) -> None:
    db = tmp_path / "floe.db"

    async def archive_one() -> None:
        store = SqliteStore(db)
        store.open()
        store.add_pend(pend(1), 1)
        stopped = record(1)
        stopped.ended = True
        store.finish(stopped)  # archived
        await store.close()

    asyncio.run(archive_one())
    # A crash between the commit and the journal's truncation leaves the line behind, and
    # a crash mid-write leaves half a line after it.
    line = json.dumps({"run": "h1-1", "counter": 7, "pend": pend(1).to_json()})
    Path(f"{db}.intake").write_text(line + "\n" + line[: len(line) // 2])
    store = SqliteStore(db)
    state = store.open()
    try:
        assert state.pends == [] and state.counter == 7
        archived = asyncio.run(store.load_run("h1-1"))
    finally:
        asyncio.run(store.close())
    assert archived is not None and archived.ended
    assert "intake journal" in caplog.text and ":2 cannot be read" in caplog.text
    assert os.path.getsize(f"{db}.intake") == 0


def test_a_second_engine_on_the_same_store_is_refused(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "floe.db")
    first.open()
    try:
        second = SqliteStore(tmp_path / "floe.db")
        with pytest.raises(StoreError, match="in use by another engine") as refused:
            second.open()
        assert refused.value.hint.startswith("give each engine a store-root (or -root) of its own")
    finally:
        asyncio.run(first.close())
    again = SqliteStore(tmp_path / "floe.db")  # free once the first one closed
    again.open()
    asyncio.run(again.close())
