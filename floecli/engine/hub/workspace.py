"""Per-run workspaces: `<root>/spaces/<flow>/ws/<run>` or `.../ws/single` (floe-reference §3.5)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from ..flow import Flow


def workspace_path(root: Path, flow: Flow, run_id: str) -> Path:
    leaf = "single" if flow.reuse_space else run_id
    return root / "spaces" / flow.id / "ws" / leaf


async def prepare_workspace(path: Path, *, reuse: bool) -> None:
    """A fresh workspace starts empty; a reused one keeps its files (DECISIONS §2).

    Only removing an old tree goes to a thread (it may be large); the usual case, one mkdir
    of a new directory, is done at once: every run's activation waits for this under the
    run-state lock, so it is not preceded by a stat to see whether there is a tree."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=reuse)
    except FileExistsError:
        if reuse:
            raise  # a file where the workspace should be: never removed in its place
        # A tree left by an earlier run of that id: a fresh workspace starts empty.
        await asyncio.to_thread(shutil.rmtree, path)
        path.mkdir(mode=0o700, parents=True)
