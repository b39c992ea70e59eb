"""The run view of `GET flows/:id/runs/:rid` (floe-reference §6.5): levels, problems, nodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config.model import CLASS_MERGE, CLASS_TASK, Flow, Node
from ..nodes.api import get_opt
from ..runs import Pend, RunRecord, fmt_time, pend_summary

TRIGGER_GOOD = "trigger.good"
VIEW_LOG_TAIL = 1000  # lines of each node's log in a run view


def graph(flow: Flow) -> tuple[list[list[str]], list[str]]:
    """The flow's node ids by level (0: triggers, 1: `trigger.good` listeners, then by longest
    path) and the problems found on the way, worded as the reference."""
    problems: list[str] = []
    ids = [n.id for n in (*flow.triggers, *flow.tasks)]
    seen: set[str] = set()
    for n in flow.triggers:
        if n.id in seen:
            problems.append(f"duplicate trigger id: {n.id}")
        seen.add(n.id)
    for n in flow.tasks:
        if n.id in seen:
            problems.append(f"duplicate node id: {n.id}")
        seen.add(n.id)
    first: list[str] = []
    children: dict[str, list[str]] = {}
    for node in flow.tasks:
        tags = [node.listen] if node.listen else []
        if node.class_ == CLASS_MERGE:
            tags += list(node.wait)
        for tag in tags:
            if tag == TRIGGER_GOOD:
                if node.id not in first:
                    first.append(node.id)
                continue
            parts = tag.split(".")
            if len(parts) != 3:
                problems.append(f"nodes are listening to invalid event: {tag}")
            elif parts[1] not in ids:
                problems.append(f"nodes are listening to invalid event: {tag}, "
                                "that does not match a node")
            else:
                children.setdefault(parts[1], []).append(node.id)
    level = {n: 1 for n in first}
    # Longest path by relaxation; bounded by the node count, so a cycle cannot loop forever.
    for _ in range(len(ids)):
        changed = False
        for parent in list(level):
            for child in children.get(parent, ()):
                if level.get(child, 0) < level[parent] + 1:
                    level[child] = level[parent] + 1
                    changed = True
        if not changed:
            break
    depth = max(level.values(), default=0)
    levels: list[list[str]] = [[n.id for n in flow.triggers]]
    levels.append([n for n in first if level[n] == 1])
    for d in range(2, depth + 1):
        levels.append(sorted(n for n, lv in level.items() if lv == d))
    return levels, problems


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
            if rec.stopped:
                # The reference left Status "" here (§9.7); "finished" matches other nodes.
                view.update(Status="finished",
                            Result="success" if rec.good else rec.reason or "failed")
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
