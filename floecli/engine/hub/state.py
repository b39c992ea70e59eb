"""The run owner: pends, active runs and everything a run contains, and every change to them.

Nobody else changes them. The life cycle (adopt, activate, resume, settle, stop) runs under
one lock and each transition is one atomic store write, so a crash leaves every run in exactly
one of pending, active or archive, and a run id the host already knows is refused: that
refusal is what makes p2p hand-off exactly-once.

A run's contents change here too, through one method per kind of change: its queued events
(`queue_event`, `routed`), node records (`node_started`, `node_finished`, `form_asked`,
`merge_saw`, `interrupted`), form submissions (`submit_form`), node logs (`node_log`) and its
saves (`save`: every change of one loop turn is one store write). The router, the task runner,
resume and dispatch say what happened; the owner records it, and `settle` alone decides whether
the run is over.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import RunError, RunNotFound, StoreError
from ..events import (
    SYS_END_ALL,
    SYS_NODE_UPDATE,
    SYS_STATE,
    TRIGGER_GOOD,
    Event,
    EventQueue,
    FlowRef,
    HostedID,
    NodeRef,
    RunRef,
    result_tag,
)
from ..flow import CLASS_MERGE, CLASS_TASK, Flow, Node
from ..outcome import word_outcome
from ..pend import Pend
from ..runs import (
    REASON_INTERRUPTED,
    REASON_STOPPED,
    DataNode,
    ExecNode,
    MergeNode,
    RunRecord,
    check_submission_room,
    now,
    submission,
)
from ..store.base import Gate, RunStore, StoreState
from . import merge
from .logs import NodeLog
from .masked import MaskedNodeLog
from .rerun import seed

log = logging.getLogger(__name__)

REASON_ENDED_WITH_RUN = "ended with the run"  # a task still running when its run ended
RETRY_FIRST = 0.5  # seconds before a start the store refused is tried again, doubling
RETRY_MAX = 30.0


class Origin(enum.Enum):
    """Where a pend being activated comes from."""

    LOCAL = "local"  # adopted on this host and waiting in its pends
    PEER = "peer"  # handed over by another host (p2p/flows/exec)
    CLAIMED = "claimed"  # claimed by this host from a store the hosts share (postgres)


@dataclass(frozen=True)
class Verdict:
    """Why a run is over before it ran out of work: an end node reached, a failure nobody
    handles, its flow gone, a stop."""

    good: bool
    reason: str = ""
    source: NodeRef = field(default_factory=NodeRef)
    opts: Mapping[str, Any] = field(default_factory=dict)


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
    verdict: Verdict | None = None  # set once the run must end whatever still runs
    # True while the event that starts the run is routed at its activation: what starts
    # then is in the activation's own write
    starting: bool = False

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
Route = Callable[[ActiveRun, Event], None]  # the router's effects of one event on its run


@dataclass(frozen=True)
class LogPlace:
    """Where node logs go besides the store: a cap of lines kept per node, and the root under
    which a node's lines past the cap are written (`logs/<flow>/<run>/<node>.log`)."""

    cap: int
    root: Path


