"""Derive a flow's or node's id and name from each other (floe-reference §1.5)."""

from __future__ import annotations

import re

ERR_BOTH_EMPTY = "id and name can not both be empty"
ERR_BAD_ID = "a specified id can not contain spaces or full stops"
ERR_UNSAFE_ID = "may only contain letters a-z, digits, - and _"
# Ids name workspace directories, URL path segments and store keys: url-safe by construction
# so that no id is `/tmp/x`, `..`, a NUL or a lone surrogate. The reference allows more.
SAFE_ID = re.compile(r"[a-z0-9_-]+")

_TRIM = " .-"


def zero_nid(name: str, id: str) -> tuple[str, str]:
    """The (name, id) pair after trimming and deriving the missing one; ValueError if invalid."""
    name = name.strip(_TRIM)
    id = id.strip(_TRIM).lower()
    if not name and not id:
        raise ValueError(ERR_BOTH_EMPTY)
    if not id:
        # Single spaces only: two spaces give `--`, as in the reference.
        # Trimmed like a given id, so the derived one reads back as itself: a name ending in
        # `.` before other white space (`0.\r`) would otherwise give `0-`, read back as `0`.
        id = name.lower().strip().replace(" ", "-").replace(".", "-").strip(_TRIM)
        if not id:  # a name of nothing but white space
            raise ValueError(ERR_BOTH_EMPTY)
    if " " in id or "." in id:
        raise ValueError(ERR_BAD_ID)
    if not name:
        name = " ".join(id.lower().split("-"))
    return name, id


def check_safe_id(id: str) -> None:
    """ValueError unless `id` (as zero_nid made it) is url- and path-safe."""
    if not SAFE_ID.fullmatch(id):
        raise ValueError(f"id {id!r} {ERR_UNSAFE_ID}")
