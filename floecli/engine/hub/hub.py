"""The hub: ties run state, dispatch, routing and task execution together on the engine's one
asyncio loop, and is the one public way to start, feed, stop and read runs."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config.model import AppConfig, Flow, Node
from ..contributions.registry import Registry
from ..errors import ContributionError, RunError, RunNotFound
from ..events import (
    SYS_END_ALL,
    SYS_NODE_UPDATE,
    SYS_TRIGGER_ERROR,
    Event,
    EventQueue,
    FlowRef,
    NodeRef,
    RunRef,
    is_system,
)
from ..nodes.api import get_opt
from ..runs import (
    ExecNode,
    Pend,
    RunRecord,
    check_submission_room,
    now,
    pend_summary,
    submission,
)
from ..secrets import NO_SECRETS, Secrets
from ..store.base import RunStore
from .dispatch import SWEEP_INTERVAL, Dispatcher
from .logs import NodeLog
from .masked import MaskedNodeLog
from .opts import trigger_opts
from .reaper import Reaper, kill_marked, root_tag
from .resume import resume_run
from .routing import Router
from .spawned import SpawnJournal
from .state import ActiveRun, Origin, RunState
from .tasks import TaskRunner
from .triggers import HubTriggerContext

log = logging.getLogger(__name__)


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
        counter_floor: int = 0,
        cache_dir: Path | None = None,
        spawn_journal: Path | None = None,
        secrets: Secrets | None = None,
    ) -> None:
        self.config = config
        # given to the tasks of flows that name them; None (the tester's hubs): none at all
        self.secrets = secrets or NO_SECRETS
        self.store = store
        self.registry = registry
        self.workspace_root = workspace_root
        self.host_id = host_id
        self.tags = tuple(tags)
        self.queue = queue or EventQueue()
        self.watch_triggers = triggers  # False for the tester's throw-away hubs
        self._counter_floor = counter_floor  # run ids start above it (the tester's)
        # one download cache per host, shared by fetch tasks and web flow-files
        self.cache_dir = cache_dir or workspace_root / "fetch-cache"
        self.trigger_contexts: dict[tuple[str, str], HubTriggerContext] = {}
        self.dispatcher = Dispatcher(self, sweep_interval)
        self.state = RunState(store, self.queue, host_id, self.dispatcher.wake, self._reap)
        self.root_tag = root_tag(workspace_root)  # names this root's task processes
        self.reaper = Reaper()
        self.spawned = SpawnJournal(spawn_journal)
        self.tasks = TaskRunner(self)
        self.router = Router(self)
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._background: set[asyncio.Task[Any]] = set()
        self._dirty: dict[str, ActiveRun] = {}
        self._stopped = False

    # ---- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, resume the runs it kept, then route, dispatch and watch."""
        stored = self.store.open()
        self.state.load(stored, self._counter_floor)
        # A previous engine on this root may have died with its tasks still running: they
        # must not share a workspace with the runs that resume or reuse it.
        await asyncio.to_thread(kill_marked, self.root_tag + ":")
        self.queue.subscribe(self._on_event)
        self._spawn(self._consume(), "event router")
        spawned = self.spawned.open()
        for record in stored.active:
            await resume_run(self, record, spawned)
        self.spawned.reset()  # every resumed run has decided its tasks
        self._spawn(self.dispatcher.serve(), "dispatcher")
        self._spawn(self.dispatcher.sweep(), "sweeper")
        if self.watch_triggers:
            self._start_triggers()
        self.dispatcher.wake()

    async def stop(self) -> None:
        """Stop triggers and kill the processes of active runs, leaving the runs active in
        the store (they resume at the next start), then close the store."""
        if self._stopped:
            return
        self._stopped = True
        for t in list(self._background):
            t.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.queue.unsubscribe(self._on_event)
        tasks = [t for run in self.state.active_runs() for t in run.tasks]
        for t in tasks:
            t.cancel()  # each task's ProcessGroup kills its processes
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(kill_marked, self.root_tag + ":")  # and what left them
        self._flush_saves()
        await self.store.close()
        self.spawned.close()

    def _spawn(self, coro: Any, what: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=what)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception():
            log.error("%s stopped: %r", task.get_name(), task.exception(),
                      exc_info=task.exception())

    def _reap(self, run: ActiveRun) -> None:
        """Kill what survives of an ended run's processes beyond their groups (a daemon a
        task left: hub/reaper.py), once the groups have had their grace to stop."""
        async def reap() -> None:
            await asyncio.gather(*run.tasks, return_exceptions=True)
            await self.reaper.reap(f"{self.root_tag}:{run.run_id}:")
        self._spawn(reap(), f"reap {run.run_id}")

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

    # ---- starting runs ----------------------------------------------------------------

    async def submit(self, flow_ref: FlowRef, trigger_id: str = "",
                     values: Mapping[str, Any] | None = None, *, user: str = "",
                     trigger_type: str = "data") -> list[str]:
        """Fire the `trigger_type` trigger of every flow `flow_ref` names (all flows when its
        id is empty): the ids of the runs it started, once they are durable in the store.
        `user` is recorded with the values."""
        fired = dict(values or {})
        self.publish(Event(RunRef(flow_ref), f"inbound.{trigger_type}",
                           NodeRef("trigger", trigger_id), False, fired))
        started = []
        for flow, trigger in self.config.flows_by_trigger(trigger_type, flow_ref, trigger_id):
            pend = await self.start_run(flow, trigger, fired, user=user)
            if pend is not None:
                started.append(pend.run_id)
        if started:
            # The ids go back to the caller as an acknowledgement: a crash from here on must
            # not lose the runs, so their pends are made durable first.
            await self.store.pends_durable()
        return started

    async def start_run(self, flow: Flow, trigger: Node, fired: Mapping[str, Any], *,
                        user: str = "") -> Pend | None:
        """Adopt one run of `flow` as if `trigger` fired with `fired`; None when its
        flow-file cannot be loaded (the engine log, an event and the trigger's status say
        why)."""
        if flow.flow_file:
            # Only a poll-git event's own branch and hash (they come from git) may pick the
            # revision; pushed data never chooses what runs (DECISIONS §2).
            polled = fired if trigger.type == "poll-git" else {}
            try:
                flow = await asyncio.to_thread(self._load_flow_file, flow, trigger.opts, polled)
            except Exception as e:
                self._flow_file_failed(flow, trigger, e)
                return None
        flow = self.run_flow(flow, trigger.id)
        audit = submission(flow, trigger, user, dict(fired)) if trigger.type == "data" else {}
        return await self.state.adopt(flow, trigger, trigger_opts(trigger, fired), audit)

    @staticmethod
    def run_flow(flow: Flow, trigger_id: str) -> Flow:
        """The flow a run of `flow` started by trigger `trigger_id` runs: the trigger's
        `opts.env` joins the flow's env, so every task of the run gets it after the flow's
        and before its own (floe-reference §1.10). Only the app document's env: a value
        pushed with a form never sets env (DECISIONS §2)."""
        trigger = next((t for t in flow.triggers if t.id == trigger_id), None)
        env = get_opt(trigger.opts, "env") if trigger is not None else None
        if not isinstance(env, list) or not env:
            return flow
        return replace(flow, env=(*flow.env, *(str(v) for v in env)))

    def _load_flow_file(self, flow: Flow, trigger_opts: Mapping[str, Any],
                        polled: Mapping[str, Any]) -> Flow:
        from ..config.loader import flow_file_rev, load_flow_file, merge_flow_file

        base = Path(self.config.source).parent if self.config.source else Path.cwd()
        rev = flow_file_rev(flow.flow_file, trigger_opts, polled)
        body = load_flow_file(flow.flow_file, base, self.cache_dir, rev=rev,
                              key_file=self.config.common.git_key,
                              absolute_ok=self.config.common.absolute_flow_files)
        return merge_flow_file(flow, body)

    def _flow_file_failed(self, flow: Flow, trigger: Node, error: Exception) -> None:
        message = f"could not load in the flow from FlowFile {flow.flow_file}: {error}"
        log.error("flow %s trigger %s: %s", flow.id, trigger.id, message)
        self.publish(Event(RunRef(flow.ref), SYS_TRIGGER_ERROR, NodeRef("trigger", trigger.id),
                           False, {"error": message, "flow-file": flow.flow_file}))
        ctx = self.trigger_contexts.get((flow.id, trigger.id))
        if ctx is not None:
            ctx.report(message)

    def fire(self, flow: Flow, trigger: Node, fired: Mapping[str, Any]) -> None:
        """A trigger fired: adopt its run without making the trigger wait."""
        self.publish(Event(RunRef(flow.ref), f"inbound.{trigger.type}",
                           NodeRef("trigger", trigger.id), False, dict(fired)))
        self._spawn(self.start_run(flow, trigger, fired), f"adopt {flow.id}/{trigger.id}")

    async def execute_pend(self, pend: Pend) -> str:
        """Start a pend another host adopted (p2p hand-off): "" once started, else why not.
        A run id this host already knows is refused, so a repeated hand-off runs once."""
        started = await self.dispatcher.activate(pend, Origin.PEER)
        if isinstance(started, str):
            return started
        assert started.durable is not None
        return await asyncio.shield(started.durable)  # "" once the store holds it

    def push_data(self, flow_ref: FlowRef, run_id: str, node_id: str,
                  values: Mapping[str, Any], user: str = "") -> None:
        """Feed values to a data node that waits for them; `user` is recorded with them."""
        run = self.state.active(run_id)
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
        run.record.add_inputs(values)  # every task that starts from now on gets them
        self.publish_for(run, Event(run.record.ref, "inbound.data",
                                    NodeRef("task", node_id), False, dict(values)))

    async def stop_run(self, flow_id: str, run_id: str, user: str = "") -> None:
        """Stop a pending or active run: its processes are killed and it is archived bad,
        with the `user` who stopped it."""
        await self.state.stop(flow_id, run_id, user)

    async def rerun(self, flow_id: str, run_id: str, from_node: str = "", *,
                    user: str = "") -> Pend:
        """A new run of an ended run with the same inputs, or from one of its nodes with
        the nodes before it carried over (hub/rerun.py)."""
        from .rerun import rerun

        return await rerun(self, flow_id, run_id, from_node, user=user)

    # ---- events -----------------------------------------------------------------------

    def publish(self, event: Event) -> Event:
        return self.queue.publish(event)

    def publish_for(self, run: ActiveRun, event: Event) -> Event:
        """Publish an event the run's nodes will route; it is saved with the run until it
        has been routed, so a restart routes it if this engine could not."""
        event = self.publish(event)
        run.record.queued.append(event)
        self.save(run)
        return event

    def _on_event(self, event: Event) -> None:
        if event.run_ref.adopted and not is_system(event.tag):
            self._inbox.put_nowait(event)
        elif event.tag == SYS_END_ALL and event.run_ref.adopted:
            self._keep_artifacts(event.run_ref)

    def _keep_artifacts(self, ref: RunRef) -> None:
        """A run ended: its flow's artifacts are copied where they outlive its workspace
        (hub/artifacts.py)."""
        flow = self.config.flow(ref.flow_ref)
        if flow is None or not flow.artifacts:
            return
        from .artifacts import keep_artifacts

        self._spawn(asyncio.to_thread(keep_artifacts, self.workspace_root, flow, ref.run_id),
                    f"keep artifacts of {ref.run_id}")

    async def _consume(self) -> None:
        while True:
            event = await self._inbox.get()
            run = self.state.active(event.run_ref.run_id)
            if run is None or not any(e.id == event.id for e in run.record.queued):
                continue  # ended meanwhile, or not this host's to route
            try:
                await self.router.route(run, event)
            except Exception:  # one bad event must never stop the engine
                log.exception("routing %s failed", event.tag)

    def log_line(self, run: ActiveRun, node_id: str, line: str) -> None:
        """One output line of a node: an event for watchers and a line of the run log."""
        self.node_log(run, node_id).line(line if isinstance(line, str) else str(line))

    def node_log(self, run: ActiveRun, node_id: str) -> NodeLog:
        """The node's log, capped at common.log-lines (hub/logs.py)."""
        node_log = run.logs.get(node_id)
        if node_log is None:
            ref, source = run.record.ref, NodeRef("task", node_id)

            def emit(text: str, lines: int) -> None:
                opts: dict[str, Any] = {"update": text}
                if lines > 1:
                    opts["lines"] = lines
                self.publish(Event(ref, SYS_NODE_UPDATE, source, True, opts))

            def store(text: str) -> None:
                if not run.record.ended:
                    self.store.append_log(run.run_id, node_id, text)

            node_log = MaskedNodeLog(  # secrets masked before anything sees a line
                run.record.exec_nodes.setdefault(node_id, ExecNode()),
                cap=self.config.common.log_lines, emit=emit, store=store,
                file=Path(os.path.join(self.workspace_root, "logs", run.flow.id, run.run_id,
                                       f"{node_id}.log")))
            run.logs[node_id] = node_log
        return node_log

    def secret_env(self, flow: Flow) -> dict[str, str]:
        """The secrets `flow` names, as environment variables (engine/secrets.py). A run
        record read back keeps no secret names: the configured flow's are used."""
        names = flow.secrets
        if not names:
            configured = self.config.flow(flow.ref)
            names = configured.secrets if configured is not None else ()
        return self.secrets.env(names) if names else {}

    def close_log(self, run: ActiveRun, node_id: str) -> None:
        node_log = run.logs.pop(node_id, None)
        if node_log is not None:
            node_log.close()

    def save(self, run: ActiveRun) -> None:
        """Saves of runs within one loop turn become one write each."""
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush_saves)
        self._dirty[run.run_id] = run

    def _flush_saves(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for run in dirty.values():
            if self.state.is_current(run):
                self.store.save_run(run.record)

    # ---- ending -----------------------------------------------------------------------

    async def end_if_quiescent(self, run: ActiveRun) -> None:
        if self.state.is_current(run) and run.quiescent():
            # Nothing runs and nothing waits: every unhandled event was good (a bad one
            # would have ended the run already).
            await self.state.finish(run, True)

    def check_quiescent(self, run: ActiveRun) -> None:
        """end_if_quiescent from a callback, which cannot await."""
        if self.state.is_current(run) and run.quiescent():
            self._spawn(self.end_if_quiescent(run), f"end {run.run_id}")

    # ---- reading ----------------------------------------------------------------------

    @property
    def pends(self) -> list[Pend]:
        """The pends, in adoption order (a copy: only the run state changes them)."""
        return self.state.pends()

    @property
    def active(self) -> dict[str, ActiveRun]:
        """Active runs by id (a copy)."""
        return {r.run_id: r for r in self.state.active_runs()}

    async def find_run(self, flow_id: str, run_id: str) -> RunRecord | Pend | None:
        pend = self.state.pend(run_id)
        if pend is not None:
            return pend if pend.flow.id == flow_id else None
        run = self.state.active(run_id)
        if run is not None:
            return run.record if run.flow.id == flow_id else None
        record = await self.store.load_run(run_id)
        if record is not None and record.flow.id == flow_id:
            return record
        return None

    async def node_logs(self, run_id: str, node_id: str | None = None) -> dict[str, list[str]]:
        """The log lines the run store keeps for a run, per node (or of one node)."""
        return await self.store.node_logs(run_id, node_id)

    async def run_summaries(self, flow_id: str) -> dict[str, list[dict[str, Any]]]:
        return {**self.live_summaries(flow_id),
                "Archive": (await self.archive_summaries(flow_id))[0]}

    def live_summaries(self, flow_id: str) -> dict[str, list[dict[str, Any]]]:
        """`Active` and `Pending` summaries of a flow, newest first, from memory."""
        active = sorted((r.record for r in self.state.active_runs() if r.flow.id == flow_id),
                        key=lambda r: r.start_time or now(), reverse=True)
        return {
            "Active": [r.summary() for r in active],
            "Pending": [pend_summary(p) for p in reversed(self.state.pends())
                        if p.flow.id == flow_id],
        }

    async def archive_summaries(self, flow_id: str, offset: int = 0, limit: int = 0
                                ) -> tuple[list[dict[str, Any]], int]:
        """A page of the flow's archived runs, newest first (limit 0: all), and their count."""
        return await self.store.archive_page(flow_id, offset, limit)
