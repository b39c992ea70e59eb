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
from pathlib import Path

from ..events import SYS_STATE, Event
from ..flow import Flow
from ..nodes.api import get_opt
from ..runs import REASON_INTERRUPTED, RunRecord
from .routing import StartNode
from .state import RunState
from .workspace import workspace_path

log = logging.getLogger(__name__)

RESTART_RERUN = "rerun"
INTERRUPTED_LINE = "interrupted: the engine stopped while this task ran"
NOT_STARTED_LINE = "the engine stopped before this task's process started: starting it now"
RERUN_LINE = "the engine stopped while this task ran: running it again (opts.restart: rerun)"


async def resume_run(owner: RunState, start: StartNode, configured: Flow | None,
                     workspace_root: Path, record: RunRecord,
                     spawned: set[tuple[str, str]]) -> None:
    """Take back `record`; `configured`: its flow as the app document has it now (None when
    gone), `start`: the task runner's, `spawned`: the (run, node) pairs whose process the last
    engine started (hub/spawned.py)."""
    workspace = workspace_path(workspace_root, record.flow, record.run_id)
    run = await owner.resume(record, workspace)
    if run is None:
        return
    if configured is None:
        log.warning("run %s: flow %s ver %d is no longer configured: archived as %s",
                    record.run_id, record.flow.id, record.flow.ver, REASON_INTERRUPTED)
        owner.decide(run, False, reason=f"{REASON_INTERRUPTED}: flow {record.flow.id} "
                                        f"ver {record.flow.ver} is no longer configured")
        await owner.settle(run)
        return
    log.info("run %s of %s resumed", record.run_id, record.flow.id)
    owner.publish(Event(record.ref, SYS_STATE, good=True, opts={"action": "resume"}))
    interrupted = []
    for node_id, rec in record.exec_nodes.items():
        node = record.flow.node(node_id)
        if not rec.running or node is None:
            continue
        if (record.run_id, node_id) not in spawned:
            # Its start was committed, its process never asked for or still queued: it
            # never ran, so it runs now (once: this start is journaled like any other).
            owner.log_line(run, node_id, NOT_STARTED_LINE)
            start(run, node, dict(rec.input))
            continue
        if get_opt(node.opts, "restart") == RESTART_RERUN:
            owner.log_line(run, node_id, RERUN_LINE)
            start(run, node, dict(rec.input))
            continue
        owner.log_line(run, node_id, INTERRUPTED_LINE)
        interrupted.append(node_id)
    owner.requeue(run)
    for node_id in interrupted:  # then each interrupted task's bad event
        owner.interrupted(run, node_id)
    owner.save(run)
    await owner.settle(run)
