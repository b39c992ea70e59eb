"""A flow's `artifacts` kept apart from its run's workspace when the run ends, so they
outlive the workspace (retention may prune it): `<root>/artifacts/<flow>/<run>/<path>`."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ..flow import Flow
from .workspace import workspace_path

log = logging.getLogger(__name__)


def artifacts_path(root: Path, flow_id: str, run_id: str) -> Path:
    return root / "artifacts" / flow_id / run_id


def keep_artifacts(root: Path, flow: Flow, run_id: str) -> list[str]:
    """Copy the flow's artifacts out of the run's workspace; what was kept. Only what
    resolves inside the workspace is copied (symlinks are copied as links, and the files
    route never follows one out)."""
    if not flow.artifacts:
        return []
    workspace = workspace_path(root, flow, run_id)
    try:
        base = workspace.resolve(strict=True)
    except OSError:
        return []
    dest_root = artifacts_path(root, flow.id, run_id)
    kept = []
    for name in flow.artifacts:
        rel = name.strip("/")
        try:
            src = (base / rel).resolve(strict=True)
        except OSError:
            continue  # not made by this run
        if not (src == base or src.is_relative_to(base)):
            log.warning("run %s: artifact %s leaves the workspace: not kept", run_id, name)
            continue
        dest = dest_root / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dest)
        except OSError as e:
            log.warning("run %s: artifact %s could not be kept: %s", run_id, name, e)
            continue
        kept.append(name)
    if kept:
        os.chmod(dest_root, 0o700)
    return kept
