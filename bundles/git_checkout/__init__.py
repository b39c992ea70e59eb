"""The `git-checkout` task: a repository cloned into the workspace at a branch, tag or commit,
as shallow as git allows; a clone already in a reused workspace is fetched and checked out."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floecli.engine.nodes import BaseTask, PathOutside, TaskContext, first_opt, get_opt
from floecli.engine.nodes.git import GitError, check_revision, clone_place, run, stream

BAD = 255


def revision(ctx: TaskContext) -> tuple[str, str]:
    """(kind, rev): the most exact one given wins: a commit, then a tag, then a branch."""
    for kind in ("hash", "tag", "branch"):
        rev = first_opt(ctx, kind)
        if rev:
            return kind, rev
    return "", ""


def key_file(opts: Mapping[str, Any]) -> str:
    return str(get_opt(opts, "key-file", "") or "")


class GitCheckout(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        # The repository comes from the node's own opts only: pushed data picks a revision,
        # never what is cloned (DECISIONS §2).
        url = str(get_opt(ctx.opts, "url", "") or "")
        if not url:
            ctx.log("problem getting git url option")
            return BAD
        kind, rev = revision(ctx)
        try:
            # A revision may be pushed data: it must be what it claims (git's ref rules,
            # never a leading `-`), and it is passed where git cannot read it as an option.
            if kind:
                check_revision(kind, rev)
            parent, target = clone_place(ctx.workspace,
                                         str(get_opt(ctx.opts, "sub-dir", "") or ""), url)
        except (GitError, PathOutside) as e:
            ctx.log(f"refused: {e}")
            return BAD
        key = key_file(ctx.opts)
        ctx.log(f"in dir: {parent}")
        if (target / ".git").exists():
            status = await update(ctx, target, kind, rev, key)
        else:
            status = await clone(ctx, url, parent, target, kind, rev, key)
        if status != 0:
            ctx.log("")
            ctx.log(f"exited with status: {status}")
            return status
        try:
            head = (await asyncio.to_thread(run, ["rev-parse", "HEAD"], cwd=target)).strip()
        except GitError as e:
            ctx.log(str(e))
            return BAD
        ctx.log(f"checked out {head} in {target}")
        outputs = {kind: rev} if kind else {}
        ctx.output(**{**outputs, "url": url, "hash": head, "dir": str(target)})
        return 0


async def clone(ctx: TaskContext, url: str, parent: Path, target: Path, kind: str, rev: str,
                key: str) -> int:
    if kind != "hash":
        branch = ["--branch", rev] if rev else []
        return await stream(ctx, ["clone", *branch, "--depth", "1", "--end-of-options", url,
                                  target.name],
                            cwd=parent, key_file=key)
    # A commit cannot be cloned by name: an empty repository fetches just that commit,
    # or everything when the server will not serve unadvertised commits.
    for args, cwd in ((["init", "--quiet", target.name], parent),
                      (["remote", "add", "origin", url], target)):
        status = await stream(ctx, args, cwd=cwd)
        if status != 0:
            return status
    status = await stream(ctx, ["fetch", "--depth", "1", "--end-of-options", "origin", rev],
                          cwd=target,
                          key_file=key)
    if status != 0:
        status = await stream(ctx, ["fetch", "origin"], cwd=target, key_file=key)
    if status != 0:
        return status
    return await stream(ctx, ["checkout", "--quiet", "--force", rev, "--"], cwd=target)


async def update(ctx: TaskContext, target: Path, kind: str, rev: str, key: str) -> int:
    """A clone left in a reused workspace: fetch what is asked for and check it out."""
    ctx.log(f"reusing the clone in {target}")
    fetch = ["fetch", "--depth", "1", "--end-of-options", "origin"] + ([rev] if rev else [])
    if kind == "tag":
        fetch = ["fetch", "--depth", "1", "--end-of-options", "origin",
                 f"refs/tags/{rev}:refs/tags/{rev}"]
    status = await stream(ctx, fetch, cwd=target, key_file=key)
    if status != 0 and kind == "hash":
        status = await stream(ctx, ["fetch", "origin"], cwd=target, key_file=key)
    if status != 0:
        return status
    if kind == "branch":
        return await stream(ctx, ["checkout", "--quiet", "--force", "-B", rev, "FETCH_HEAD"],
                            cwd=target)
    return await stream(ctx, ["checkout", "--quiet", "--force", rev if kind else "FETCH_HEAD",
                              "--"], cwd=target)
