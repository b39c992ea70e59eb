"""Derive a flow's or node's id and name from each other (floe-reference §1.5)."""

from __future__ import annotations

ERR_BOTH_EMPTY = "id and name can not both be empty"
ERR_BAD_ID = "a specified id can not contain spaces or full stops"

_TRIM = " .-"


def zero_nid(name: str, id: str) -> tuple[str, str]:
    """The (name, id) pair after trimming and deriving the missing one; ValueError if invalid."""
    name = name.strip(_TRIM)
    id = id.strip(_TRIM).lower()
    if not name and not id:
        raise ValueError(ERR_BOTH_EMPTY)
    if not id:
        # Single spaces only: two spaces give `--`, as in the reference.
        id = name.lower().strip().replace(" ", "-").replace(".", "-")
    if " " in id or "." in id:
        raise ValueError(ERR_BAD_ID)
    if not name:
        name = " ".join(id.lower().split("-"))
    return name, id
