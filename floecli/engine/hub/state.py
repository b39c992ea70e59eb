"""The one owner of run state: pends and active runs, and every transition between them.

Nobody else changes `pends` or `active`. Each transition (adopt, activate, finish, stop,
resume) runs under one lock and is one atomic store write, so a crash leaves every run in
exactly one of pending, active or archive, and a run id the host already knows is refused:
that refusal is what makes p2p hand-off exactly-once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config.model import Flow, Node
from ..errors import RunNotFound, StoreError
from ..events import (
    SYS_END_ALL,
    SYS_STATE,
    TRIGGER_GOOD,
    Event,
    EventQueue,
    HostedID,
    NodeRef,
    RunRef,
)
from ..outcome import settle
from ..runs import REASON_STOPPED, Pend, RunRecord, now
from ..store.base import RunStore, StoreState
from .logs import NodeLog
from .rerun import seed

log = logging.getLogger(__name__)

REASON_ENDED_WITH_RUN = "ended with the run"  # a task still running when its run ended
RETRY_FIRST = 0.5  # seconds before a start the store refused is tried again, doubling
RETRY_MAX = 30.0


class Origin(enum.Enum):
    """Where a pend being activated comes from."""

    LOCAL = "local"  # adopted on this host and waiting in its pends
    PEER = "peer"  # handed over by another host (p2p/flows/exec)


@dataclass(eq=False)
class ActiveRun:
    """A run executing on this host: its record plus what is in flight for it."""

    record: RunRecord
    workspace: Path
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    logs: dict[str, NodeLog] = field(default_factory=dict)  # open node logs, by node id
    # resolved once the store committed the activation ("") or refused it (the reason):
    # nothing of the run executes before (write ahead)
    durable: asyncio.Future[str] | None = None

    @property
    def flow(self) -> Flow:
        return self.record.flow

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def quiescent(self) -> bool:
        """Nothing running, no event left to route, no form waiting."""
        return (not self.tasks and not self.record.queued
                and not any(d.enabled for d in self.record.data_nodes.values()))


Blocker = Callable[[Flow], str]
Prepare = Callable[[Path, bool], Awaitable[None]]


class RunState:
    def __init__(self, store: RunStore, queue: EventQueue, host_id: str,
                 on_change: Callable[[], None],
                 on_ended: Callable[[ActiveRun], None] = lambda run: None) -> None:
        self._store = store
        self._queue = queue
        self._host_id = host_id
        self._on_change = on_change  # wakes the dispatcher: something may have unblocked
        self._on_ended = on_ended  # a run ended: reap what of its processes survives
        self._lock = asyncio.Lock()
        self._counter = 0
        self._pends: dict[str, Pend] = {}  # in adoption order
        self._active: dict[str, ActiveRun] = {}
        self._starting: set[asyncio.Task[None]] = set()  # activations awaiting their commit
        # run id -> (when to try again, the delay that was): pends whose start was refused
        self._refused: dict[str, tuple[float, float]] = {}

    # ---- reading --------------------------------------------------------------------------

    @property
    def counter(self) -> int:
        return self._counter

    def pends(self) -> list[Pend]:
        return list(self._pends.values())

    def pend(self, run_id: str) -> Pend | None:
        return self._pends.get(run_id)

    def active_runs(self) -> list[ActiveRun]:
        return list(self._active.values())

    def active(self, run_id: str) -> ActiveRun | None:
        return self._active.get(run_id)

    def _knows(self, run_id: str) -> bool:
        return run_id in self._pends or run_id in self._active

    def is_current(self, run: ActiveRun) -> bool:
        """Whether `run` is still the active run of its id (not ended, not replaced)."""
        return self._active.get(run.run_id) is run

    # ---- transitions ----------------------------------------------------------------------

    def load(self, state: StoreState, counter_floor: int = 0) -> None:
        """Take what the store kept at start-up: the counter and the pends. Active runs are
        handed back one by one through `resume`."""
        self._counter = max(state.counter, state.highest.get(self._host_id, 0), counter_floor)
        self._pends = {p.run_id: p for p in state.pends}

    async def adopt(self, flow: Flow, trigger: Node, opts: Mapping[str, Any],
                    audit: Mapping[str, Any] | None = None,
                    rerun: Mapping[str, Any] | None = None) -> Pend:
        """Trigger → pend: a new run id, stored with the counter it took."""
        async with self._lock:
            self._counter += 1
            while self._knows(f"{self._host_id}-{self._counter}"):  # a counter set back
                self._counter += 1
            ref = RunRef(flow.ref, HostedID(self._host_id, self._counter))
            pend = Pend(ref, flow, NodeRef("trigger", trigger.id), dict(opts), created=now(),
                        reason="waiting to be dispatched", submission=dict(audit or {}),
                        rerun=dict(rerun or {}))
            self._store.add_pend(pend, self._counter)  # first: if it fails, nothing was adopted
            self._pends[pend.run_id] = pend
        self._publish(Event(ref, SYS_STATE, good=True, opts={"action": "add-pend"}))
        self._on_change()
        return pend

    async def activate(self, pend: Pend, origin: Origin, *, workspace: Path,
                       blocker: Blocker, prepare: Prepare) -> ActiveRun | str:
        """Pend → active, or the reason it cannot start now. A LOCAL pend must still be
        pending here; a PEER pend must carry a run id this host has never seen."""
        known = origin is Origin.PEER and await self._store.has_run(pend.run_id)
        async with self._lock:
            if origin is Origin.LOCAL and self._pends.get(pend.run_id) is not pend:
                return f"run {pend.run_id} is no longer pending"  # stopped meanwhile
            if origin is Origin.PEER and (known or self._knows(pend.run_id)):
                return f"run {pend.run_id} is already known to host {self._host_id}"
            retry = self._refused.get(pend.run_id)
            if retry is not None and asyncio.get_running_loop().time() < retry[0]:
                return pend.reason  # the store refused its start: tried again later
            reason = blocker(pend.flow)
            if reason:
                pend.reason = reason
                return reason
            try:
                # Under the lock: a stop of this pend waits for its activation to finish.
                await prepare(workspace, pend.flow.reuse_space)
            except OSError as e:
                pend.reason = f"workspace {workspace} could not be made: {e}"
                log.error("run %s: %s", pend.run_id, pend.reason)
                return pend.reason
            self._publish(Event(pend.ref, SYS_STATE, good=True, opts={"action": "activate"}))
            ref = replace(pend.ref, exec_host=self._host_id)
            record = RunRecord.from_pend(pend, ref, start_time=now())
            run = ActiveRun(record, workspace)
            # Saved with the activation, so a restart routes it; published (and so routed)
            # only once the activation is committed. A re-run from a node starts with the
            # nodes before it carried over and the event that started that node
            # (hub/rerun.py).
            fired = seed(record, pend.rerun) or Event(ref, TRIGGER_GOOD, pend.triggered_node,
                                                      True, dict(pend.opts))
            record.queued.append(fired)
            self._pends.pop(pend.run_id, None)
            self._active[run.run_id] = run
            committed = self._store.activate(record)
            run.durable = asyncio.get_running_loop().create_future()
        # A peer's pend the store refuses goes back to the peer, not into this host's pends.
        back = pend if origin is Origin.LOCAL else None
        task = asyncio.create_task(self._start(run, back, fired, committed),
                                   name=f"start {run.run_id}")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)
        return run

    async def _start(self, run: ActiveRun, pend: Pend | None, fired: Event,
                     committed: Awaitable[None]) -> None:
        """Once the activation is committed, the run starts (its trigger event is routed);
        a refused activation puts the pend back with the store's reason, tried again after
        a growing delay (_retry_later), never at once: a refusing store would spin."""
        assert run.durable is not None
        try:
            await committed
        except StoreError as e:
            async with self._lock:
                if self._active.get(run.run_id) is run and not run.tasks:
                    del self._active[run.run_id]
                    if pend is not None:  # still a pend to every watcher: never removed
                        pend.reason = f"the run store could not start it: {e}"
                        self._pends[pend.run_id] = pend
                        self._retry_later(pend.run_id)
            log.error("run %s: %s", run.run_id, e)
            run.durable.set_result(str(e))
            return
        if self._active.get(run.run_id) is run:
            queued = run.record.queued
            published = self._publish(fired)
            queued[next(i for i, e in enumerate(queued) if e is fired)] = published
        self._refused.pop(run.run_id, None)
        self._publish(Event(fired.run_ref, SYS_STATE, good=True,
                            opts={"action": "remove-pend"}))
        run.durable.set_result("")

    def _retry_later(self, run_id: str) -> None:
        """A refused start is tried again after a delay that doubles with each refusal, so
        a store that keeps refusing is not asked in a loop."""
        loop = asyncio.get_running_loop()
        _, delay = self._refused.get(run_id, (0.0, RETRY_FIRST / 2))
        delay = min(delay * 2, RETRY_MAX)
        self._refused[run_id] = (loop.time() + delay, delay)
        loop.call_later(delay, self._on_change)

    async def resume(self, record: RunRecord, workspace: Path) -> ActiveRun | None:
        """A run the store kept as active, taken back after a restart (None if known)."""
        async with self._lock:
            if record.run_id in self._active:
                return None
            run = ActiveRun(record, workspace)
            self._active[run.run_id] = run
            self._store.save_run(record)
        return run

    async def finish(self, run: ActiveRun, good: bool, *, reason: str = "",
                     source: NodeRef = NodeRef(), opts: Mapping[str, Any] | None = None) -> bool:
        """Active → archive; False when the run had already ended."""
        async with self._lock:
            if self._active.get(run.run_id) is not run:
                return False
            del self._active[run.run_id]
            record = run.record
            record.ended, record.good, record.reason, record.end_time = True, good, reason, now()
            record.queued.clear()
            for d in record.data_nodes.values():
                d.enabled = False
            for node in record.exec_nodes.values():
                if node.running:  # killed with the run: never left "running" in the archive
                    node.stopped, node.good = record.end_time, False
                    node.reason = (REASON_STOPPED if reason == REASON_STOPPED
                                   else REASON_ENDED_WITH_RUN)
            settle(record)
            for t in list(run.tasks):
                t.cancel()  # each task's ProcessGroup kills its processes
            self._on_ended(run)  # and what left the groups (a daemon) dies with the run
            for node_log in run.logs.values():
                node_log.close()
            self._store.finish(record)
        self._publish(Event(record.ref, SYS_END_ALL, source, good, dict(opts or {})))
        self._on_change()
        return True

    async def stop(self, flow_id: str, run_id: str, user: str = "") -> None:
        """Stop a pending or active run: archived bad with reason `stopped` and the `user`
        who stopped it; an active run's processes are killed before this returns."""
        async with self._lock:
            pend = self._pends.get(run_id)
            if pend is not None and pend.flow.id == flow_id:
                del self._pends[run_id]
                self._refused.pop(run_id, None)
                record = RunRecord.from_pend(pend, ended=True, good=False,
                                             reason=REASON_STOPPED, end_time=now(),
                                             stopped_by=user)
                settle(record)
                self._store.finish(record)
                self._publish(Event(pend.ref, SYS_STATE, good=True,
                                    opts={"action": "remove-pend"}))
                self._publish(Event(pend.ref, SYS_END_ALL, good=False))
                return
            run = self._active.get(run_id)
            if run is None or run.flow.id != flow_id:
                raise RunNotFound(f"run {run_id} of flow {flow_id} is not pending or active here")
        tasks = list(run.tasks)
        run.record.stopped_by = user
        await self.finish(run, False, reason=REASON_STOPPED)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _publish(self, event: Event) -> Event:
        return self._queue.publish(event)
