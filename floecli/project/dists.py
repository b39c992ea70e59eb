"""The pip distributions in a `pip install --target` directory: find them by name, move them
between directories, remove them by their RECORD."""

from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .fsutil import remove


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Dist:
    name: str
    version: str
    info: Path  # the .dist-info directory

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"

    def files(self) -> list[str]:
        """Paths from RECORD, relative to the target directory (scripts outside it left out)."""
        record = self.info / "RECORD"
        if not record.is_file():
            return []
        with record.open(newline="", encoding="utf-8") as f:
            rows = [row[0] for row in csv.reader(f) if row]
        return [p for p in rows if p and not p.startswith(("..", "/"))]

    def top_levels(self) -> set[str]:
        return {p.split("/", 1)[0] for p in self.files()} | {self.info.name}


def installed(target: Path) -> dict[str, Dist]:
    """Distributions in `target`, by normalized name."""
    found: dict[str, Dist] = {}
    for info in sorted(target.glob("*.dist-info")):
        name, version = _metadata(info)
        if name:
            found[normalize(name)] = Dist(name, version, info)
    return found


def _metadata(info: Path) -> tuple[str, str]:
    name = version = ""
    try:
        text = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", ""
    for line in text.splitlines():
        if not line.strip():
            break  # end of the headers
        if line.startswith("Name:") and not name:
            name = line[5:].strip()
        elif line.startswith("Version:") and not version:
            version = line[8:].strip()
    return name, version


def move_dist(dist: Dist, source: Path, dest: Path) -> None:
    """Move a distribution's top-level entries from `source` to `dest`, merging directories a
    namespace package shares with others."""
    for top in sorted(dist.top_levels()):
        src, dst = source / top, dest / top
        if not src.exists():
            continue
        if dst.is_dir() and src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True)
            shutil.rmtree(src)
        else:
            remove(dst)
            shutil.move(str(src), str(dst))


def remove_dist(dist: Dist, target: Path) -> None:
    """Delete a distribution's files and its then-empty directories; others' files stay."""
    dirs: set[Path] = set()
    for rel in dist.files():
        path = target / rel
        if path.is_file() or path.is_symlink():
            path.unlink()
        for parent in path.parents:
            if parent == target or target not in parent.parents:
                break
            dirs.add(parent)
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        shutil.rmtree(d / "__pycache__", ignore_errors=True)
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    remove(dist.info)
