"""Staging: the copy of vendor/ a contribution command works on, so the project changes only
when every ref of the command succeeded."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..appdoc import AppDocument
from ..layout import EngineProject
from ..lockfile import Lock


class Staging:
    """A copy of vendor/ to work on, and scratch space, inside the project directory (so the
    final move is a rename on one file system). Nothing of the project changes before
    commit(); leaving the block removes the staging directory."""

    def __init__(self, project: EngineProject) -> None:
        self.project = project
        self.dir = Path(tempfile.mkdtemp(prefix=".floe-stage-", dir=project.root))
        self.vendor = self.dir / "vendor"
        self._count = 0

    def __enter__(self) -> Staging:
        try:
            shutil.copytree(self.project.vendor_dir, self.vendor, symlinks=True)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def scratch(self, prefix: str) -> Path:
        self._count += 1
        path = self.dir / f"{prefix}{self._count}"
        path.mkdir()
        return path

    def commit(self, doc: AppDocument, lock: Lock) -> None:
        p = self.project
        old = self.dir / "old-vendor"
        p.vendor_dir.rename(old)
        try:
            self.vendor.rename(p.vendor_dir)
            lock.write(p.lock_file)
        except BaseException:
            if p.vendor_dir.exists():
                p.vendor_dir.rename(self.vendor)
            old.rename(p.vendor_dir)
            raise
        doc.save(p.app_file)
