"""A flow's graph: its edges, its levels (the layout the dashboard draws), what follows a
node, and the same picture as Mermaid or DOT text (`floe graph`)."""

from __future__ import annotations

import json

from .flow import CLASS_MERGE, Flow

TRIGGER_GOOD = "trigger.good"


def _tags(flow: Flow) -> list[tuple[str, list[str]]]:
    out = []
    for node in flow.tasks:
        tags = [node.listen] if node.listen else []
        if node.class_ == CLASS_MERGE:
            tags += list(node.wait)
        out.append((node.id, tags))
    return out


def edges(flow: Flow) -> list[tuple[str, str]]:
    """(from, to) node id pairs: a `trigger.good` listener hangs from every trigger."""
    ids = {n.id for n in (*flow.triggers, *flow.tasks)}
    out: list[tuple[str, str]] = []
    for node_id, tags in _tags(flow):
        for tag in tags:
            if tag == TRIGGER_GOOD:
                out.extend((t.id, node_id) for t in flow.triggers)
                continue
            parts = tag.split(".")
            if len(parts) == 3 and parts[1] in ids and (parts[1], node_id) not in out:
                out.append((parts[1], node_id))
    return out


def downstream(flow: Flow, node_id: str) -> set[str]:
    """`node_id` and every node an event of it can reach."""
    children: dict[str, list[str]] = {}
    for a, b in edges(flow):
        children.setdefault(a, []).append(b)
    seen = {node_id}
    todo = [node_id]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def levels(flow: Flow) -> tuple[list[list[str]], list[str]]:
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
    for node_id, tags in _tags(flow):
        for tag in tags:
            if tag == TRIGGER_GOOD:
                if node_id not in first:
                    first.append(node_id)
                continue
            parts = tag.split(".")
            if len(parts) != 3:
                problems.append(f"nodes are listening to invalid event: {tag}")
            elif parts[1] not in ids:
                problems.append(f"nodes are listening to invalid event: {tag}, "
                                "that does not match a node")
            else:
                children.setdefault(parts[1], []).append(node_id)
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
    rows: list[list[str]] = [[n.id for n in flow.triggers]]
    rows.append([n for n in first if level[n] == 1])
    for d in range(2, depth + 1):
        rows.append(sorted(n for n, lv in level.items() if lv == d))
    return rows, problems


def _label(flow: Flow, node_id: str) -> str:
    node = flow.node(node_id)
    if node is None:
        return node_id
    kind = "trigger" if node in flow.triggers else node.class_
    return f"{node.name or node.id}\\n{node.type} {kind}".strip()


def mermaid(flow: Flow) -> str:
    """The flow as a Mermaid flowchart, left to right, one subgraph-free row per level."""
    rows, _ = levels(flow)
    lines = [f"%% {flow.id} ver {flow.ver}: {flow.name}", "flowchart LR"]
    keys = {nid: f"n{i}" for i, nid in enumerate(n for row in rows for n in row)}
    for nid, key in keys.items():
        node = flow.node(nid)
        label = _label(flow, nid).replace("\\n", "<br/>").replace('"', "#quot;")
        if node is not None and node in flow.triggers:
            lines.append(f'    {key}(["{label}"])')
        elif node is not None and node.class_ == CLASS_MERGE:
            lines.append(f'    {key}{{"{label}"}}')
        else:
            lines.append(f'    {key}["{label}"]')
    for a, b in edges(flow):
        if a in keys and b in keys:
            lines.append(f"    {keys[a]} --> {keys[b]}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return json.dumps(text).replace("\\\\n", "\\n")


def dot(flow: Flow) -> str:
    """The flow as a Graphviz digraph: levels are ranks, left to right."""
    rows, _ = levels(flow)
    lines = [f"digraph {_q(flow.id)} {{", "    rankdir=LR;",
             f"    label={_q(f'{flow.name} (ver {flow.ver})')};",
             "    node [shape=box, style=rounded];"]
    for row in rows:
        if not row:
            continue
        lines.append("    { rank=same; " + " ".join(f"{_q(n)};" for n in row) + " }")
    for row in rows:
        for nid in row:
            node = flow.node(nid)
            shape = ("oval" if node is not None and node in flow.triggers
                     else "diamond" if node is not None and node.class_ == CLASS_MERGE
                     else "box")
            lines.append(f"    {_q(nid)} [label={_q(_label(flow, nid))}, shape={shape}];")
    for a, b in edges(flow):
        lines.append(f"    {_q(a)} -> {_q(b)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
