"""Parsing a contribution ref: a bundled name, a local directory, a git URL or a pip requirement."""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    """A ref as the user wrote it (`text`, what app.json imports and floe.lock record) and
    where it points."""

    text: str
    kind: str  # BUNDLED | LOCAL | GIT | PIP
    path: Path | None = None  # BUNDLED and LOCAL: the directory; PIP: a local wheel or project
    url: str = ""  # GIT: the repository
    rev: str = ""  # GIT: branch, tag or commit after `@`
    subdir: str = ""  # GIT: the directory inside the repository after `#`

    @property
    def pip_spec(self) -> str:
        """What to hand pip: a local path made absolute, anything else as written."""
        return str(self.path) if self.path is not None else self.text


def parse_ref(text: str, cwd: Path) -> Ref:
    text = text.strip()
    bundled = bundled_dir(text)
    if bundled is not None:
        return Ref(text, BUNDLED, path=bundled)
    if not text.startswith("git+") and (_is_git_url(text)):
        return _git_ref(text)
    if _looks_like_path(text, cwd):
        path = (cwd / Path(text).expanduser()).resolve()
        if path.is_file() or (path.is_dir() and not (path / DESCRIPTOR_FILE).is_file()
                              and _is_pip_project(path)):
            return Ref(text, PIP, path=path)  # a wheel or sdist, or a Python project directory
        return Ref(text, LOCAL, path=path)
    return Ref(text, PIP)


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


def _looks_like_path(text: str, cwd: Path) -> bool:
    return text.startswith(("./", "../", "/", "~", ".\\")) or text in (".", "..") or \
        text.endswith((".whl", ".tar.gz", ".zip")) or (cwd / text).is_dir()


def _is_pip_project(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() or (path / "setup.py").is_file()
