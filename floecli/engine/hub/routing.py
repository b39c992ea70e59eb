"""Routing one event through its run: tasks and merges that listen to it, `end` nodes, and
the failures nobody handles (DECISIONS §2). The router says what an event does; the run owner
(hub/state.py) records it and decides whether the run is over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..events import Event, is_inbound, is_system
from ..flow import CLASS_MERGE, CLASS_TASK, Node
from ..runs import REASON_INTERRUPTED
from .state import ActiveRun, RunState

log = logging.getLogger(__name__)

StartNode = Callable[[ActiveRun, Node, dict[str, Any]], None]


class Router:
    def __init__(self, owner: RunState, start: StartNode,
                 ends_run: Callable[[Node], bool]) -> None:
        self._owner = owner
        self._start = start  # the task runner's: starts a task or data node of a run
        self._ends_run = ends_run  # whether a task type ends the run (`end`)
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()

    def on_event(self, event: Event) -> None:
        """The event queue's subscriber: a run's own events are routed in order."""
        if event.run_ref.adopted and not is_system(event.tag):
            self._inbox.put_nowait(event)

    async def serve(self) -> None:
        while True:
            event = await self._inbox.get()
            run = self._owner.active(event.run_ref.run_id)
            if run is None or not self._owner.is_queued(run, event):
                continue  # ended meanwhile, or not this host's to route
            try:
                await self.route(run, event)
            except Exception:  # one bad event must never stop the engine
                log.exception("routing %s failed", event.tag)

    async def route(self, run: ActiveRun, event: Event) -> None:
        """Route an event of an active run; then it leaves the run's queue, saved together
        with its effects."""
        try:
            self.effects(run, event)
        finally:
            await self._owner.routed(run, event)

    def effects(self, run: ActiveRun, event: Event) -> None:
        """What `event` does to its run, recorded by the owner: the nodes it starts, the
        merges it reaches, the verdict it gives. Also the route of the event that starts a
        run, as the run is activated (RunState.activate)."""
        if is_inbound(event.tag):
            self._input(run, event)
        else:
            self._to_nodes(run, event)

    def _to_nodes(self, run: ActiveRun, event: Event) -> None:
        nodes = run.flow.match_tag(event.tag)
        if not nodes:
            if not event.good:
                # Nobody handles a failure: the run fails, with the failing node's reason.
                self._owner.decide(run, False, reason=self._unhandled_reason(run, event),
                                   source=event.source_node, opts=event.opts)
            return
        for node in nodes:
            if node.class_ == CLASS_MERGE:
                self._owner.merge_saw(run, node, event)
            elif node.class_ == CLASS_TASK:
                if self._ends_run(node):
                    self._owner.end_reached(run, node.id, event)
                    return
                self._start(run, node, dict(event.opts))

    @staticmethod
    def _unhandled_reason(run: ActiveRun, event: Event) -> str:
        rec = run.record.exec_nodes.get(event.source_node.id)
        if rec is not None and rec.reason == REASON_INTERRUPTED:
            return REASON_INTERRUPTED
        return f"{event.tag} was not handled"

    def _input(self, run: ActiveRun, event: Event) -> None:
        node = run.flow.node(event.source_node.id)
        if node is None or node.class_ != CLASS_TASK:
            log.warning("run %s: data for unknown node %s ignored", run.run_id,
                        event.source_node.id)
            return
        self._start(run, node, dict(event.opts))
