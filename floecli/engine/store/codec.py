"""How pends, run records and small documents become the JSON text both stores keep."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..runs import ExecNode, RunRecord


def dumps(value: Any) -> str:
    # ensure_ascii (the default) escapes lone surrogates, which SQLite text could not hold.
    return json.dumps(value, separators=(",", ":"))


def run_text(run: RunRecord) -> str:
    """A run record's JSON without its logs: lines live apart so appending one is O(1)."""
    return dumps(run.to_json(logs=False))


def run_from_text(text: str, logs: Iterable[tuple[str, str]] = ()) -> RunRecord:
    """A run record from its stored JSON, with `(node id, line)` pairs re-attached in order."""
    run = RunRecord.from_json(json.loads(text))
    for node_id, line in logs:
        # A line may be logged before its node's first save_run: keep it all the same.
        run.exec_nodes.setdefault(node_id, ExecNode()).logs.append(line)
    return run


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
