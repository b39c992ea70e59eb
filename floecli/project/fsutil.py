"""File-system helpers the project commands share: atomic writes, tree hashes, copies."""

from __future__ import annotations

import os
from pathlib import Path

# hashlib, shutil and tempfile are imported where used: `floe list` reads the lock through this
# module's users and should not pay for them.

# Byte-code caches appear when a contribution is imported; they are not part of what was installed.
CACHE_NAMES = ("__pycache__",)


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader sees the old or the new file, never a torn one."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tree_hash(root: Path) -> str:
    """`sha256:<hex>` over the relative paths and contents of every file below `root`."""
    import hashlib

    h = hashlib.sha256()
    for file in sorted(_files(root), key=lambda p: p.relative_to(root).as_posix()):
        h.update(file.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(file.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def _files(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in CACHE_NAMES]
        found += [Path(dirpath) / f for f in filenames if not f.endswith((".pyc", ".pyo"))]
    return found


def copy_package(src: Path, dest: Path, *, merge: bool = False) -> None:
    """Copy a package directory, leaving byte-code caches behind; `merge` into an existing
    `dest` (a namespace package shared by several distributions)."""
    import shutil

    shutil.copytree(src, dest, dirs_exist_ok=merge,
                    ignore=shutil.ignore_patterns(*CACHE_NAMES, "*.pyc", "*.pyo", ".git"))


def remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def file_hashes(root: Path) -> tuple[tuple[str, str], ...]:
    """(POSIX path relative to `root`, sha256 hex) of every file below it, caches left out."""
    import hashlib

    return tuple(sorted((f.relative_to(root).as_posix(), hashlib.sha256(f.read_bytes()).hexdigest())
                        for f in _files(root)))


def file_sha256(path: Path) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
