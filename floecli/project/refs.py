"""Parsing a contribution ref: a bundled name, a local directory, a git URL or a pip requirement."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .bundles import DESCRIPTOR_FILE, bundled_dir

BUNDLED = "bundled"
LOCAL = "local"
GIT = "git"
PIP = "pip"

_GIT_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@github.com:owner/repo.git


@dataclass(frozen=True)
class Ref:
    """A ref as the user wrote it (`text`) and where it points. `recorded` is what app.json
    imports and floe.lock keep: the same text, except that a relative path is re-expressed
    relative to the project, so it resolves from there whoever reads it."""

    text: str
    kind: str  # BUNDLED | LOCAL | GIT | PIP
    path: Path | None = None  # BUNDLED and LOCAL: the directory; PIP: a local wheel or project
    url: str = ""  # GIT: the repository
    rev: str = ""  # GIT: branch, tag or commit after `@`
    subdir: str = ""  # GIT: the directory inside the repository after `#`
    recorded: str = ""

    @property
    def pip_spec(self) -> str:
        """What to hand pip: a local path made absolute, anything else as written."""
        return str(self.path) if self.path is not None else self.text


def parse_ref(text: str, base: Path, home: Path | None = None) -> Ref:
    """A bundled name, a git URL or an existing (or explicitly written) local path, resolved
    against `base` (the directory of the app document or bundle naming it); everything else
    is a requirement handed to pip as it is. `home` is the project the ref is recorded in
    (default `base`)."""
    text = text.strip()
    home = home or base
    bundled = bundled_dir(text)
    if bundled is not None:
        return Ref(text, BUNDLED, path=bundled, recorded=text)
    if not text.startswith("git+") and _is_git_url(text):
        return replace(_git_ref(text), recorded=text)
    if _looks_like_path(text, base):
        path = (base / Path(text).expanduser()).resolve()
        recorded = text if Path(text).expanduser().is_absolute() else record_path(path, home)
        if path.is_file() or (path.is_dir() and not (path / DESCRIPTOR_FILE).is_file()
                              and _is_pip_project(path)):
            return Ref(text, PIP, path=path, recorded=recorded)  # a wheel, sdist or project
        return Ref(text, LOCAL, path=path, recorded=recorded)
    return Ref(text, PIP, recorded=text)


def record_path(path: Path, home: Path) -> str:
    """`path` relative to the project `home`, written `./x` or `../x` in POSIX form."""
    rel = Path(os.path.relpath(path, home.resolve())).as_posix()
    if rel == ".":
        return "."
    return rel if rel.startswith("../") or rel == ".." else f"./{rel}"


def is_path_ref(text: str) -> bool:
    """A recorded ref naming a relative local path (resolved against the project)."""
    return text.startswith(("./", "../")) or text in (".", "..")


def _is_git_url(text: str) -> bool:
    base = text.split("#", 1)[0]
    if _SCP_LIKE.match(base):
        return True
    if not base.startswith(_GIT_SCHEMES):
        return False
    return base.startswith(("ssh://", "git://")) or ".git" in base.rsplit("/", 1)[-1] or \
        ".git@" in base or base.endswith(".git")


def _git_ref(text: str) -> Ref:
    base, _, subdir = text.partition("#")
    if ".git@" in base:
        url, _, rev = base.partition(".git@")
        url += ".git"
    else:
        url, rev = base, ""
        head, at, tail = base.rpartition("@")
        if at and "/" not in tail and ":" not in tail:
            url, rev = head, tail
    return Ref(text, GIT, url=url, rev=rev, subdir=subdir.strip("/"))


def _looks_like_path(text: str, base: Path) -> bool:
    if "://" in text or " @ " in text or text.startswith("git+"):
        return False  # URLs and `name @ URL` are pip's
    if text.startswith(("./", "../", "/", "~", ".\\")) or text in (".", ".."):
        return True
    try:
        return (base / text).exists()
    except (OSError, ValueError):
        return False


def _is_pip_project(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() or (path / "setup.py").is_file()
