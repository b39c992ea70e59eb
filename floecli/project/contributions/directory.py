"""A contribution directory (bundled, local, or a git checkout) copied into the staged vendor/
as it is, with its lock entry; a directory that is a Python project is left to pip."""

from __future__ import annotations

from pathlib import Path

from ..bundles import DESCRIPTOR_FILE
from ..errors import InstallError
from ..fsutil import copy_package, file_hashes, tree_hash
from ..isolation import check_package_name
from ..lockfile import Lock, LockedContribution
from ..refs import Ref
from .checks import check_clash
from .staging import Staging

REQUIREMENTS_FILE = "requirements.txt"  # a plain contribution directory's dependencies


def install_dir(ref: Ref, path: Path, stage: Staging, lock: Lock,
                ) -> tuple[LockedContribution | None, str]:
    """The copied contribution's lock entry; or (None, pip spec) for a Python project,
    which the resolution installs."""
    if not path.is_dir():
        raise InstallError(f"no such directory: {path}")
    if (path / DESCRIPTOR_FILE).is_file():
        requires: tuple[str, ...] = ()
        if (path / REQUIREMENTS_FILE).is_file():
            requires = _requirement_lines(path / REQUIREMENTS_FILE)
        return copy_contribution(ref, path, stage, lock, requires), ""
    if (path / "pyproject.toml").is_file() or (path / "setup.py").is_file():
        return None, str(path)
    raise InstallError(f"{path} holds no {DESCRIPTOR_FILE} (not a floe contribution)")


def copy_contribution(ref: Ref, src: Path, stage: Staging, lock: Lock,
                      requires: tuple[str, ...] = ()) -> LockedContribution:
    """A contribution package directory copied as it is (bundled, local, git)."""
    from floecli.engine.contributions.descriptor import read_descriptor

    descriptor = read_descriptor(src)
    package = src.name
    if not package.isidentifier():
        raise InstallError(f"the directory name {package!r} is not an importable package "
                           "name; rename it (the engine imports the contribution by it)")
    check_package_name(package, f"{descriptor.kind} {descriptor.name}")
    check_clash(descriptor.name, descriptor.type, package, stage, lock)
    dest = stage.vendor / package
    copy_package(src, dest)
    return LockedContribution(ref.recorded, descriptor.name, descriptor.type,
                              descriptor.version, package, tree_hash(dest), ref.kind,
                              requires=requires, files=file_hashes(dest))


def _requirement_lines(path: Path) -> tuple[str, ...]:
    """The requirements of a requirements.txt (comments, blank lines and options left out)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return tuple(lines)
