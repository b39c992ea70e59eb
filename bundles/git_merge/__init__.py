"""The `git-merge` task: check out `to`, merge `from` into it (branches, tags or commits);
a conflict fails the task with the list of conflicting paths."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from floecli.engine.nodes import BaseTask, PathOutside, TaskContext, first_opt, get_opt
from floecli.engine.nodes.git import (
    GitError,
    check_revision,
    clone_place,
    looks_like_hash,
    run,
    stream,
)

BAD = 255
# Who a merge commit is by when the environment names nobody.
IDENTITY = {"GIT_AUTHOR_NAME": "floe", "GIT_AUTHOR_EMAIL": "floe@localhost",
            "GIT_COMMITTER_NAME": "floe", "GIT_COMMITTER_EMAIL": "floe@localhost"}
# The reference's names first, then what its sample data form pushes (from_hash, to_hash).
TO = ("to", "branch", "to-branch", "to_hash", "to-hash")
FROM = ("from", "from-branch", "from_hash", "from-hash")


class GitMerge(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        to, from_ = first_opt(ctx, *TO), first_opt(ctx, *FROM)
        if not to:
            ctx.log("problem getting ref option: set to (or branch)")
            return BAD
        if not from_:
            ctx.log("problem getting from ref option: set from (or from-branch)")
            return BAD
        url = str(get_opt(ctx.opts, "url", "") or "")
        key = str(get_opt(ctx.opts, "key-file", "") or "")
        try:
            # `to` and `from` may be pushed data: refs (or hashes) by git's rules, never an
            # option; the repository stays inside the workspace.
            for rev in (to, from_):
                check_revision("hash" if looks_like_hash(rev) else "ref", rev)
            parent, repo = clone_place(ctx.workspace,
                                       str(get_opt(ctx.opts, "sub-dir", "") or ""), url)
        except (GitError, PathOutside) as e:
            ctx.log(f"refused: {e}")
            return BAD
        ctx.log(f"in dir: {repo}")
        ctx.log(f"git merge: {url or repo} merge into: {to} from: {from_}")
        status = await prepare(ctx, url, parent, repo, key)
        if status != 0:
            return status
        env = {k: v for k, v in IDENTITY.items() if k not in ctx.env and k not in os.environ}
        to_rev = await asyncio.to_thread(target, repo, to)
        from_rev = await asyncio.to_thread(target, repo, from_)
        for args in (["checkout", "--quiet", "--force", to_rev, "--"],
                     ["merge", "--no-edit", "--end-of-options", from_rev]):
            ctx.log("git " + " ".join(args))
            status = await ctx.exec(["git", *args], cwd=repo, env=env)
            if status != 0:
                break
        if status != 0:
            return await failed(ctx, repo, to, from_, status)
        head = (await asyncio.to_thread(run, ["rev-parse", "HEAD"], cwd=repo)).strip()
        ctx.log(f"merged {from_} into {to}: {head}")
        ctx.output(hash=head, dir=str(repo), to=to, **{"from": from_})
        return 0


async def prepare(ctx: TaskContext, url: str, parent: Path, repo: Path, key: str) -> int:
    """A full clone of `url` (a merge needs the history back to the merge base), or the
    existing one fetched; without a url, the repository already in the workspace."""
    if not url:
        if not (repo / ".git").exists():
            ctx.log(f"{repo} is not a git repository: set url, or check it out first")
            return BAD
        return 0
    if (repo / ".git").exists():
        return await stream(ctx, ["fetch", "--tags", "origin"], cwd=repo, key_file=key)
    return await stream(ctx, ["clone", "--no-checkout", url, repo.name], cwd=parent,
                        key_file=key)


def target(repo: Path, rev: str) -> str:
    """A branch the clone only knows as `origin/<rev>` is checked out as a local branch."""
    try:
        run(["rev-parse", "--verify", "--quiet", f"refs/heads/{rev}"], cwd=repo)
        return rev
    except GitError:
        pass
    try:
        run(["rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{rev}"], cwd=repo)
        run(["branch", "--quiet", rev, f"origin/{rev}"], cwd=repo)
    except GitError:
        pass  # a tag or a commit: git resolves it as it is
    return rev


async def failed(ctx: TaskContext, repo: Path, to: str, from_: str, status: int) -> int:
    try:
        out = await asyncio.to_thread(run, ["diff", "--name-only", "--diff-filter=U"],
                                      cwd=repo)
    except GitError:
        out = ""
    conflicts = [p for p in out.splitlines() if p.strip()]
    if conflicts:
        ctx.log(f"merging {from_} into {to} conflicts in {len(conflicts)} "
                f"path{'s' if len(conflicts) != 1 else ''}:")
        for path in conflicts:
            ctx.log(f"  {path}")
        await ctx.exec(["git", "merge", "--abort"], cwd=repo)
    ctx.log("")
    ctx.log(f"exited with status: {status}")
    return status


