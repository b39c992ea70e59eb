"""How pends, run records and small documents become the JSON text both stores keep."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii as json_string
from typing import Any

from ..flow import Flow
from ..pend import Pend
from ..runs import STATUS_BAD, STATUS_GOOD, ZERO_TIME, RunRecord


def dumps(value: Any) -> str:
    # ensure_ascii (the default) escapes lone surrogates, which SQLite text could not hold.
    return json.dumps(value, separators=(",", ":"))


def run_text(run: RunRecord) -> str:
    """A run record's JSON without its logs: lines live apart so appending one is O(1).

    A run is saved at every step, and its flow (often most of the text) never changes, so
    the flow's JSON is made once per flow object and spliced in; so is each task node's,
    made again only when that node changed (ExecNode.stored_text)."""
    rest = dumps(run.to_json(logs=False, flow=False, exec_nodes=False))
    nodes = ",".join(f"{json_string(node_id)}:{node.stored_text(dumps)}"
                     for node_id, node in run.exec_nodes.items())
    return '{"Flow":' + _flow_text(run.flow) + ',"ExecNodes":{' + nodes + "}," + rest[1:]


def pend_text(pend: Pend) -> str:
    """A pend's JSON, its flow's spliced in as in run_text: a pend is written on every
    push/data, before the reply."""
    rest = dumps(pend.to_json(flow=False))
    return '{"Flow":' + _flow_text(pend.flow) + "," + rest[1:]


_FLOW_TEXTS: OrderedDict[int, tuple[Flow, str]] = OrderedDict()
FLOW_TEXTS_KEPT = 64


def _flow_text(flow: Flow) -> str:
    # Keyed by identity (flows hold dicts, so they do not hash); the entry keeps the flow
    # alive, so its id cannot be reused while it is cached.
    hit = _FLOW_TEXTS.get(id(flow))
    if hit is not None and hit[0] is flow:
        _FLOW_TEXTS.move_to_end(id(flow))
        return hit[1]
    text = dumps(flow.to_json())
    _FLOW_TEXTS[id(flow)] = (flow, text)
    while len(_FLOW_TEXTS) > FLOW_TEXTS_KEPT:
        _FLOW_TEXTS.popitem(last=False)
    return text


def run_from_text(text: str, logs: Iterable[tuple[str, str]] = ()) -> RunRecord:
    """A run record from its stored JSON, with `(node id, line)` pairs re-attached in order."""
    run = RunRecord.from_json(json.loads(text))
    for node_id, line in logs:
        # A line may be logged before its node's first save_run: keep it all the same.
        run.exec_node(node_id).logs.append(line)
    return run


def summary_from_row(row: list[Any]) -> dict[str, Any]:
    """RunRecord.summary() of an archived run from its Ref, ExecHost, StartTime, EndTime,
    Good, Reason, State, Why, StoppedBy, Inputs and Rerun, as SQLite's json_extract
    returns them."""
    ref, host, start, end, good, reason, *more = row
    state, why, stopped_by, inputs, rerun = (*more, None, None, None, None, None)[:5]
    status = STATUS_GOOD if good else STATUS_BAD
    return {"Ref": ref, "ExecHost": host or "",
            "Status": status, "StartTime": start or ZERO_TIME,
            "EndTime": end or ZERO_TIME, "Ended": True, "Good": bool(good),
            "Reason": reason or "", "State": state or status, "Why": why or reason or "",
            "StoppedBy": stopped_by or "", "Inputs": inputs or None, "Rerun": rerun or None,
            "Waiting": None}


def sort_time(run: RunRecord) -> float:
    """Where a run sits in newest-first lists: its start, or its end when it never started
    (a pend stopped before it ran)."""
    t = run.start_time or run.end_time
    return t.timestamp() if t else 0.0


def group_logs(
    rows: Iterable[tuple[str, str]], node_id: str | None = None
) -> dict[str, list[str]]:
    """`(node id, line)` pairs in log order → lines per node, nodes in order of first line."""
    out: dict[str, list[str]] = {}
    for node, line in rows:
        if node_id is None or node == node_id:
            out.setdefault(node, []).append(line)
    return out


def copy_logs(logs: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {node: list(lines) for node, lines in logs.items()}