class RunState:
    def __init__(self, store: RunStore, queue: EventQueue, host_id: str,
                 on_change: Callable[[], None],
                 on_ended: Callable[[ActiveRun], None] = lambda run: None,
                 logs: LogPlace | None = None) -> None:
        self._store = store
        self._queue = queue
        self._host_id = host_id
        self._on_change = on_change  # wakes the dispatcher: something may have unblocked
        self._on_ended = on_ended  # a run ended: reap what of its processes survives
        self._logs = logs or LogPlace(cap=10_000, root=Path("."))
        self._dirty: dict[str, ActiveRun] = {}  # saved at the end of this loop turn
        self._settling: set[asyncio.Task[None]] = set()  # settles asked for from callbacks
        self._lock = asyncio.Lock()
        self._counter = 0
        self._pends: dict[str, Pend] = {}  # in adoption order
        self._active: dict[str, ActiveRun] = {}
        self._starting: set[asyncio.Task[None]] = set()  # activations awaiting their commit
        # run id -> (when to try again, the delay that was): pends whose start was refused
        self._refused: dict[str, tuple[float, float]] = {}

    # ---- reading --------------------------------------------------------------------------

    @property
    def store(self) -> RunStore:
        return self._store

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
        handed back one by one through `resume`. A store the hosts share keeps the pends
        itself: any host may claim one, so none is this host's until it does."""
        self._counter = max(state.counter, state.highest.get(self._host_id, 0), counter_floor)
        self._pends = {} if self._store.shared else {p.run_id: p for p in state.pends}

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
            if not self._store.shared:
                self._pends[pend.run_id] = pend
        self.publish(Event(ref, SYS_STATE, good=True, opts={"action": "add-pend"}))
        self._on_change()
        return pend

    async def activate(self, pend: Pend, origin: Origin, *, workspace: Path,
                       blocker: Blocker, prepare: Prepare, route: Route) -> ActiveRun | str:
        """Pend → active, or the reason it cannot start now. A LOCAL pend must still be
        pending here; a PEER pend must carry a run id this host has never seen; a CLAIMED pend
        is this host's by its claim in the shared store (which fences every write about it)."""
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
            self.publish(Event(pend.ref, SYS_STATE, good=True, opts={"action": "activate"}))
            ref = replace(pend.ref, exec_host=self._host_id)
            record = RunRecord.from_pend(pend, ref, start_time=now())
            run = ActiveRun(record, workspace)
            run.durable = asyncio.get_running_loop().create_future()
            # A re-run from a node starts with the nodes before it carried over and the
            # event that started that node (hub/rerun.py).
            carried = seed(ref, pend.rerun)
            if carried is None:
                fired = Event(ref, TRIGGER_GOOD, pend.triggered_node, True, dict(pend.opts))
            else:
                record.exec_nodes.update(carried.exec_nodes)
                record.data_nodes.update(carried.data_nodes)
                record.merge_nodes.update(carried.merge_nodes)
                fired = carried.start
            self._pends.pop(pend.run_id, None)
            self._active[run.run_id] = run
            # The event that starts the run is routed now, into the record the activation
            # writes: the nodes it starts are in that one write (write ahead) and wait for
            # its commit (`activated`), so a run's start costs one commit, not two. It is
            # published, for watchers, once that commit is made.
            run.starting = True
            try:
                route(run, fired)
            except Exception:  # one bad event must never stop the engine (as the router's)
                log.exception("run %s: routing %s failed", run.run_id, fired.tag)
            finally:
                run.starting = False
            self._dirty.pop(run.run_id, None)  # what routing changed goes with the activation
            committed = self._store.activate(record)
        # A peer's pend the store refuses goes back to the peer, not into this host's pends.
        back = pend if origin is Origin.LOCAL else None
        task = asyncio.create_task(self._start(run, back, fired, committed),
                                   name=f"start {run.run_id}")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)
        return run

    async def _start(self, run: ActiveRun, pend: Pend | None, fired: Event,
                     committed: Awaitable[None]) -> None:
        """Once the activation is committed, the run starts: its trigger event is published
        and what it started proceeds. A refused activation runs nothing (its nodes were
        waiting for the commit) and puts the pend back with the store's reason, tried again
        after a growing delay (_retry_later), never at once: a refusing store would spin."""
        assert run.durable is not None
        try:
            await committed
        except StoreError as e:
            async with self._lock:
                if self._active.get(run.run_id) is run:
                    del self._active[run.run_id]
                    if pend is not None:  # still a pend to every watcher: never removed
                        pend.reason = f"the run store could not start it: {e}"
                        self._pends[pend.run_id] = pend
                        self._retry_later(pend.run_id)
            log.error("run %s: %s", run.run_id, e)
            run.durable.set_result(str(e))
            return
        if self._active.get(run.run_id) is run:
            self.publish(fired)
        self._refused.pop(run.run_id, None)
        self.publish(Event(fired.run_ref, SYS_STATE, good=True,
                            opts={"action": "remove-pend"}))
        run.durable.set_result("")
        await self.settle(run)  # its first event may have decided it (an end node)

    async def activated(self, run: ActiveRun) -> bool:
        """Whether the store took the run's activation, once it has said (write ahead:
        nothing of a run executes before); False when it refused it. A resumed run's is the
        store's own record."""
        if run.durable is None:
            return True
        return await asyncio.shield(run.durable) == ""

    def _retry_later(self, run_id: str) -> None:
        """A refused start is tried again after a delay that doubles with each refusal, so
        a store that keeps refusing is not asked in a loop."""
        loop = asyncio.get_running_loop()
        _, delay = self._refused.get(run_id, (0.0, RETRY_FIRST / 2))
        delay = min(delay * 2, RETRY_MAX)
        self._refused[run_id] = (loop.time() + delay, delay)
        loop.call_later(delay, self._on_change)

    async def resume(self, record: RunRecord, workspace: Path) -> ActiveRun | None:
        """A run the store kept as active, taken back after a restart or from a host that was
        lost (a shared store); None if known. It executes here from now on."""
        async with self._lock:
            if record.run_id in self._active:
                return None
            if record.ref.exec_host != self._host_id:
                record.ref = replace(record.ref, exec_host=self._host_id)
            run = ActiveRun(record, workspace)
            self._active[run.run_id] = run
            self._store.save_run(record)
        return run

    # ---- the end of a run: one rule ---------------------------------------------------------

    def decide(self, run: ActiveRun, good: bool, *, reason: str = "",
               source: NodeRef = NodeRef(), opts: Mapping[str, Any] | None = None) -> None:
        """The run must end with this result whatever still runs (the first verdict stands):
        `settle` ends it."""
        if run.verdict is None:
            run.verdict = Verdict(good, reason, source, dict(opts or {}))

    async def settle(self, run: ActiveRun) -> bool:
        """The one rule that says a run is over: it has a verdict (an end node, a failure
        nobody handles, its flow gone, a stop), or nothing runs, waits or is queued (good:
        a bad event nobody handled would have given it a verdict). Then active → archive.
        True when this call ended the run."""
        if not self.is_current(run):
            return False
        verdict = run.verdict
        if verdict is None:
            if not run.quiescent():
                return False
            verdict = Verdict(True)
        return await self._archive(run, verdict)

    def settle_soon(self, run: ActiveRun) -> None:
        """`settle` from a callback, which cannot await."""
        if not self.is_current(run):
            return
        task = asyncio.get_running_loop().create_task(self.settle(run),
                                                      name=f"settle {run.run_id}")
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _archive(self, run: ActiveRun, verdict: Verdict) -> bool:
        """Active → archive; False when the run had already ended."""
        async with self._lock:
            if self._active.get(run.run_id) is not run:
                return False
            del self._active[run.run_id]
            record, reason = run.record, verdict.reason
            record.ended, record.good, record.reason = True, verdict.good, reason
            record.end_time = now()
            record.queued.clear()
            for d in record.data_nodes.values():
                d.enabled = False
            for node in record.exec_nodes.values():
                if node.running:  # killed with the run: never left "running" in the archive
                    node.stopped, node.good = record.end_time, False
                    node.reason = (REASON_STOPPED if reason == REASON_STOPPED
                                   else REASON_ENDED_WITH_RUN)
            word_outcome(record)
            for t in list(run.tasks):
                t.cancel()  # each task's ProcessGroup kills its processes
            self._on_ended(run)  # and what left the groups (a daemon) dies with the run
            for node_log in run.logs.values():
                node_log.close()
            run.logs.clear()
            self._store.finish(record)
        self.publish(Event(record.ref, SYS_END_ALL, verdict.source, verdict.good,
                            dict(verdict.opts)))
        self._on_change()
        return True

    async def handed_off(self, pend: Pend, host: str) -> bool:
        """Pend → another host that accepted it (p2p hand-off, cluster/handoff.py): removed
        here and archived nowhere here, the run being `host`'s now; the store removes the
        pend and marks it handed in one write. False when it was no longer pending."""
        async with self._lock:
            if self._pends.get(pend.run_id) is not pend:
                log.warning("run %s was taken by %s after it left the pends here",
                            pend.run_id, host)
                return False
            del self._pends[pend.run_id]
            self._refused.pop(pend.run_id, None)
            self._store.hand_off(pend.run_id, host)
        self.publish(Event(pend.ref, SYS_STATE, good=True,
                           opts={"action": "remove-pend", "host": host}))
        return True

    async def stop(self, flow_id: str, run_id: str, user: str = "") -> None:
        """Stop a pending or active run: archived bad with reason `stopped` and the `user`
        who stopped it; an active run's processes are killed before this returns."""
        async with self._lock:
            pend = self._pends.get(run_id)
            if pend is not None and pend.flow.id == flow_id:
                del self._pends[run_id]
                self._refused.pop(run_id, None)
                self.archive_stopped(pend, user)
                self.publish(Event(pend.ref, SYS_STATE, good=True,
                                    opts={"action": "remove-pend"}))
                self.publish(Event(pend.ref, SYS_END_ALL, good=False))
                return
            run = self._active.get(run_id)
            if run is None or run.flow.id != flow_id:
                raise RunNotFound(f"run {run_id} of flow {flow_id} is not pending or active here")
        tasks = list(run.tasks)
        run.record.stopped_by = user
        run.verdict = Verdict(False, REASON_STOPPED)  # a stop overrides any verdict
        await self.settle(run)
        await asyncio.gather(*tasks, return_exceptions=True)

    def archive_stopped(self, pend: Pend, user: str) -> None:
        """A pend that never started, archived as stopped by `user` (its pend removed in the
        same write)."""
        record = RunRecord.from_pend(pend, ended=True, good=False, reason=REASON_STOPPED,
                                     end_time=now(), stopped_by=user)
        word_outcome(record)
        self._store.finish(record)

    async def close(self) -> None:
        """The engine stops: what changed is saved; the runs stay active in the store."""
        for task in list(self._settling):
            task.cancel()
        await asyncio.gather(*self._settling, return_exceptions=True)
        self._flush_saves()

    # ---- what a run contains ------------------------------------------------------------------

    def save(self, run: ActiveRun) -> None:
        """The changes to a run over two loop turns become one write: a task's result in one
        turn and the routing of its event in the next (which starts the next task) are one
        write per step, not two. Whatever must be durable before it acts waits for it through
        `durable()`."""
        if not self._dirty:
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, self._flush_saves)
        self._dirty[run.run_id] = run

    async def durable(self) -> None:
        """Every change made so far is committed (write ahead: a task's process starts only
        after this). Every caller in a loop turn shares one commit."""
        self._flush_saves()
        await self._store.flush()

    def durable_gate(self) -> Gate | None:
        """durable() for a thread: what it waits on (Gate.wait) before it does anything
        outside the engine, so the loop need not wait for the commit and hand over after
        it; None when the store offers none (then await durable())."""
        self._flush_saves()
        return self._store.gate()

    def _flush_saves(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for run in dirty.values():
            if self.is_current(run):
                self._store.save_run(run.record)

    def queue_event(self, run: ActiveRun, event: Event) -> Event:
        """Publish an event the run's nodes will route; it is saved with the run until it has
        been routed (`routed`), so a restart routes it if this engine could not."""
        event = self.publish(event)
        run.record.queued.append(event)
        self.save(run)
        return event

    def requeue(self, run: ActiveRun) -> None:
        """A resumed run's saved events, published again: the last engine saved them but did
        not route them."""
        saved, run.record.queued = run.record.queued, []
        for event in saved:
            self.queue_event(run, Event(event.run_ref, event.tag, event.source_node, event.good,
                                        event.opts))

    def is_queued(self, run: ActiveRun, event: Event) -> bool:
        return any(e.id == event.id for e in run.record.queued)

    async def routed(self, run: ActiveRun, event: Event) -> None:
        """The event's effects are recorded: it leaves the queue (saved with them), and the
        run may be over."""
        if not self.is_current(run):
            return
        run.record.queued = [e for e in run.record.queued if e.id != event.id]
        self.save(run)
        await self.settle(run)

    def node_started(self, run: ActiveRun, node_id: str, event_opts: Mapping[str, Any], *,
                     form: bool = False) -> None:
        """A node starts, with the opts of the event that started it: kept, so a restart knows
        it was running (and can start it again: opts.restart)."""
        if form:
            data = run.record.data_nodes.setdefault(node_id, DataNode())
            data.started = data.started or now()
        else:
            rec = run.record.exec_node(node_id)
            rec.started, rec.stopped, rec.reason = now(), None, ""
            rec.input = dict(event_opts)
        self.save(run)

    def node_finished(self, run: ActiveRun, node_id: str, status: int | None, good: bool, *,
                      reason: str = "", outputs: Mapping[str, Any] | None = None) -> None:
        rec = run.record.exec_node(node_id)
        rec.stopped, rec.good, rec.status, rec.reason = now(), good, status, reason
        rec.opts = dict(outputs or {})  # kept with the run: a fetch's verified digest, ...
        self.save(run)

    def end_reached(self, run: ActiveRun, node_id: str, event: Event) -> None:
        """An end node: recorded as reached, and the run ends with the result it got."""
        at = now()
        run.record.exec_nodes[node_id] = ExecNode(started=at, stopped=at, good=event.good)
        self.save(run)
        self.decide(run, event.good, source=NodeRef(CLASS_TASK, node_id), opts=event.opts)

    def interrupted(self, run: ActiveRun, node_id: str) -> None:
        """A node that was running when the engine died: it ends interrupted, and its bad event
        is queued so the flow's own failure handling applies."""
        rec = run.record.exec_node(node_id)
        rec.stopped, rec.good, rec.status, rec.reason = now(), False, None, REASON_INTERRUPTED
        self.queue_event(run, Event(run.record.ref, result_tag(CLASS_TASK, node_id, "bad"),
                                    NodeRef(CLASS_TASK, node_id), False, {}))

    def form_asked(self, run: ActiveRun, node_id: str, outputs: Mapping[str, Any],
                   waiting: bool) -> None:
        """A data node ran its form: it waits for a submission, or it is done."""
        rec = run.record.data_nodes.setdefault(node_id, DataNode())
        rec.opts = dict(outputs)
        rec.enabled = waiting
        rec.stopped = None if waiting else now()
        self.save(run)

    def submit_form(self, flow_ref: FlowRef, run_id: str, node_id: str,
                    values: Mapping[str, Any], user: str = "") -> None:
        """Values for a data node that waits for them: kept with who sent them, joined to the
        run's inputs (every task that starts from now on gets them), and routed."""
        run = self.active(run_id)
        if run is None or (flow_ref.id and run.flow.id != flow_ref.id):
            raise RunNotFound(f"run {run_id} is not active on this host")
        node = run.flow.node(node_id)
        if node is None:
            raise RunError(f"flow {run.flow.id} has no node {node_id!r}")
        rec = run.record.data_nodes.get(node_id)
        if rec is None or not rec.enabled:
            raise RunError(f"node {node_id!r} of run {run_id} is not waiting for data")
        check_submission_room(run.record, values)
        rec.submissions.append(submission(run.flow, node, user, dict(values)))
        run.record.add_inputs(values)
        self.queue_event(run, Event(run.record.ref, "inbound.data", NodeRef("task", node_id),
                                    False, dict(values)))

    def merge_saw(self, run: ActiveRun, node: Node, event: Event) -> None:
        """A merge node saw one of the events it waits for; it fires (once) when it has seen
        one (`any`) or all (`all`)."""
        rec = run.record.merge_nodes.setdefault(node.id, MergeNode(started=now()))
        already = rec.stopped is not None
        rec.waits[event.tag] = True
        rec.opts.update(event.opts)
        fired = merge.fires(node, rec.waits, already)
        if fired:
            rec.stopped = now()
        ref, source = run.record.ref, NodeRef(CLASS_MERGE, node.id)
        self.publish(Event(ref, SYS_NODE_UPDATE, source, False, {"waits": dict(rec.waits)}))
        if fired:
            self.queue_event(run, Event(ref, result_tag(CLASS_MERGE, node.id, "good"), source,
                                        True, dict(rec.opts)))
        else:
            self.save(run)

    # ---- node logs ----------------------------------------------------------------------------

    def log_line(self, run: ActiveRun, node_id: str, line: str) -> None:
        """One output line of a node: an event for watchers and a line of the run log."""
        self.node_log(run, node_id).line(line if isinstance(line, str) else str(line))

    def node_log(self, run: ActiveRun, node_id: str) -> NodeLog:
        """The node's log, capped at common.log-lines (hub/logs.py): its lines go to watchers
        as events, to the run's record and to the store (never once the run ended)."""
        node_log = run.logs.get(node_id)
        if node_log is not None:
            return node_log
        ref, source = run.record.ref, NodeRef("task", node_id)

        def emit(text: str, lines: int) -> None:
            opts: dict[str, Any] = {"update": text}
            if lines > 1:
                opts["lines"] = lines
            self.publish(Event(ref, SYS_NODE_UPDATE, source, True, opts))

        def store(text: str) -> None:
            if not run.record.ended:
                self._store.append_log(run.run_id, node_id, text)

        node_log = MaskedNodeLog(  # secrets masked before anything sees a line
            run.record.exec_node(node_id),
            cap=self._logs.cap, emit=emit, store=store,
            file=lambda: self._logs.root / "logs" / run.flow.id / run.run_id / f"{node_id}.log")
        run.logs[node_id] = node_log
        return node_log

    def close_log(self, run: ActiveRun, node_id: str) -> None:
        node_log = run.logs.pop(node_id, None)
        if node_log is not None:
            node_log.close()

    def publish(self, event: Event) -> Event:
        """An event for watchers (and the router, for a run's own events)."""
        return self._queue.publish(event)
