"""Running task nodes: the total boundary around a contribution, and data nodes' forms.

Whatever a contribution does (returns a status, raises, returns something that is not a
status, outlives its `opts.timeout`), its node ends with a result event and the run follows
the flow's routing.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contributions.registry import Registry
from ..errors import ContributionError
from ..events import SYS_DATA_REQUIRED, SYS_NODE_START, Event, NodeRef, result_tag, status_tag
from ..flow import CLASS_TASK, Flow, Node
from ..nodes.api import NEEDS_INPUT, get_opt
from ..runs import REASON_TIMED_OUT
from ..store.base import Gate
from .context import RunTaskContext, task_env
from .opts import input_env, task_opts
from .process import ProcessGroup
from .reaper import MARKER, Reaper, marker
from .spawned import SpawnJournal
from .state import ActiveRun, RunState

log = logging.getLogger(__name__)

STATUS_ERROR = 255  # the implementation failed, not the work it ran
STATUS_KILLED = -1


@dataclass(frozen=True)
class TaskHost:
    """What the tasks of this host's runs are given besides their run."""

    registry: Registry
    git_key: str
    secret_env: Callable[[Flow], dict[str, str]]  # the secrets a flow names, as env
    reaper: Reaper
    root_tag: str  # names this workspace root's task processes (hub/reaper.py)
    spawned: SpawnJournal
    cache_dir: Path  # the host's download cache


def ends_run(registry: Registry, node: Node) -> bool:
    """Whether the node's task type ends its run when reached (`end`)."""
    return _flag(registry, node, "ends_run")


def _flag(registry: Registry, node: Node, name: str) -> bool:
    try:
        return bool(getattr(registry.task_class(node.type), name, False))
    except ContributionError:
        return False


