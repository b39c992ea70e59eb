"""Resuming, after a restart, the runs the store kept as active (DECISIONS §2).

Finished nodes keep their results, merges the events they saw, a data node still waiting
keeps waiting, and events saved but not yet routed are routed. A task that was running when
the engine died ends `interrupted` (its bad event is routed, so the flow's own failure
handling applies), unless it sets `opts.restart: rerun`, when it runs again from the start.
A task whose process had not started yet (its start still queued) is started: it never ran.
A task that runs in the engine without a process (fetch, timer) is started again too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..config.model import CLASS_TASK
from ..events import SYS_STATE, Event, NodeRef, result_tag
from ..nodes.api import get_opt
from ..runs import REASON_INTERRUPTED, RunRecord, now
from .workspace import workspace_path

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

RESTART_RERUN = "rerun"
INTERRUPTED_LINE = "interrupted: the engine stopped while this task ran"
NOT_STARTED_LINE = "the engine stopped before this task's process started: starting it now"
RERUN_LINE = "the engine stopped while this task ran: running it again (opts.restart: rerun)"


async def resume_run(hub: Hub, record: RunRecord, spawned: set[tuple[str, str]]) -> None:
    """`spawned`: the (run, node) pairs whose process the last engine started
    (hub/spawned.py)."""
    state = hub.state
    flow = hub.config.flow(record.flow.ref)
    workspace = workspace_path(hub.workspace_root, record.flow, record.run_id)
    run = await state.resume(record, workspace)
    if run is None:
        return
    if flow is None:
        log.warning("run %s: flow %s ver %d is no longer configured: archived as %s",
                    record.run_id, record.flow.id, record.flow.ver, REASON_INTERRUPTED)
        await state.finish(run, False, reason=f"{REASON_INTERRUPTED}: flow {record.flow.id} "
                                               f"ver {record.flow.ver} is no longer configured")
        return
    log.info("run %s of %s resumed", record.run_id, record.flow.id)
    hub.publish(Event(record.ref, SYS_STATE, good=True, opts={"action": "resume"}))
    queued, record.queued = record.queued, []
    for node_id, rec in record.exec_nodes.items():
        node = record.flow.node(node_id)
        if not rec.running or node is None:
            continue
        if (record.run_id, node_id) not in spawned:
            # Its start was committed, its process never asked for or still queued: it
            # never ran, so it runs now (once: this start is journaled like any other).
            hub.log_line(run, node_id, NOT_STARTED_LINE)
            hub.tasks.start(run, node, dict(rec.input))
            continue
        if get_opt(node.opts, "restart") == RESTART_RERUN:
            hub.log_line(run, node_id, RERUN_LINE)
            hub.tasks.start(run, node, dict(rec.input))
            continue
        hub.log_line(run, node_id, INTERRUPTED_LINE)
        rec.stopped, rec.good, rec.status, rec.reason = now(), False, None, REASON_INTERRUPTED
        queued.append(Event(record.ref, result_tag(CLASS_TASK, node_id, "bad"),
                            NodeRef(CLASS_TASK, node_id), False, {}))
    for event in queued:  # published again: the last engine saved them but did not route them
        hub.publish_for(run, Event(event.run_ref, event.tag, event.source_node, event.good,
                                   event.opts))
    hub.save(run)
    await hub.end_if_quiescent(run)
