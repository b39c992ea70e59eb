"""SqliteStore, the run store of `store-type: local`: what each write of the RunStore
interface queues and which query answers each read. The writer thread does the rest."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...errors import StoreError
from ...pend import Pend
from ...runs import RunRecord
from ..base import HANDOFF_PREFIX, ArchivedRun, RunStore, StoreState
from ..codec import dumps, pend_text, run_text, sort_time
from . import sql
from .journal import Journal
from .writer import Gate, Writer, replier


class SqliteStore(RunStore):
    """The run store in one SQLite file (WAL, synchronous=NORMAL), usually
    `<store-root>/store/floe.db`, with its intake journal beside it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._journal = Journal(Path(f"{self.path}.intake"))
        self._writer = Writer(self.path, self._journal)

    @property  # type: ignore[override]  # RunStore's plain attribute, kept by the writer here
    def problem(self) -> str:
        return self._writer.problem

    # ---- life cycle -------------------------------------------------------------------

    def journal_path(self, name: str) -> Path:
        return Path(f"{self.path}.{name}")

    def open(self) -> StoreState:
        return self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()

    async def flush(self) -> None:
        await self._writer.flush()

    def gate(self) -> Gate | None:
        return self._writer.gate() if self._writer.running else None

    async def pends_durable(self) -> None:
        return None  # add_pend wrote each to the intake journal before returning

    async def room(self) -> None:
        await self._writer.room()

    # ---- writes: enqueued, applied in order by the writer thread ------------------------

    def add_pend(self, pend: Pend, counter: int) -> None:
        if self.problem:
            # Acknowledging a run now would promise what the store cannot keep (503).
            raise StoreError(f"the run store {self.path} cannot take writes now: "
                             f"{self.problem}", hint="free space on its disk; floe retries")
        text = pend_text(pend)
        if self._writer.running:
            self._journal.append(pend.run_id, counter, text)
        self._writer.write((sql.ADD_PEND, (pend.run_id, text)), (sql.SET_COUNTER, (counter,)),
                           journaled=True)

    def activate(self, run: RunRecord) -> asyncio.Future[None]:
        # Serialised now, on the caller's thread: the caller keeps mutating the record.
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[None] = loop.create_future()
        if not self._writer.running:
            outcome.set_exception(StoreError(f"the run store {self.path} is not open"))
            return outcome
        self._writer.write(
            (sql.REMOVE_PEND, (run.run_id,)),
            (sql.ACTIVATE_RUN, (run.run_id, run.flow.id, sort_time(run), run_text(run))),
            reply=replier(loop, outcome))
        return outcome

    def finish(self, run: RunRecord) -> None:
        self._writer.write(
            (sql.REMOVE_PEND, (run.run_id,)),
            (sql.ARCHIVE_RUN, (run.run_id, run.flow.id, sort_time(run), run_text(run))))

    def hand_off(self, run_id: str, host: str) -> None:
        self._writer.write(
            (sql.REMOVE_PEND, (run_id,)),
            (sql.PUT, (HANDOFF_PREFIX + run_id, dumps({"Host": host, "State": "handed"}))))

    def save_run(self, run: RunRecord) -> None:
        self._writer.write((sql.SAVE_RUN, (sort_time(run), run_text(run), run.run_id)))

    def append_log(self, run_id: str, node_id: str, line: str) -> None:
        self._writer.write((sql.APPEND_LOG, (run_id, node_id, line)))

    async def has_run(self, run_id: str) -> bool:
        return await self._call(lambda c: sql.knows_run(c, run_id))

    def put(self, key: str, value: Any) -> None:
        # a value that is not JSON fails here, loudly
        self._writer.write((sql.PUT, (key, dumps(value))))

    def delete(self, key: str) -> None:
        self._writer.write((sql.DELETE, (key,)))

    # ---- reads: answered by the writer thread after every write queued before them ------

    async def load_run(self, run_id: str) -> RunRecord | None:
        return await self._call(lambda c: sql.load_run(c, run_id))

    async def list_runs(self, flow_id: str | None = None, limit: int = 0) -> list[RunRecord]:
        return await self._call(lambda c: sql.list_runs(c, flow_id, limit))

    async def archive_page(self, flow_id: str, offset: int = 0, limit: int = 0
                           ) -> tuple[list[dict[str, Any]], int]:
        return await self._call(lambda c: sql.archive_page(c, flow_id, offset, limit))

    async def node_logs(self, run_id: str, node_id: str | None = None) -> dict[str, list[str]]:
        return await self._call(lambda c: sql.node_logs(c, run_id, node_id))

    async def get(self, key: str) -> Any | None:
        return await self._call(lambda c: sql.get(c, key))

    async def archive_index(self) -> list[ArchivedRun]:
        return await self._call(sql.archive_index)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        ids = list(run_ids)
        return await self._call(lambda c: sql.delete_runs(c, ids))

    async def _call(self, op: Callable[[sqlite3.Connection], Any]) -> Any:
        """`op(connection)` on the writer thread, after every write queued before it."""
        return await self._writer.call(op)
