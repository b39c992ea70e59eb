"""The hub: adopts trigger events into pends, dispatches them, routes events through runs
and ends them. Everything here runs on the engine's one asyncio loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config.model import CLASS_MERGE, CLASS_TASK, AppConfig, Flow, Node
from ..errors import ContributionError, RunError, RunNotFound
from ..events import (
    SYS_DATA_REQUIRED,
    SYS_END_ALL,
    SYS_NODE_START,
    SYS_NODE_UPDATE,
    SYS_STATE,
    SYS_TRIGGER_ERROR,
    TRIGGER_GOOD,
    Event,
    EventQueue,
    FlowRef,
    HostedID,
    NodeRef,
    RunRef,
    is_inbound,
    is_system,
    result_tag,
    status_tag,
)
from ..nodes.api import NEEDS_INPUT, get_opt
from ..nodes.registry import Registry
from ..runs import (
    REASON_INTERRUPTED,
    REASON_STOPPED,
    DataNode,
    ExecNode,
    MergeNode,
    Pend,
    RunRecord,
    now,
    pend_summary,
    submission,
)
from ..store.base import RunStore
from .context import RunTaskContext, task_env
from .process import ProcessGroup
from .triggers import HubTriggerContext
from .workspace import prepare_workspace, workspace_path

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0  # the safety-net dispatch; real dispatch is event driven


@dataclass(eq=False)
class ActiveRun:
    """A run executing on this host: its record plus what is in flight for it."""

    record: RunRecord
    workspace: Path
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    pending_events: int = 0  # published for this run, not yet routed

    @property
    def flow(self) -> Flow:
        return self.record.flow

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def quiescent(self) -> bool:
        return (not self.tasks and self.pending_events == 0
                and not any(d.enabled for d in self.record.data_nodes.values()))


class Hub:
    def __init__(
        self,
        config: AppConfig,
        store: RunStore,
        registry: Registry,
        *,
        workspace_root: Path,
        host_id: str = "h1",
        tags: tuple[str, ...] = (),
        queue: EventQueue | None = None,
        sweep_interval: float = SWEEP_INTERVAL,
        triggers: bool = True,
    ) -> None:
        self.config = config
        self.store = store
        self.registry = registry
        self.workspace_root = workspace_root
        self.host_id = host_id
        self.tags = tuple(tags)
        self.queue = queue or EventQueue()
        self.sweep_interval = sweep_interval
        self.watch_triggers = triggers  # False for the tester's throw-away hubs
        self.counter = 0
        self.pends: list[Pend] = []
        self.active: dict[str, ActiveRun] = {}
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._dispatch_lock = asyncio.Lock()
        self._stopped = False
        self.cache_dir = workspace_root / "fetch-cache"  # the engine puts it in store-root
        self.trigger_contexts: dict[tuple[str, str], HubTriggerContext] = {}
        self._dirty: dict[str, ActiveRun] = {}
        # data pushed to a trigger, by event id: who submitted it and who awaits the run ids
        self._submitted: dict[int, tuple[str, asyncio.Future[list[str]] | None]] = {}

    # ---- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        state = self.store.open()
        self.counter = state.counter
        self.pends = list(state.pends)
        for record in state.active:
            # The process that ran it is gone: its tasks cannot be resumed (DECISIONS §2).
            record.ended, record.good, record.reason = True, False, REASON_INTERRUPTED
            record.end_time = now()
            for d in record.data_nodes.values():
                d.enabled = False
            self.store.archive_run(record)
            log.warning("run %s of %s was active when the engine stopped: archived as %s",
                        record.run_id, record.flow.id, REASON_INTERRUPTED)
        self.queue.subscribe(self._on_event)
        self._spawn(self._consume(), "event router")
        self._spawn(self._dispatcher(), "dispatcher")
        self._spawn(self._sweeper(), "sweeper")
        if self.watch_triggers:
            self._start_triggers()
        self._wake.set()

    async def stop(self) -> None:
        """Stop triggers, end active runs as interrupted (killing their processes) and close
        the store with every write applied."""
        if self._stopped:
            return
        self._stopped = True
        for t in list(self._background):
            t.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.queue.unsubscribe(self._on_event)
        for _, waiter in self._submitted.values():
            if waiter is not None and not waiter.done():
                waiter.set_result([])
        self._submitted.clear()
        tasks = [t for run in self.active.values() for t in run.tasks]
        for run in list(self.active.values()):
            self._end(run, False, reason=REASON_INTERRUPTED)
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.store.close()

    def _spawn(self, coro: Any, what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=what)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception():
            log.error("%s stopped: %r", task.get_name(), task.exception(),
                      exc_info=task.exception())

    def _start_triggers(self) -> None:
        for flow in self.config.flows:
            for node in flow.triggers:
                if self.registry.trigger(node.type) is None:
                    log.warning("flow %s trigger %s: no trigger type %r installed; it is inert",
                                flow.id, node.id, node.type)
                    continue
                try:
                    trigger = self.registry.trigger_class(node.type)()
                except ContributionError as e:
                    log.error("flow %s trigger %s: %s", flow.id, node.id, e)
                    continue
                ctx = HubTriggerContext(self, flow, node)
                self.trigger_contexts[(flow.id, node.id)] = ctx
                self._spawn(trigger.watch(ctx), f"trigger {flow.id}/{node.id}")

    # ---- events -----------------------------------------------------------------------

    def publish(self, event: Event) -> Event:
        return self.queue.publish(event)

    def _on_event(self, event: Event) -> None:
        # Counted at publish time so a run is never judged quiescent while an event for it
        # is still queued.
        if event.run_ref.adopted and not is_system(event.tag):
            run = self.active.get(event.run_ref.run_id)
            if run is not None:
                run.pending_events += 1
        self._inbox.put_nowait(event)

    async def _consume(self) -> None:
        while True:
            event = await self._inbox.get()
            try:
                await self._route(event)
            except Exception:  # one bad event must never stop the engine
                log.exception("routing %s failed", event.tag)

    async def _route(self, event: Event) -> None:
        if not event.run_ref.adopted:
            if is_inbound(event.tag):
                await self._adopt(event)
            elif not is_system(event.tag):
                log.error("event %s dispatched to triggers does not have inbound tag prefix",
                          event.tag)
            return
        if is_system(event.tag):
            return
        run = self.active.get(event.run_ref.run_id)
        if run is None:
            log.debug("run %s not active: %s ignored", event.run_ref.run_id, event.tag)
            return
        try:
            if is_inbound(event.tag):
                self._input(run, event)
            else:
                self._route_to_nodes(run, event)
        finally:
            run.pending_events -= 1
            self._end_if_quiescent(run)

    def _route_to_nodes(self, run: ActiveRun, event: Event) -> None:
        nodes = run.flow.match_tag(event.tag)
        if not nodes:
            if not event.good:
                # Nobody handles a failure: the run fails (DECISIONS §2).
                self._end(run, False, reason=f"{event.tag} was not handled",
                          source=event.source_node, opts=event.opts)
            return
        for node in nodes:
            if node.class_ == CLASS_MERGE:
                self._merge(run, node, event)
            elif node.class_ == CLASS_TASK:
                if self._ends_run(node):
                    self._end(run, event.good, source=NodeRef(CLASS_TASK, node.id),
                              opts=event.opts)
                    return
                self._start_task(run, node, event)

    def _ends_run(self, node: Node) -> bool:
        try:
            return bool(getattr(self.registry.task_class(node.type), "ends_run", False))
        except ContributionError:
            return False

    # ---- pends and dispatch -----------------------------------------------------------

    async def _adopt(self, event: Event) -> None:
        user, waiter = self._submitted.pop(event.id, ("", None))
        started: list[str] = []
        try:
            await self._adopt_flows(event, user, started)
        finally:
            if waiter is not None and not waiter.done():
                waiter.set_result(started)

    async def _adopt_flows(self, event: Event, user: str, started: list[str]) -> None:
        trigger_type = event.tag[len("inbound."):]
        for flow, trigger in self.config.flows_by_trigger(
                trigger_type, event.run_ref.flow_ref, event.source_node.id):
            if flow.flow_file:
                try:
                    # Only a poll-git event's own branch and hash (they come from git) may
                    # pick the revision; pushed data never chooses what runs (DECISIONS §2).
                    polled = event.opts if trigger_type == "poll-git" else {}
                    flow = await asyncio.to_thread(self._load_flow_file, flow, trigger.opts,
                                                   polled)
                except Exception as e:
                    self._flow_file_failed(flow, trigger, e)
                    continue
            audit = submission(flow, trigger, user, event.opts) if trigger_type == "data" else {}
            pend = self.add_pend(flow, trigger, merge_opts(trigger.opts, event.opts), audit)
            started.append(pend.run_id)

    def _load_flow_file(self, flow: Flow, trigger_opts: Mapping[str, Any],
                        polled: Mapping[str, Any]) -> Flow:
        from ..config.loader import flow_file_rev, load_flow_file, merge_flow_file

        base = Path(self.config.source).parent if self.config.source else Path.cwd()
        rev = flow_file_rev(flow.flow_file, trigger_opts, polled)
        body = load_flow_file(flow.flow_file, base, self.cache_dir, rev=rev,
                              key_file=self.config.common.git_key)
        return merge_flow_file(flow, body)

    def _flow_file_failed(self, flow: Flow, trigger: Node, error: Exception) -> None:
        """Nothing starts; the engine log, an event and the trigger's API status say why."""
        message = f"could not load in the flow from FlowFile {flow.flow_file}: {error}"
        log.error("flow %s trigger %s: %s", flow.id, trigger.id, message)
        self.publish(Event(RunRef(flow.ref), SYS_TRIGGER_ERROR, NodeRef("trigger", trigger.id),
                           False, {"error": message, "flow-file": flow.flow_file}))
        ctx = self.trigger_contexts.get((flow.id, trigger.id))
        if ctx is not None:
            ctx.report(message)

    def add_pend(self, flow: Flow, trigger: Node, opts: Mapping[str, Any],
                 audit: Mapping[str, Any] | None = None) -> Pend:
        self.counter += 1
        ref = RunRef(flow.ref, HostedID(self.host_id, self.counter))
        pend = Pend(ref, flow, NodeRef("trigger", trigger.id), dict(opts), created=now(),
                    reason="waiting to be dispatched", submission=dict(audit or {}))
        self.pends.append(pend)
        self.store.add_pend(pend, self.counter)
        self.publish(Event(ref, SYS_STATE, good=True, opts={"action": "add-pend"}))
        self._wake.set()
        return pend

    async def _dispatcher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.dispatch()

    async def _sweeper(self) -> None:
        # A safety net only: every change that can unblock a pend wakes the dispatcher.
        while True:
            await asyncio.sleep(self.sweep_interval)
            self._wake.set()

    async def dispatch(self) -> None:
        """Start every pend that can start now; note for the others why they wait."""
        async with self._dispatch_lock:
            for pend in list(self.pends):
                reason = self.blocker(pend.flow)
                if reason:
                    pend.reason = reason
                    continue
                await self._activate(pend)

    def blocker(self, flow: Flow) -> str:
        """Why a run of `flow` cannot start on this host now, in words a user can act on."""
        missing = [t for t in flow.host_tags if t not in self.tags]
        if missing:
            return f"no host has tags [{', '.join(missing)}]"
        for run in self.active.values():
            shared = [t for t in flow.resource_tags if t in run.flow.resource_tags]
            if shared:
                return f"resource tag {shared[0]} held by {run.flow.id} {run.run_id}"
            if flow.reuse_space and run.flow.reuse_space and run.flow.id == flow.id:
                return f"reuse-space held by {run.run_id}"
        return ""

    async def execute_pend(self, pend: Pend) -> str:
        """Start a pend another host adopted (p2p hand-off): "" once started, else why not."""
        async with self._dispatch_lock:
            reason = self.blocker(pend.flow)
            if reason:
                return reason
            if not await self._activate(pend):
                return pend.reason
            return ""

    async def _activate(self, pend: Pend) -> bool:
        ws = workspace_path(self.workspace_root, pend)
        local = pend in self.pends
        try:
            await asyncio.to_thread(prepare_workspace, ws, reuse=pend.flow.reuse_space)
        except OSError as e:
            pend.reason = f"workspace {ws} could not be made: {e}"
            log.error("run %s: %s", pend.run_id, pend.reason)
            return False
        if local and pend not in self.pends:  # stopped while its workspace was being made
            return False
        self.publish(Event(pend.ref, SYS_STATE, good=True, opts={"action": "activate"}))
        ref = replace(pend.ref, exec_host=self.host_id)
        record = RunRecord.from_pend(pend, ref, start_time=now())
        self.active[pend.run_id] = ActiveRun(record, ws)
        self.store.save_run(record)
        self.publish(Event(ref, TRIGGER_GOOD, pend.triggered_node, True, dict(pend.opts)))
        if local:
            self._remove_pend(pend)
        return True

    def _remove_pend(self, pend: Pend) -> None:
        self.pends.remove(pend)
        self.store.remove_pend(pend.run_id)
        self.publish(Event(pend.ref, SYS_STATE, good=True, opts={"action": "remove-pend"}))

    # ---- tasks ------------------------------------------------------------------------

    def _start_task(self, run: ActiveRun, node: Node, event: Event) -> None:
        task = asyncio.create_task(self._execute(run, node, event),
                                   name=f"{run.run_id}/{node.id}")
        run.tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(run, t))

    def _task_done(self, run: ActiveRun, task: asyncio.Task[None]) -> None:
        run.tasks.discard(task)
        if not task.cancelled() and task.exception():
            log.error("task %s crashed", task.get_name(), exc_info=task.exception())
        self._end_if_quiescent(run)

    async def _execute(self, run: ActiveRun, node: Node, event: Event) -> None:
        try:
            result = await self._perform(run, node, event)
        finally:
            # Discarded before the result is published, so the result event is counted
            # before the run could look idle.
            run.tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
        if result is not None and run.run_id in self.active:
            self.publish(result)
        self._end_if_quiescent(run)

    async def _perform(self, run: ActiveRun, node: Node, event: Event) -> Event | None:
        ref, source = run.record.ref, NodeRef(CLASS_TASK, node.id)
        try:
            cls = self.registry.task_class(node.type)
        except ContributionError as e:
            self._task_line(run, node.id, str(e))
            return self._finish_exec(run, node, 255, error=e)
        if getattr(cls, "awaits_input", False):
            return await self._perform_data(run, node, cls, event)
        self.publish(Event(ref, SYS_NODE_START, source))
        rec = run.record.exec_nodes.setdefault(node.id, ExecNode())
        rec.started, rec.stopped = now(), None
        self._save(run)
        ctx = self._context(run, node, event, ProcessGroup())
        timeout = get_opt(node.opts, "timeout")
        error: Exception | None = None
        try:
            coro = cls().run(ctx)
            status = int(await (asyncio.wait_for(coro, float(timeout)) if timeout else coro))
        except TimeoutError:
            ctx.log(f"timed out after {float(timeout):g} s: stopped")
            status = -1
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the implementation failed, not the work it ran
            log.warning("task %s of run %s raised %r", node.id, run.run_id, e)
            ctx.log(f"error: {e}")
            status, error = 255, e
        return self._finish_exec(run, node, status, error=error, outputs=ctx.outputs)

    def _finish_exec(self, run: ActiveRun, node: Node, status: int, *,
                     error: Exception | None = None,
                     outputs: dict[str, Any] | None = None) -> Event:
        if error is not None and not node.ignore_fail:
            tag, good = result_tag(CLASS_TASK, node.id, "error"), False
        else:
            tag, good = status_tag(node.id, status, good_statuses=node.good,
                                   ignore_fail=node.ignore_fail, use_status=node.use_status)
        rec = run.record.exec_nodes.setdefault(node.id, ExecNode())
        rec.stopped, rec.good, rec.status = now(), good, status
        self._save(run)
        return Event(run.record.ref, tag, NodeRef(CLASS_TASK, node.id), good, outputs or {})

    async def _perform_data(self, run: ActiveRun, node: Node, cls: type,
                            event: Event) -> Event | None:
        rec = run.record.data_nodes.setdefault(node.id, DataNode())
        rec.started = now()
        ctx = self._context(run, node, event, ProcessGroup())
        try:
            status = int(await cls().run(ctx))
        except Exception as e:
            ctx.log(f"error: {e}")
            status = 1
        rec.opts = dict(ctx.outputs)
        rec.enabled = status == NEEDS_INPUT
        if not rec.enabled:
            rec.stopped = now()
        self._save(run)
        ref, source = run.record.ref, NodeRef(CLASS_TASK, node.id)
        if rec.enabled:
            self.publish(Event(ref, SYS_DATA_REQUIRED, source, True, dict(ctx.outputs)))
            return None
        suffix = "good" if status == 0 else "bad"
        return Event(ref, result_tag(CLASS_TASK, node.id, suffix), source, status == 0,
                     dict(ctx.outputs))

    def _context(self, run: ActiveRun, node: Node, event: Event,
                 group: ProcessGroup) -> RunTaskContext:
        opts = task_opts(run.flow, node, event.opts, self.config.common.git_key)
        return RunTaskContext(
            node_id=node.id, opts=opts, input=dict(event.opts), workspace=run.workspace,
            env=task_env(opts.get("env") or [], run.workspace),
            on_line=lambda line: self._task_line(run, node.id, line), group=group,
            cache_dir=self.cache_dir)

    def _task_line(self, run: ActiveRun, node_id: str, line: str) -> None:
        self.publish(Event(run.record.ref, SYS_NODE_UPDATE, NodeRef(CLASS_TASK, node_id), True,
                           {"update": line}))
        if line and not run.record.ended:
            run.record.exec_nodes.setdefault(node_id, ExecNode()).logs.append(line)
            self.store.append_log(run.run_id, node_id, line)

    def _save(self, run: ActiveRun) -> None:
        """Saves of one run within one loop turn become one write."""
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush_saves)
        self._dirty[run.run_id] = run

    def _flush_saves(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for run in dirty.values():
            if not run.record.ended:
                self.store.save_run(run.record)

    # ---- merges and data --------------------------------------------------------------

    def _merge(self, run: ActiveRun, node: Node, event: Event) -> None:
        rec = run.record.merge_nodes.setdefault(node.id, MergeNode(started=now()))
        rec.waits[event.tag] = True
        rec.opts.update(event.opts)
        fired = ((node.type == "any" and len(rec.waits) == 1)
                 or (node.type == "all" and len(rec.waits) == len(set(node.wait))))
        if fired:
            rec.stopped = now()
        self._save(run)
        ref, source = run.record.ref, NodeRef(CLASS_MERGE, node.id)
        self.publish(Event(ref, SYS_NODE_UPDATE, source, False, {"waits": dict(rec.waits)}))
        if fired:
            self.publish(Event(ref, result_tag(CLASS_MERGE, node.id, "good"), source, True,
                               dict(rec.opts)))

    def _input(self, run: ActiveRun, event: Event) -> None:
        node = run.flow.node(event.source_node.id)
        if node is None or node.class_ != CLASS_TASK:
            log.warning("run %s: data for unknown node %s ignored", run.run_id,
                        event.source_node.id)
            return
        self._start_task(run, node, event)

    def push_data(self, flow_ref: FlowRef, run_id: str, node_id: str,
                  values: Mapping[str, Any], user: str = "") -> None:
        """Start a run from a data trigger (no run id) or feed a waiting data node; either
        way `user` is recorded with the values (the data-form audit)."""
        if not run_id:
            self._push_trigger_data(flow_ref, node_id, values, user, None)
            return
        run = self.active.get(run_id)
        if run is None or (flow_ref.id and run.flow.id != flow_ref.id):
            raise RunNotFound(f"run {run_id} is not active on this host")
        node = run.flow.node(node_id)
        if node is None:
            raise RunError(f"flow {run.flow.id} has no node {node_id!r}")
        rec = run.record.data_nodes.get(node_id)
        if rec is None or not rec.enabled:
            raise RunError(f"node {node_id!r} of run {run_id} is not waiting for data")
        rec.submissions.append(submission(run.flow, node, user, dict(values)))
        self._save(run)
        self.publish(Event(run.record.ref, "inbound.data", NodeRef(CLASS_TASK, node_id), False,
                           dict(values)))

    async def start_from_data(self, flow_ref: FlowRef, trigger_id: str,
                              values: Mapping[str, Any], user: str = "") -> list[str]:
        """push_data without a run, awaited until adopted: the ids of the runs it started
        (none when no flow has a matching data trigger)."""
        waiter: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._push_trigger_data(flow_ref, trigger_id, values, user, waiter)
        return await waiter

    def _push_trigger_data(self, flow_ref: FlowRef, node_id: str, values: Mapping[str, Any],
                           user: str, waiter: asyncio.Future[list[str]] | None) -> None:
        event = self.publish(Event(RunRef(flow_ref), "inbound.data",
                                   NodeRef("trigger", node_id), False, dict(values)))
        # The router reads this on a later loop turn, so it is in place before it is needed.
        if user or waiter is not None:
            self._submitted[event.id] = (user, waiter)

    # ---- ending -----------------------------------------------------------------------

    def _end_if_quiescent(self, run: ActiveRun) -> None:
        if run.run_id in self.active and run.quiescent():
            # Nothing runs and nothing waits: every unhandled event was good (a bad one
            # would have ended the run already).
            self._end(run, True, reason="")

    def _end(self, run: ActiveRun, good: bool, *, reason: str = "",
             source: NodeRef = NodeRef(), opts: Mapping[str, Any] | None = None) -> None:
        if self.active.get(run.run_id) is not run:
            return
        del self.active[run.run_id]
        record = run.record
        record.ended, record.good, record.reason, record.end_time = True, good, reason, now()
        for d in record.data_nodes.values():
            d.enabled = False
        for t in list(run.tasks):
            t.cancel()  # each task's ProcessGroup kills its processes
        self.store.archive_run(record)
        self.publish(Event(record.ref, SYS_END_ALL, source, good, dict(opts or {})))
        self._wake.set()

    async def stop_run(self, flow_id: str, run_id: str) -> None:
        """Stop a pending or active run: its processes are killed and it is archived bad."""
        for pend in self.pends:
            if pend.run_id == run_id and pend.flow.id == flow_id:
                self._remove_pend(pend)
                record = RunRecord.from_pend(pend, ended=True, good=False,
                                             reason=REASON_STOPPED, end_time=now())
                self.store.archive_run(record)
                self.publish(Event(pend.ref, SYS_END_ALL, good=False))
                return
        run = self.active.get(run_id)
        if run is None or run.flow.id != flow_id:
            raise RunNotFound(f"run {run_id} of flow {flow_id} is not pending or active here")
        tasks = list(run.tasks)
        self._end(run, False, reason=REASON_STOPPED)
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- reading ----------------------------------------------------------------------

    async def find_run(self, flow_id: str, run_id: str) -> RunRecord | Pend | None:
        for pend in self.pends:
            if pend.run_id == run_id and pend.flow.id == flow_id:
                return pend
        run = self.active.get(run_id)
        if run is not None and run.flow.id == flow_id:
            return run.record
        record = await self.store.load_run(run_id)
        if record is not None and record.flow.id == flow_id:
            return record
        return None

    async def run_summaries(self, flow_id: str) -> dict[str, list[dict[str, Any]]]:
        return {**self.live_summaries(flow_id),
                "Archive": await self.archive_summaries(flow_id)}

    def live_summaries(self, flow_id: str) -> dict[str, list[dict[str, Any]]]:
        """`Active` and `Pending` summaries of a flow, newest first, from memory."""
        active = sorted((r.record for r in self.active.values() if r.flow.id == flow_id),
                        key=lambda r: r.start_time or now(), reverse=True)
        return {
            "Active": [r.summary() for r in active],
            "Pending": [pend_summary(p) for p in reversed(self.pends) if p.flow.id == flow_id],
        }

    async def archive_summaries(self, flow_id: str) -> list[dict[str, Any]]:
        return [r.summary() for r in await self.store.list_runs(flow_id) if r.ended]


def merge_opts(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` wins, except that `env` lists are appended (floe-reference §2.5, §8.7)."""
    merged = {**base, **over}
    if isinstance(base.get("env"), list) and isinstance(over.get("env"), list):
        merged["env"] = [*base["env"], *over["env"]]
    return merged


def task_opts(flow: Flow, node: Node, event_opts: Mapping[str, Any],
              git_key: str = "") -> dict[str, Any]:
    """The opts a task runs with: the event's, `key-file` from common git-key, then the
    node's own; env = flow env, then the event's, then the task's (DECISIONS §2)."""
    opts: dict[str, Any] = dict(event_opts)
    if git_key:
        opts["key-file"] = git_key
    opts.update(node.opts)
    env = list(flow.env)
    for source in (event_opts, node.opts):
        value = get_opt(source, "env")
        if isinstance(value, list):
            env += [str(v) for v in value]
    opts["env"] = env
    return opts
