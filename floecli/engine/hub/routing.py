"""Routing one event through its run: tasks and merges that listen to it, `end` nodes, and
the failures nobody handles (DECISIONS §2)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..config.model import CLASS_MERGE, CLASS_TASK, Node
from ..errors import ContributionError
from ..events import SYS_NODE_UPDATE, Event, NodeRef, is_inbound, result_tag
from ..runs import REASON_INTERRUPTED, ExecNode, MergeNode, now
from .state import ActiveRun

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)


class Router:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def route(self, run: ActiveRun, event: Event) -> None:
        """Route an event of an active run, then take it off the run's queue: its effects
        and its removal are saved together."""
        hub = self._hub
        try:
            if is_inbound(event.tag):
                self._input(run, event)
            else:
                await self._to_nodes(run, event)
        finally:
            if hub.state.is_current(run):
                run.record.queued = [e for e in run.record.queued if e.id != event.id]
                hub.save(run)
                await hub.end_if_quiescent(run)

    async def _to_nodes(self, run: ActiveRun, event: Event) -> None:
        nodes = run.flow.match_tag(event.tag)
        if not nodes:
            if not event.good:
                # Nobody handles a failure: the run fails, with the failing node's reason.
                await self._hub.state.finish(
                    run, False, reason=self._unhandled_reason(run, event),
                    source=event.source_node, opts=event.opts)
            return
        for node in nodes:
            if node.class_ == CLASS_MERGE:
                self._merge(run, node, event)
            elif node.class_ == CLASS_TASK:
                if self._ends_run(node):
                    # The end node is recorded as reached, with the result it ends the run on.
                    at = now()
                    run.record.exec_nodes[node.id] = ExecNode(started=at, stopped=at,
                                                              good=event.good)
                    await self._hub.state.finish(run, event.good, source=NodeRef(CLASS_TASK,
                                                                                 node.id),
                                                 opts=event.opts)
                    return
                self._hub.tasks.start(run, node, dict(event.opts))

    @staticmethod
    def _unhandled_reason(run: ActiveRun, event: Event) -> str:
        rec = run.record.exec_nodes.get(event.source_node.id)
        if rec is not None and rec.reason == REASON_INTERRUPTED:
            return REASON_INTERRUPTED
        return f"{event.tag} was not handled"

    def _ends_run(self, node: Node) -> bool:
        try:
            return bool(getattr(self._hub.registry.task_class(node.type), "ends_run", False))
        except ContributionError:
            return False

    def _merge(self, run: ActiveRun, node: Node, event: Event) -> None:
        rec = run.record.merge_nodes.setdefault(node.id, MergeNode(started=now()))
        already = rec.stopped is not None  # a merge fires once
        rec.waits[event.tag] = True
        rec.opts.update(event.opts)
        fired = not already and (
            (node.type == "any" and len(rec.waits) == 1)
            or (node.type == "all" and len(rec.waits) == len(set(node.wait))))
        if fired:
            rec.stopped = now()
        ref, source = run.record.ref, NodeRef(CLASS_MERGE, node.id)
        self._hub.publish(Event(ref, SYS_NODE_UPDATE, source, False, {"waits": dict(rec.waits)}))
        if fired:
            self._hub.publish_for(run, Event(ref, result_tag(CLASS_MERGE, node.id, "good"),
                                             source, True, dict(rec.opts)))

    def _input(self, run: ActiveRun, event: Event) -> None:
        node = run.flow.node(event.source_node.id)
        if node is None or node.class_ != CLASS_TASK:
            log.warning("run %s: data for unknown node %s ignored", run.run_id,
                        event.source_node.id)
            return
        self._hub.tasks.start(run, node, dict(event.opts))
