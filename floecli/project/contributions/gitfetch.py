"""A git ref fetched for installing: cloned into the staging directory at its revision."""

from __future__ import annotations

from pathlib import Path

from floecli.engine.errors import GitError

from ..errors import InstallError
from ..pip import Echo
from ..refs import Ref
from .staging import Staging


def clone(ref: Ref, stage: Staging, echo: Echo | None) -> tuple[Path, str]:
    """The checked-out directory and the commit sha the ref resolved to."""
    from floecli.engine import git  # the one module every part of floe uses for git

    dest = stage.scratch("git-") / git.repo_name(ref.url)
    if echo:
        echo(f"$ git clone {ref.url}" + (f" at {ref.rev}" if ref.rev else ""))
    try:
        git.clone(ref.url, dest, ref.rev)
        commit = git.run(["-C", str(dest), "rev-parse", "HEAD"]).strip()
    except GitError as e:
        raise InstallError(f"git failed: {e.detail}") from None
    return (dest / ref.subdir if ref.subdir else dest), commit
