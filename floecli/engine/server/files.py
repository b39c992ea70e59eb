"""A run's workspace over HTTP: `GET <rp>/flows/:id/runs/:rid/files/<path>` lists a directory
as JSON or streams a file as a download, never anything outside the workspace (symlinks
included: what resolves outside is not found)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from ..errors import RequestError
from ..hub.artifacts import artifacts_path
from ..hub.workspace import workspace_path
from ..pend import Pend
from ..runs import RunRecord, fmt_time
from .envelope import reply

LISTED = 5000  # entries of one directory in a listing


def inside(root: Path, rel: str) -> Path | None:
    """`rel` under `root`, resolved (symlinks followed), or None when it does not exist or
    leaves the workspace."""
    if "\x00" in rel:
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / rel.lstrip("/")).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return target if target == base or target.is_relative_to(base) else None


def _entries(base: Path, directory: Path, rel: str) -> list[dict[str, Any]]:
    out = []
    with os.scandir(directory) as it:
        for entry in sorted(it, key=lambda e: e.name)[:LISTED]:
            target = inside(base, os.path.join(rel, entry.name))
            if target is None:
                continue  # a symlink out of the workspace, or a dangling one
            st = target.stat()
            is_dir = stat.S_ISDIR(st.st_mode)
            out.append({"Name": entry.name, "Path": os.path.join(rel, entry.name).lstrip("/"),
                        "Dir": is_dir, "Size": 0 if is_dir else st.st_size,
                        "Modified": fmt_time(_mtime(st.st_mtime))})
    return out


def _mtime(t: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC)


async def serve(found: RunRecord | Pend, root: Path, rel: str) -> Response:
    """The listing or the file at `rel` of the run's workspace."""
    workspace = workspace_path(root, found.flow, found.run_id)
    kept = False
    if not workspace.is_dir():
        # Pruned (retention): what the flow named as its artifacts was kept apart.
        workspace = artifacts_path(root, found.flow.id, found.run_id)
        kept = True
        if not workspace.is_dir():
            raise RequestError(404, f"the workspace of run {found.run_id} is gone (or was "
                                    "never made)")
    target = inside(workspace, rel)
    if target is None:
        raise RequestError(404, f"no file {rel!r} in the workspace of run {found.run_id}")
    base = workspace.resolve()
    if target.is_dir():
        shown = "" if target == base else str(target.relative_to(base))
        return reply({"Path": shown, "Entries": _entries(base, target, shown),
                      "Artifacts": list(found.flow.artifacts) or None, "KeptOnly": kept})
    if not target.is_file():
        raise RequestError(404, f"{rel!r} is not a file")
    # Always a download, never rendered: a workspace file is not the dashboard's content.
    return FileResponse(target, filename=target.name, content_disposition_type="attachment",
                        media_type="application/octet-stream",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "sandbox"})


def file_path(request: Request) -> str:
    return str(request.path_params.get("path") or "")