class TaskRunner:
    def __init__(self, owner: RunState, host: TaskHost) -> None:
        self._owner = owner
        self._host = host

    def start(self, run: ActiveRun, node: Node, event_opts: dict[str, Any]) -> None:
        """Start `node` for `run`. Its start is recorded now, with the opts that started
        it, so a restart knows it was running (and can run it again: opts.restart)."""
        self._owner.node_started(run, node.id, event_opts, form=self._awaits_input(node))
        task = asyncio.create_task(self._execute(run, node, event_opts, run.starting),
                                   name=f"{run.run_id}/{node.id}")
        run.tasks.add(task)
        task.add_done_callback(lambda t: self._done(run, t))

    def _done(self, run: ActiveRun, task: asyncio.Task[None]) -> None:
        run.tasks.discard(task)
        if not task.cancelled() and task.exception():
            log.error("task %s crashed", task.get_name(), exc_info=task.exception())
            self._owner.settle_soon(run)

    async def _execute(self, run: ActiveRun, node: Node, event_opts: dict[str, Any],
                       with_activation: bool) -> None:
        owner = self._owner
        result = None
        try:
            # Write ahead: the node's start (and the event that fired it) is committed before
            # it does anything, so a restart knows it. A node the run's first event started
            # was written with the activation: its commit is the one to wait for, and a
            # refused activation runs nothing. A later one waits for the commit every node
            # started in its loop turn shares; one whose only effects are its processes
            # (`durable_at_spawn`) is prepared meanwhile: the spawner thread waits for that
            # commit before it forks, with no hop through the loop between the two. Not one
            # with a timeout: its clock must not run while the store cannot commit.
            if not await owner.activated(run):
                return
            gate = None
            if not with_activation:
                if self._durable_at_spawn(node) and _timeout(node) is None:
                    gate = owner.durable_gate()
                if gate is None:
                    await owner.durable()
            if self._awaits_input(node):
                result = await self._perform_data(run, node, event_opts)
            else:
                result = await self._perform(run, node, event_opts, gate)
        finally:
            # Discarded before the result is queued, so the run never looks idle between.
            run.tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            owner.close_log(run, node.id)
        if result is not None and owner.is_current(run):
            owner.queue_event(run, result)
        await owner.settle(run)

    def _awaits_input(self, node: Node) -> bool:
        return _flag(self._host.registry, node, "awaits_input")

    def _durable_at_spawn(self, node: Node) -> bool:
        return _flag(self._host.registry, node, "durable_at_spawn")

    async def _perform(self, run: ActiveRun, node: Node, event_opts: dict[str, Any],
                       gate: Gate | None = None) -> Event | None:
        source = NodeRef(CLASS_TASK, node.id)
        try:
            task = self._host.registry.task_class(node.type)()
        except Exception as e:  # not installed, or it cannot even be made
            self._owner.log_line(run, node.id, f"error: {e}")
            return self._finish(run, node, STATUS_ERROR, error=True)
        self._owner.publish(Event(run.record.ref, SYS_NODE_START, source))
        ctx = self._context(run, node, event_opts, gate)
        timeout = _timeout(node)
        deadline = None
        try:
            if timeout is None:  # most tasks: no timer to set up and tear down
                status = await task.run(ctx)
            else:
                async with asyncio.timeout(timeout) as deadline:
                    status = await task.run(ctx)
        except asyncio.CancelledError:
            raise
        except TimeoutError as e:
            if deadline is not None and deadline.expired():  # floe's timer, not the task's
                # Its process groups are killed; what left them (a daemon) carries the
                # task's marker and dies too, as it would with a stop.
                await self._host.reaper.reap(marker(self._host.root_tag, run.run_id, node.id))
                ctx.log(f"timed out after {timeout:g} s: stopped")
                return self._finish(run, node, STATUS_KILLED, reason=REASON_TIMED_OUT,
                                    outputs=ctx.outputs)
            return self._failed(run, node, ctx, e)
        except Exception as e:
            return self._failed(run, node, ctx, e)
        if isinstance(status, bool) or not isinstance(status, int):
            error = ContributionError(f"{node.type}: run() returned {status!r}, "
                                      f"not an exit status")
            return self._failed(run, node, ctx, error)
        return self._finish(run, node, status, outputs=ctx.outputs)

    def _failed(self, run: ActiveRun, node: Node, ctx: RunTaskContext,
                error: BaseException) -> Event:
        log.warning("task %s of run %s raised %r", node.id, run.run_id, error)
        last = traceback.format_exception_only(error)[-1].strip()
        ctx.log(f"error: {last}")
        return self._finish(run, node, STATUS_ERROR, error=True, outputs=ctx.outputs)

    def _finish(self, run: ActiveRun, node: Node, status: int, *, error: bool = False,
                reason: str = "", outputs: dict[str, Any] | None = None) -> Event:
        if error and not node.ignore_fail:
            tag, good = result_tag(CLASS_TASK, node.id, "error"), False
            reason = reason or "error"
        else:
            tag, good = status_tag(node.id, status, good_statuses=node.good,
                                   ignore_fail=node.ignore_fail, use_status=node.use_status)
        self._owner.node_finished(run, node.id, status, good, reason=reason, outputs=outputs)
        return Event(run.record.ref, tag, NodeRef(CLASS_TASK, node.id), good, outputs or {})

    async def _perform_data(self, run: ActiveRun, node: Node,
                            event_opts: dict[str, Any]) -> Event | None:
        ctx = self._context(run, node, event_opts)
        try:
            status = await self._host.registry.task_class(node.type)().run(ctx)
        except Exception as e:
            ctx.log(f"error: {traceback.format_exception_only(e)[-1].strip()}")
            status = 1
        waiting = status == NEEDS_INPUT
        self._owner.form_asked(run, node.id, ctx.outputs, waiting)
        ref, source = run.record.ref, NodeRef(CLASS_TASK, node.id)
        if waiting:
            self._owner.publish(Event(ref, SYS_DATA_REQUIRED, source, True, dict(ctx.outputs)))
            return None
        suffix = "good" if status == 0 else "bad"
        return Event(ref, result_tag(CLASS_TASK, node.id, suffix), source, status == 0,
                     dict(ctx.outputs))

    def _context(self, run: ActiveRun, node: Node, event_opts: dict[str, Any],
                 gate: Gate | None = None) -> RunTaskContext:
        host, owner = self._host, self._owner
        contribution = host.registry.task(node.type)
        inputs = contribution.descriptor.inputs if contribution is not None else ()
        opts = task_opts(run.flow, node, event_opts, inputs, host.git_key)
        app_env = task_env(opts.get("env") or [], run.workspace)
        # The flow's named secrets (engine/secrets.py), the run's inputs (every value pushed
        # into it so far), then what the event that fired this node carries (a checkout's
        # hash, say): in the environment only, never spliced into opts.
        env = {**app_env, **host.secret_env(run.flow), **input_env(run.record.inputs),
               **input_env(event_opts)}
        env[MARKER] = marker(host.root_tag, run.run_id, node.id)  # found even past setsid
        return RunTaskContext(
            node_id=node.id, opts=opts, input=dict(event_opts), workspace=run.workspace,
            env=env, app_env=app_env, sink=owner.node_log(run, node.id),
            group=ProcessGroup(on_spawn=lambda: host.spawned.started(run.run_id, node.id),
                               gate=gate),
            pace=owner.store.room, cache_dir=host.cache_dir)


def _timeout(node: Node) -> float | None:
    value = get_opt(node.opts, "timeout")
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None
