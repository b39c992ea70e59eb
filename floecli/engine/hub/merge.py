"""Merge nodes (floe-reference §2.6): a merge waits for the events it lists and fires once,
with `task.<id>.good` carrying what they carried, when it has seen one of them (`any`) or
every one (`all`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..flow import Node

MERGE_ANY = "any"
MERGE_ALL = "all"


def fires(node: Node, waits: Mapping[str, bool], already: bool) -> bool:
    """Whether merge `node`, having seen the events in `waits`, fires now; never twice
    (`already`: it fired before)."""
    if already:
        return False
    if node.type == MERGE_ANY:
        return len(waits) == 1
    return node.type == MERGE_ALL and len(waits) == len(set(node.wait))
