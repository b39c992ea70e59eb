"""Confine a path floe resolves on a user's behalf to the directory it belongs in."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import PathOutside

__all__ = ["PathOutside", "inside", "make_inside"]


def inside(root: Path, relative: str | os.PathLike[str], *, what: str = "path") -> Path:
    """`root / relative` with symlinks resolved, or PathOutside if that leaves `root`.

    Resolving first means `..`, an absolute path and a symlink an earlier task left in a reused
    workspace are all caught; `root` itself is allowed. Components that do not exist yet are
    kept as written (nothing is created here)."""
    text = os.fspath(relative)
    if "\x00" in text:
        raise PathOutside(f"{what} {text!r} contains a NUL character")
    try:
        real_root = Path(root).resolve()
        target = (real_root / text).resolve()
    except (OSError, RuntimeError) as e:  # a name too long, a symlink loop
        raise PathOutside(f"{what} {text!r} cannot be resolved: {e}") from None
    if target != real_root and real_root not in target.parents:
        raise PathOutside(f"{what} {text!r} is outside {real_root}")
    return target


def make_inside(root: Path, relative: str | os.PathLike[str], *, what: str = "path",
                mode: int = 0o700) -> Path:
    """inside(), created as a directory, then checked again: a symlink swapped in between
    the check and the mkdir is still refused."""
    target = inside(root, relative, what=what)
    target.mkdir(mode=mode, parents=True, exist_ok=True)
    return inside(root, target, what=what)
