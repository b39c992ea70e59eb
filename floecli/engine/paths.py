"""Confine a path floe resolves on a user's behalf to the directory it belongs in."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import PathOutside

__all__ = ["PathOutside", "inside", "make_inside"]

HERE = ("", ".")  # the root itself


def inside(root: Path, relative: str | os.PathLike[str], *, what: str = "path") -> Path:
    """`root / relative` with symlinks resolved, or PathOutside if that leaves `root`.

    Resolving first means `..`, an absolute path and a symlink an earlier task left in a reused
    workspace are all caught; `root` itself is allowed. Components that do not exist yet are
    kept as written (nothing is created here)."""
    text = os.fspath(relative)
    if "\x00" in text:
        raise PathOutside(f"{what} {text!r} contains a NUL character")
    if text in HERE:
        # The root itself is always allowed, so resolving it would only rename it: every
        # exec task without a sub-dir comes here, its workspace most often absolute already.
        here = os.fspath(root)
        absolute = os.path.abspath(here)
        return root if absolute == here and isinstance(root, Path) else Path(absolute)
    try:
        # os.path on strings: every task start resolves its cwd, and pathlib's resolve costs
        # several times more for the same lstat calls.
        real_root = os.path.realpath(root)
        target = os.path.realpath(os.path.join(real_root, text))
        if target != real_root:
            _refuse_loop(target)
    except (OSError, RuntimeError, ValueError) as e:  # a name too long, a symlink loop
        raise PathOutside(f"{what} {text!r} cannot be resolved: {e}") from None
    if target != real_root and not target.startswith(real_root.rstrip(os.sep) + os.sep):
        raise PathOutside(f"{what} {text!r} is outside {real_root}")
    return Path(target)


def _refuse_loop(path: str) -> None:
    # A symlink loop is left unresolved by a non-strict realpath: stat tells, as pathlib does.
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RuntimeError(f"symlink loop at {path}") from None


def make_inside(root: Path, relative: str | os.PathLike[str], *, what: str = "path",
                mode: int = 0o700) -> Path:
    """inside(), made a directory if it is not one, then checked again: a symlink swapped
    in between the check and the mkdir is still refused (the root itself needs no second
    look)."""
    target = inside(root, relative, what=what)
    if os.path.isdir(target):
        return target  # there already, resolved inside root: most task starts end here
    target.mkdir(mode=mode, parents=True, exist_ok=True)
    if os.fspath(relative) in HERE:
        return target
    return inside(root, target, what=what)
