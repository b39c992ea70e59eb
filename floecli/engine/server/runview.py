"""The run view of `GET flows/:id/runs/:rid` (floe-reference §6.5): levels, problems, nodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..flow import CLASS_MERGE, CLASS_TASK, Flow, Node
from ..graph import levels
from ..nodes.api import get_opt
from ..pend import Pend, pend_summary
from ..runs import RunRecord, fmt_time

VIEW_LOG_TAIL = 1000  # lines of each node's log in a run view


def graph(flow: Flow) -> tuple[list[list[str]], list[str]]:
    """The flow's node ids by level and the problems found (engine/graph.py)."""
    return levels(flow)


def _fields(node: Node, values: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    form = get_opt(node.opts, "form", None)
    if not isinstance(form, Mapping):
        return None
    out = []
    for f in get_opt(form, "fields", None) or []:
        if isinstance(f, Mapping):
            fid = str(get_opt(f, "id", ""))
            # A field without a prompt is shown by its id; the reference crashed (§9.27).
            out.append({"id": fid, "prompt": str(get_opt(f, "prompt", "") or fid),
                        "value": values.get(fid, "")})
    return out


def _node(node: Node) -> dict[str, Any]:
    return {"ID": node.id, "Name": node.name, "Class": node.class_, "Type": node.type,
            "Enabled": False, "Fields": None, "Started": fmt_time(None),
            "Stopped": fmt_time(None), "Status": "", "Result": "", "Logs": None, "Waits": None}


def node_view(node: Node, record: RunRecord | None, data_node: bool) -> dict[str, Any]:
    view = _node(node)
    if record is None:
        return view
    if node.class_ == CLASS_MERGE:
        rec = record.merge_nodes.get(node.id)
        waits = {t: False for t in node.wait}
        if rec is not None:
            waits.update(rec.waits)
            view.update(Started=fmt_time(rec.started), Stopped=fmt_time(rec.stopped),
                        Status="finished" if rec.stopped else "waiting" if rec.started else "")
        view["Waits"] = waits
    elif data_node or node.id in record.data_nodes:
        rec = record.data_nodes.get(node.id)
        values = {}
        if rec is not None:
            values = dict(get_opt(rec.opts, "values", None) or {})
            view.update(Enabled=rec.enabled, Started=fmt_time(rec.started),
                        Stopped=fmt_time(rec.stopped),
                        Status="finished" if rec.stopped else "waiting" if rec.started else "",
                        Submissions=list(rec.submissions))
        view["Fields"] = _fields(node, values)
    elif node.class_ == CLASS_TASK:
        rec = record.exec_nodes.get(node.id)
        if rec is not None:
            # The tail: the rest is a logs request away (?offset=&limit=); lines past the
            # node's log cap are in its log file, and counted here.
            view.update(Started=fmt_time(rec.started), Stopped=fmt_time(rec.stopped),
                        Logs=rec.logs[-VIEW_LOG_TAIL:], LogsTotal=len(rec.logs),
                        LogsTruncated=rec.spilled)
            if rec.carried:
                # A re-run's copy of the original's result; its log is the original's.
                view.update(CarriedFrom=rec.carried, Logs=None, LogsTotal=0)
            if rec.stopped:
                # The reference left Status "" here (§9.7); "finished" matches other nodes.
                view.update(Status="finished",
                            Result="success" if rec.good else rec.reason or "failed",
                            ExitStatus=rec.status)
            elif rec.started:
                view["Status"] = "running"
    return view


def run_view(found: RunRecord | Pend, run_id: str, data_types: frozenset[str]) -> dict[str, Any]:
    """The §6.5 payload for a started run or a pend; `data_types` are the node types that wait
    for a form (`data`), so a data node not reached yet still shows its fields."""
    record = found if isinstance(found, RunRecord) else None
    flow = found.flow
    trigger_id = found.trigger.id if record is not None else found.triggered_node.id
    submission = (record.trigger_submission if record is not None else found.submission) or {}
    triggers = []
    for t in flow.triggers:
        view = {**_node(t), "Class": ""}
        if t.id == trigger_id and record is not None:
            view.update(Status="finished", Result="success", Started=fmt_time(record.start_time),
                        Stopped=fmt_time(record.start_time))
        if t.id == trigger_id and submission:
            # The initiating form and who filled it (the reference never recorded it, §9.6).
            view.update(Fields=_fields(t, submission.get("Values") or {}),
                        Submissions=[submission])
        triggers.append(view)
    levels, problems = graph(flow)
    by_id = {n.id: n for n in flow.tasks}
    rows = [[node_view(by_id[i], record, by_id[i].type in data_types) for i in level
             if i in by_id] for level in levels[1:]]
    summary = record.summary() if record is not None else pend_summary(found)  # type: ignore[arg-type]
    return {"FlowName": flow.name, "Name": f"{flow.name} {run_id}", "Triggers": triggers,
            "Graph": rows, "Levels": levels, "Summary": summary, "Problems": problems or None}
