"""The hub: the one public way to start, feed, stop and read runs. A facade over the run owner
(hub/state.py), the dispatcher, the router and the task runner, which it wires together on the
engine's one asyncio loop; none of them knows the hub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..contributions.registry import Registry
from ..errors import ContributionError, RunNotFound
from ..events import (
    SYS_END_ALL,
    SYS_TRIGGER_ERROR,
    Event,
    EventQueue,
    FlowRef,
    NodeRef,
    RunRef,
)
from ..flow import AppConfig, Flow, Node
from ..host import Host
from ..nodes.api import get_opt
from ..pend import Pend, pend_summary
from ..runs import RunRecord, now, submission
from ..secrets import NO_SECRETS, Secrets
from ..store.base import RunStore
from .dispatch import SWEEP_INTERVAL, Dispatcher
from .opts import trigger_opts
from .reaper import Reaper, kill_marked, root_tag
from .resume import resume_run
from .routing import Router
from .spawned import SpawnJournal
from .state import ActiveRun, LogPlace, Origin, RunState
from .tasks import TaskHost, TaskRunner, ends_run
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
        self.host = Host(host_id, tuple(tags))
        self.queue = queue or EventQueue()
        self.watch_triggers = triggers  # False for the tester's throw-away hubs
        self._counter_floor = counter_floor  # run ids start above it (the tester's)
        # one download cache per host, shared by fetch tasks and web flow-files
        self.cache_dir = cache_dir or workspace_root / "fetch-cache"
        self.trigger_contexts: dict[tuple[str, str], HubTriggerContext] = {}
        self.root_tag = root_tag(workspace_root)  # names this root's task processes
        self.reaper = Reaper()
        self.spawned = SpawnJournal(spawn_journal)
        self.state = RunState(store, self.queue, host_id, self._wake_dispatcher, self._reap,
                              LogPlace(config.common.log_lines, workspace_root))
        self.tasks = TaskRunner(self.state, TaskHost(
            registry=registry, git_key=config.common.git_key, secret_env=self.secret_env,
            reaper=self.reaper, root_tag=self.root_tag, spawned=self.spawned,
            cache_dir=self.cache_dir))
        self.router = Router(self.state, self.tasks.start,
                             lambda node: ends_run(registry, node))
        self.dispatcher = Dispatcher(self.state, host=self.host, workspace_root=workspace_root,
                                     route=self.router.effects, sweep_interval=sweep_interval)
        self._background: set[asyncio.Task[Any]] = set()
        self._stopped = False

    # ---- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, resume the runs it kept, then route, dispatch and watch."""
        stored = self.store.open()
        self.state.load(stored, self._counter_floor)
        # A previous engine on this root may have died with its tasks still running: they
        # must not share a workspace with the runs that resume or reuse it.
        await asyncio.to_thread(kill_marked, self.root_tag + ":")
        self.queue.subscribe(self.router.on_event)  # from now: resumed runs route too
        self.queue.subscribe(self._on_event)
        self._spawn(self.router.serve(), "event router")
        spawned = self.spawned.open()
        for record in stored.active:
            await resume_run(self.state, self.tasks.start, self.config.flow(record.flow.ref),
                             self.workspace_root, record, spawned)
        self.spawned.reset()  # every resumed run has decided its tasks
        if self.store.shared:  # the hosts' common work queue (hub/claiming.py)
            from .claiming import Claimer

            claimer = Claimer(self.state, self.store, self.dispatcher.activate,
                              self._resume_claimed)
            self._spawn(claimer.serve(), "claimer")
        else:
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
        self.queue.unsubscribe(self.router.on_event)
        tasks = [t for run in self.state.active_runs() for t in run.tasks]
        for t in tasks:
            t.cancel()  # each task's ProcessGroup kills its processes
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(kill_marked, self.root_tag + ":")  # and what left them
        await self.state.close()
        await self.store.close()
        self.spawned.close()

    @property
    def host_id(self) -> str:
        """This host's name: its runs are `<name>-<n>`."""
        return self.host.name

    @property
    def tags(self) -> tuple[str, ...]:
        return self.host.tags

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

    async def _resume_claimed(self, record: RunRecord) -> None:
        """A run a lost host left to be run again (its running tasks say opts.restart:
        rerun): resumed here as after a restart, its running tasks started again."""
        running = {(record.run_id, n) for n, r in record.exec_nodes.items() if r.running}
        await resume_run(self.state, self.tasks.start, self.config.flow(record.flow.ref),
                         self.workspace_root, record, running)

    def _wake_dispatcher(self) -> None:
        self.dispatcher.wake()

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
                ctx = HubTriggerContext(self.fire, self.store, flow, node,
                                        self.config.common.git_key)
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

    async def push_data(self, flow_ref: FlowRef, run_id: str, node_id: str,
                        values: Mapping[str, Any], user: str = "") -> None:
        """Feed values to a data node that waits for them; `user` is recorded with them. On
        a shared store, a run executing on another host gets them as a command."""
        if self.store.shared and self.state.active(run_id) is None:
            from .claiming import PUSH

            body = {"Node": node_id, "Values": dict(values), "User": user}
            if await self.store.send_command(run_id, PUSH, body) is not None:
                return
        self.state.submit_form(flow_ref, run_id, node_id, values, user)

    async def stop_run(self, flow_id: str, run_id: str, user: str = "") -> None:
        """Stop a pending or active run: its processes are killed and it is archived bad,
        with the `user` who stopped it."""
        if self.store.shared and self.state.active(run_id) is None:
            await self._stop_shared(flow_id, run_id, user)
            return
        await self.state.stop(flow_id, run_id, user)

    async def _stop_shared(self, flow_id: str, run_id: str, user: str) -> None:
        """Stop a run of a shared store this host does not execute: the host that holds it
        gets a command; a pend nobody holds is archived stopped from here."""
        from .claiming import STOP

        if await self.store.send_command(run_id, STOP, {"User": user}) is not None:
            return
        pend = await self.store.pend(run_id)
        if pend is None or pend.flow.id != flow_id:
            raise RunNotFound(f"run {run_id} of flow {flow_id} is not pending or active")
        self.state.archive_stopped(pend, user)
        await self.store.flush()

    async def rerun(self, flow_id: str, run_id: str, from_node: str = "", *,
                    user: str = "") -> Pend:
        """A new run of an ended run with the same inputs, or from one of its nodes with
        the nodes before it carried over (hub/rerun.py)."""
        from .rerun import rerun

        found = await self.find_run(flow_id, run_id)
        return await rerun(self.state, self.workspace_root, found, flow_id, run_id, from_node,
                           user=user)

    # ---- events -----------------------------------------------------------------------

    def publish(self, event: Event) -> Event:
        return self.queue.publish(event)

    def _on_event(self, event: Event) -> None:
        if event.tag == SYS_END_ALL and event.run_ref.adopted:
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

    def secret_env(self, flow: Flow) -> dict[str, str]:
        """The secrets `flow` names, as environment variables (engine/secrets.py). A run
        record read back keeps no secret names: the configured flow's are used."""
        names = flow.secrets
        if not names:
            configured = self.config.flow(flow.ref)
            names = configured.secrets if configured is not None else ()
        return self.secrets.env(names) if names else {}

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
        if self.store.shared:
            # Pending in the database, for whichever host claims it. Asked before the runs:
            # a pend becomes a run, never the other way, so one of the two reads sees it.
            pend = await self.store.pend(run_id)
            if pend is not None:
                return pend if pend.flow.id == flow_id else None
        record = await self.store.load_run(run_id)
        if record is not None and record.flow.id == flow_id:
            return record
        return None

    async def node_logs(self, run_id: str, node_id: str | None = None) -> dict[str, list[str]]:
        """The log lines the run store keeps for a run, per node (or of one node)."""
        return await self.store.node_logs(run_id, node_id)

    async def run_summaries(self, flow_id: str) -> dict[str, list[dict[str, Any]]]:
        return {**await self.live_summaries(flow_id),
                "Archive": (await self.archive_summaries(flow_id))[0]}

    async def live_summaries(self, flow_id: str) -> dict[str, list[dict[str, Any]]]:
        """`Active` and `Pending` summaries of a flow, newest first: from memory, or from a
        store the hosts share (every host's runs)."""
        if self.store.shared:
            records, pends = await self.store.live(flow_id)
            mine = {r.run_id: r.record for r in self.state.active_runs()}
            records = [mine.get(r.run_id, r) for r in records]  # this host's, as they are now
        else:
            records = [r.record for r in self.state.active_runs() if r.flow.id == flow_id]
            pends = [p for p in reversed(self.state.pends()) if p.flow.id == flow_id]
        active = sorted(records, key=lambda r: r.start_time or now(), reverse=True)
        return {"Active": [r.summary() for r in active],
                "Pending": [pend_summary(p) for p in pends]}

    async def archive_summaries(self, flow_id: str, offset: int = 0, limit: int = 0
                                ) -> tuple[list[dict[str, Any]], int]:
        """A page of the flow's archived runs, newest first (limit 0: all), and their count."""
        return await self.store.archive_page(flow_id, offset, limit)
