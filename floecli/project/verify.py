"""Checking vendor/ against floe.lock before a build: each contribution's files against the
hashes the lock recorded and the contribution's own hash, each pip distribution's RECORD
against the lock and its files against that RECORD, and nothing else in vendor/. A file
changed since install, missing, or not installed by floe at all is named. The files the lock
accounts for are what a build packs."""

from __future__ import annotations

import base64
import csv
import hashlib
from pathlib import Path

from . import dists
from .errors import BuildError
from .fsutil import file_hashes, file_sha256, tree_hash
from .lockfile import Lock

HINT = "reinstall it (floe update REF), or build anyway with --no-verify"


class VendorTampered(BuildError):
    ref = "vendor-modified"
    hint = HINT


def verify_vendor(vendor: Path, lock: Lock) -> list[str]:
    """The POSIX paths (relative to vendor/) of every file floe.lock accounts for, once each
    was checked; VendorTampered naming the first one that differs, is missing, or is in
    vendor/ without the lock knowing it."""
    for c in lock.contributions:
        root = vendor / c.package
        if not root.is_dir():
            _fail(f"vendor/{c.package} is missing (floe.lock lists it for {c.ref})")
        if c.files:
            want, have = dict(c.files), dict(file_hashes(root))
            for rel in sorted(set(want) | set(have)):
                if want.get(rel) != have.get(rel):
                    what = "is missing" if rel not in have else (
                        "is not in floe.lock" if rel not in want else "differs from floe.lock")
                    _fail(f"vendor/{c.package}/{rel} {what} (installed from {c.ref})")
        if tree_hash(root) != c.sha256:
            _fail(f"vendor/{c.package} differs from the sha256 floe.lock records for it "
                  f"(installed from {c.ref})")
    present = dists.installed(vendor)
    for d in lock.distributions:
        dist = present.get(dists.normalize(d.name))
        if dist is None:
            _fail(f"distribution {d.pin} is missing from vendor/")
        record = dist.info / "RECORD"
        if d.record and (not record.is_file() or file_sha256(record) != d.record):
            _fail(f"vendor/{dist.info.name}/RECORD differs from floe.lock")
        for rel, digest in _record_rows(record):
            path = vendor / rel
            if not path.is_file():
                _fail(f"vendor/{rel} is missing (part of {d.pin})")
            if _record_digest(path) != digest:
                _fail(f"vendor/{rel} differs from floe.lock (part of {d.pin})")
    listed = locked_files(vendor, lock)
    known = set(listed)
    for rel in _vendor_files(vendor):
        if rel not in known:
            raise VendorTampered(
                f"vendor/{rel} is not in floe.lock: no installed contribution or "
                "distribution has it", hint="remove it (vendor/ holds only what floe "
                "install put there), or install what it belongs to with floe install")
    return listed


def locked_files(vendor: Path, lock: Lock) -> list[str]:
    """The POSIX paths, relative to vendor/, of the files floe.lock accounts for: each
    contribution's files and each distribution's RECORD entries (byte-code left out)."""
    found: set[str] = set()
    for c in lock.contributions:
        if c.files:
            found.update(f"{c.package}/{rel}" for rel, _ in c.files)
        else:
            root = vendor / c.package
            found.update(f"{c.package}/{p.relative_to(root).as_posix()}"
                         for p in _walk(root))
    present = dists.installed(vendor)
    for d in lock.distributions:
        dist = present.get(dists.normalize(d.name))
        if dist is not None:
            found.update(rel for rel in dist.files() if not _is_cache(rel))
            found.add(f"{dist.info.name}/RECORD")
    return sorted(rel for rel in found if (vendor / rel).is_file())


def _vendor_files(vendor: Path) -> list[str]:
    """Everything in vendor/ a build could pack or Python could import: every file (byte-code
    outside __pycache__ too, which imports without its source) and every symbolic link to a
    directory (not walked into, but importable)."""
    import os

    found = []
    for dirpath, dirnames, filenames in os.walk(vendor):
        here = Path(dirpath)
        found += [here / d for d in dirnames if (here / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not (here / d).is_symlink()]
        found += [here / f for f in filenames]
    return sorted(p.relative_to(vendor).as_posix() for p in found)


def _walk(root: Path) -> list[Path]:
    import os

    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        files += [Path(dirpath) / f for f in filenames if not f.endswith((".pyc", ".pyo"))]
    return files


def _is_cache(rel: str) -> bool:
    """Byte-code Python writes (never packed); a .pyc a distribution ships elsewhere is code."""
    return "__pycache__" in rel.split("/")


def _record_rows(record: Path) -> list[tuple[str, str]]:
    if not record.is_file():
        return []
    with record.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if len(r) >= 2 and r[1].startswith("sha256=")]
    return [(r[0], r[1].removeprefix("sha256=")) for r in rows
            if not r[0].startswith(("..", "/")) and "__pycache__" not in r[0]]


def _record_digest(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _fail(message: str) -> None:
    raise VendorTampered(message, hint=HINT)
