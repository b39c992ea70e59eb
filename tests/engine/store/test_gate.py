"""A store's gate: a thread (the spawner's) waits on it for the commit of every write made
before it, without the event loop; a task's process is forked only after it opens."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
from records import record

from floecli.engine.store import MemoryStore, SqliteStore
from floecli.engine.store.sqlite.writer import GateClosed

WAIT_S = 30.0


def committed_runs(db: Path) -> list[str]:
    """What another connection sees: only committed rows."""
    with contextlib.closing(sqlite3.connect(db)) as c:
        return [row[0] for row in c.execute("SELECT run_id FROM runs")]


def test_a_gate_opens_only_once_the_writes_before_it_are_committed(tmp_path: Path) -> None:
    db = tmp_path / "floe.db"

    async def body() -> None:
        store = SqliteStore(db)
        store.open()
        try:
            inside, held = threading.Event(), threading.Event()
            # The worker is held inside a read, so nothing queued after it can commit.
            reading = asyncio.ensure_future(store._call(lambda c: inside.set() or held.wait()))
            assert await asyncio.to_thread(inside.wait, WAIT_S)
            activated = store.activate(record(1))
            gate = store.gate()
            assert gate is not None
            opened = threading.Event()
            seen: list[list[str]] = []

            def spawner() -> None:
                gate.wait()
                seen.append(committed_runs(db))  # what a forked process could rely on
                opened.set()

            thread = threading.Thread(target=spawner)
            thread.start()
            assert not opened.is_set() and committed_runs(db) == []
            held.set()
            await reading
            await activated
            assert await asyncio.to_thread(opened.wait, WAIT_S)
            thread.join(WAIT_S)
            assert seen == [["h1-1"]]
            # Everything written before is committed now: a later gate opens at once.
            store.gate().wait()  # type: ignore[union-attr]
        finally:
            held.set()
            await store.close()

    asyncio.run(body())


def test_a_cancelled_gate_lets_its_thread_go_without_the_commit(tmp_path: Path) -> None:
    db = tmp_path / "floe.db"

    async def body() -> None:
        store = SqliteStore(db)
        store.open()
        inside, held = threading.Event(), threading.Event()
        try:
            reading = asyncio.ensure_future(store._call(lambda c: inside.set() or held.wait()))
            assert await asyncio.to_thread(inside.wait, WAIT_S)
            store.activate(record(1))
            gate = store.gate()
            assert gate is not None
            errors: list[BaseException] = []

            def spawner() -> None:
                try:
                    gate.wait()
                except GateClosed as e:
                    errors.append(e)

            thread = threading.Thread(target=spawner)
            thread.start()
            gate.cancel()
            await asyncio.to_thread(thread.join, WAIT_S)
            assert not thread.is_alive()
            assert len(errors) == 1 and "stopped" in str(errors[0])
            assert committed_runs(db) == []  # it went before the commit, which still comes
            held.set()
            await reading
            await store.flush()
            assert committed_runs(db) == ["h1-1"]
        finally:
            held.set()
            await store.close()

    asyncio.run(body())


def test_a_store_without_gates_makes_the_loop_wait() -> None:
    # The memory store (and PostgreSQL's) offers none: the task awaits durable() instead.
    assert MemoryStore().gate() is None


def test_a_closed_store_offers_no_gate(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "floe.db")
    assert store.gate() is None
    store.open()
    asyncio.run(store.close())
    assert store.gate() is None


@pytest.mark.parametrize("writes", [0, 3])
def test_a_gate_taken_with_nothing_uncommitted_is_open(tmp_path: Path, writes: int) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path / "floe.db")
        store.open()
        try:
            for n in range(1, writes + 1):
                await store.activate(record(n))
            gate = store.gate()
            assert gate is not None
            await asyncio.to_thread(gate.wait)
        finally:
            await store.close()

    asyncio.run(body())
