"""What an ended run came to, in one word (its state) and a reason a person reads.

The engine's own reason (`task.compile.bad was not handled`) stays the record's `Reason`,
for scripts and for the details; `Why` says `compile failed (exit 2)`."""

from __future__ import annotations

import re

from .runs import (
    REASON_HOST_LOST,
    REASON_INTERRUPTED,
    REASON_STOPPED,
    REASON_TIMED_OUT,
    STATE_BAD,
    STATE_GOOD,
    STATE_HOST_LOST,
    STATE_INTERRUPTED,
    STATE_STOPPED,
    RunRecord,
)

UNHANDLED = re.compile(r"^(task|merge)\.(.+)\.(bad|error)(\.\d+)? was not handled$")


def state_of(record: RunRecord) -> str:
    if record.good:
        return STATE_GOOD
    if record.reason == REASON_STOPPED:
        return STATE_STOPPED
    if record.reason.startswith(REASON_INTERRUPTED):
        return STATE_INTERRUPTED
    if record.reason.startswith(REASON_HOST_LOST):
        return STATE_HOST_LOST
    return STATE_BAD


def why(record: RunRecord) -> str:
    """The reason an ended run is what it is, in words."""
    state = state_of(record)
    if state == STATE_STOPPED:
        return f"stopped by {record.stopped_by}" if record.stopped_by else "stopped"
    if state == STATE_GOOD:
        return record.reason
    m = UNHANDLED.match(record.reason)
    if m is None:
        return record.reason
    node_id = m.group(2)
    node = record.exec_nodes.get(node_id)
    if node is None:
        return f"{node_id} failed"
    if node.reason == REASON_TIMED_OUT:
        return f"{node_id} timed out"
    if node.reason == REASON_INTERRUPTED:
        return f"{node_id} was interrupted"
    if node.reason:
        return f"{node_id} failed ({node.reason})"
    if node.status is not None:
        return f"{node_id} failed (exit {node.status})"
    return f"{node_id} failed"


def word_outcome(record: RunRecord) -> None:
    """Word an ended record: its State and Why, kept with it in the store."""
    record.state = state_of(record)
    record.why = why(record)
