"""The in-process run store (`store-type: memory`): plain dicts of JSON text, for tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..pend import Pend
from ..runs import RunRecord
from .base import (
    HANDOFF_PREFIX,
    KEPT_PREFIX,
    ArchivedRun,
    RunStore,
    StoreState,
    highest_run_numbers,
)
from .codec import copy_logs, dumps, pend_text, run_from_text, run_text, sort_time

ACTIVE = "active"
ARCHIVE = "archive"


@dataclass
class _Run:
    state: str
    flow_id: str
    sort_time: float
    text: str


class MemoryStore(RunStore):
    """Keeps JSON text, not objects, so a caller mutating a record after saving it never
    changes what was stored, and both stores hand back equal records. It forgets everything
    with the process; `open()` after `close()` on the same instance sees what was written."""

    def __init__(self) -> None:
        self._counter = 0
        self._pends: dict[str, str] = {}  # run id → pend JSON, in creation order
        self._runs: dict[str, _Run] = {}  # in first-save order, the tie-break of list_runs
        self._logs: dict[str, dict[str, list[str]]] = {}  # run id → node id → lines
        self._kv: dict[str, str] = {}

    def open(self) -> StoreState:
        return StoreState(
            counter=self._counter,
            pends=[Pend.from_json(json.loads(t)) for t in self._pends.values()],
            active=[self._record(run_id, r) for run_id, r in self._runs.items()
                    if r.state == ACTIVE],
            highest=highest_run_numbers([*self._pends, *self._runs]),
        )

    async def close(self) -> None:
        pass

    async def flush(self) -> None:
        pass

    def add_pend(self, pend: Pend, counter: int) -> None:
        self._pends[pend.run_id] = pend_text(pend)
        self._counter = counter

    def activate(self, run: RunRecord) -> asyncio.Future[None]:
        self._pends.pop(run.run_id, None)
        self._runs[run.run_id] = _Run(ACTIVE, run.flow.id, sort_time(run), run_text(run))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def finish(self, run: RunRecord) -> None:
        self._pends.pop(run.run_id, None)
        self._runs[run.run_id] = _Run(ARCHIVE, run.flow.id, sort_time(run), run_text(run))

    def hand_off(self, run_id: str, host: str) -> None:
        self._pends.pop(run_id, None)
        self._kv[HANDOFF_PREFIX + run_id] = dumps({"Host": host, "State": "handed"})

    async def has_run(self, run_id: str) -> bool:
        return run_id in self._pends or run_id in self._runs

    def save_run(self, run: RunRecord) -> None:
        old = self._runs.get(run.run_id)
        if old is None or old.state == ARCHIVE:
            return  # only an active run is updated: a late save must not revive an ended run
        self._runs[run.run_id] = _Run(ACTIVE, run.flow.id, sort_time(run), run_text(run))

    def append_log(self, run_id: str, node_id: str, line: str) -> None:
        self._logs.setdefault(run_id, {}).setdefault(node_id, []).append(line)

    async def load_run(self, run_id: str) -> RunRecord | None:
        r = self._runs.get(run_id)
        return self._record(run_id, r) if r is not None else None

    async def list_runs(self, flow_id: str | None = None, limit: int = 0) -> list[RunRecord]:
        rows = [(r.sort_time, i, r.text) for i, r in enumerate(self._runs.values())
                if flow_id is None or r.flow_id == flow_id]
        rows.sort(reverse=True)
        if limit > 0:
            rows = rows[:limit]
        return [run_from_text(text) for _, _, text in rows]

    async def archive_page(self, flow_id: str, offset: int = 0, limit: int = 0
                           ) -> tuple[list[dict[str, Any]], int]:
        rows = [r for r in await self.list_runs(flow_id) if r.ended]
        end = offset + limit if limit > 0 else None
        return [r.summary() for r in rows[offset:end]], len(rows)

    async def node_logs(self, run_id: str, node_id: str | None = None) -> dict[str, list[str]]:
        logs = self._logs.get(run_id, {})
        if node_id is not None:
            logs = {node_id: logs[node_id]} if node_id in logs else {}
        return copy_logs(logs)

    async def get(self, key: str) -> Any | None:
        text = self._kv.get(key)
        return json.loads(text) if text is not None else None

    def put(self, key: str, value: Any) -> None:
        self._kv[key] = dumps(value)

    def delete(self, key: str) -> None:
        self._kv.pop(key, None)

    async def archive_index(self) -> list[ArchivedRun]:
        rows = [(r.flow_id, -r.sort_time, -i, run_id, r)
                for i, (run_id, r) in enumerate(self._runs.items()) if r.state == ARCHIVE]
        rows.sort()
        return [ArchivedRun(run_id, r.flow_id, r.sort_time, KEPT_PREFIX + run_id in self._kv,
                            rerun_of=_rerun_of(r.text))
                for _, _, _, run_id, r in rows]

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        gone = 0
        for run_id in run_ids:
            r = self._runs.get(run_id)
            if r is None or r.state != ARCHIVE:
                continue
            del self._runs[run_id]
            self._logs.pop(run_id, None)
            self._kv.pop(KEPT_PREFIX + run_id, None)
            gone += 1
        return gone

    def _record(self, run_id: str, r: _Run) -> RunRecord:
        logs = self._logs.get(run_id, {})
        return run_from_text(r.text, ((n, line) for n, lines in logs.items() for line in lines))


def _rerun_of(text: str) -> str:
    """The run a stored re-run from a node re-ran ("" for any other run)."""
    link = json.loads(text).get("Rerun") or {}
    return str(link.get("Of") or "") if link.get("From") else ""
