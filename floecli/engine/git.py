"""Every git operation floe makes, in one place: ls-remote and its parsing, clones, the env.

Synchronous calls (poll-git's ls-remote, git flow-files, `floe install` of a git ref) go
through GitPython when it is importable and through the `git` binary otherwise: GitPython is a
toolchain dependency that built binaries do not carry, and both drive the same binary. Tasks
(git-checkout, git-merge) build their command lines here and run them through their task
context, so the output streams into the node log and a stop kills them like any exec.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GitError
from .paths import inside, make_inside

if TYPE_CHECKING:
    from .nodes.api import TaskContext

DEFAULT_REFS = "refs/*"
TIMEOUT = 120.0  # a git server that stops answering must not hold a poller forever

TYPE_BRANCH = "branch"
TYPE_TAG = "tag"
TYPE_PULL = "pull"

_HEX = re.compile(r"[0-9a-fA-F]{7,64}\Z")


def git_env(key_file: str = "") -> dict[str, str]:
    """What git needs beside the engine's env: never prompt (there is nobody to answer), and
    `common.git-key` as the ssh identity (floe-reference §1.2)."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    ssh = "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
    if key_file:
        ssh += f" -o IdentitiesOnly=yes -i {shlex.quote(os.path.expanduser(key_file))}"
    env["GIT_SSH_COMMAND"] = ssh
    return env


def run(args: Sequence[str], *, cwd: Path | None = None, key_file: str = "",
        timeout: float = TIMEOUT) -> str:
    """`git <args>`'s standard output; GitError with git's own message when it fails."""
    env = {**os.environ, **git_env(key_file)}
    argv = ["git", *args]
    try:
        status, out, err = _execute(argv, cwd, env, timeout)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if status != 0:
        detail = err.strip() or out.strip() or f"exit status {status}"
        raise GitError(f"git {args[0]} failed: {detail}", detail=detail)
    return out


def _execute(argv: list[str], cwd: Path | None, env: Mapping[str, str],
             timeout: float) -> tuple[int, str, str]:
    try:
        import git as gitpython  # the toolchain has it; built binaries may not
    except ImportError:
        gitpython = None
    if gitpython is not None:
        try:
            g = gitpython.Git(str(cwd) if cwd else None)
            status, out, err = g.execute(argv, env=dict(env), with_extended_output=True,
                                         with_exceptions=False, kill_after_timeout=timeout,
                                         strip_newline_in_stdout=False)
            return int(status or 0), str(out), str(err)
        except gitpython.exc.GitCommandNotFound:
            raise FileNotFoundError("git") from None
    try:
        proc = subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout:g} s"
    return proc.returncode, proc.stdout, proc.stderr


async def stream(ctx: TaskContext, args: Sequence[str], *, cwd: Path,
                 key_file: str = "") -> int:
    """`git <args>` as a task step: the command echoed, its output lines streamed into the
    node log like exec's, its process group killed on stop or timeout; the exit status."""
    ctx.log("git " + " ".join(args))
    return await ctx.exec(["git", *args], cwd=cwd, env=git_env(key_file))


def repo_name(url: str) -> str:
    """The directory `git clone` makes for `url`: `floe` for git@github.com:floeit/floe.git."""
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git") or "repo"


def clone_place(workspace: Path, sub_dir: str, url: str) -> tuple[Path, Path]:
    """Where a git task works: its `sub-dir` (made if missing) and the clone's own directory
    in it (the url's name; the sub-dir itself without a url). Both resolve inside the
    workspace, symlinks included: a symlink planted by an earlier task, or checked out from a
    repository, must not take a clone, fetch, checkout or merge out (PathOutside)."""
    parent = make_inside(workspace, sub_dir, what="sub-dir")
    target = parent / repo_name(url) if url else parent
    inside(workspace, target, what="clone directory")
    return parent, target


# ---- ls-remote ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GitRef:
    """One ref a remote advertises (floe-reference §3.8), full branch names kept."""

    name: str  # `feature/x` for refs/heads/feature/x; `2` for refs/pull/2/head
    type: str  # branch | tag | pull
    hash: str


def parse_ls_remote(text: str, exclude: str = "") -> dict[str, GitRef]:
    """The refs of `git ls-remote` output keyed by the full ref (`refs/heads/master`).

    As the reference: lines need a hash and a ref of at least three `/` parts starting with
    `refs`; `exclude` is an unanchored regular expression on the full ref. Unlike it, branch
    and tag names keep every segment (`feature/x`, not `feature`).
    """
    pattern = re.compile(exclude) if exclude else None
    refs: dict[str, GitRef] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        sha, ref = fields[0], fields[1]
        parts = ref.split("/")
        if len(parts) < 3 or parts[0] != "refs":
            continue
        if pattern is not None and pattern.search(ref):
            continue
        if not looks_like_hash(sha) or ref_problem(ref.removesuffix("^{}")):
            continue  # not what git makes: never handed on to a task
        kind = parts[1]
        if kind.startswith("pull"):
            ref_type, name = TYPE_PULL, parts[2]
        elif kind.startswith("tag"):
            ref_type, name = TYPE_TAG, "/".join(parts[2:])
        else:
            ref_type, name = TYPE_BRANCH, "/".join(parts[2:])
        refs[ref] = GitRef(name.removesuffix("^{}"), ref_type, sha)
    return refs


def ls_remote(url: str, pattern: str = DEFAULT_REFS, *, exclude: str = "", key_file: str = "",
              timeout: float = TIMEOUT) -> dict[str, GitRef]:
    """The refs `url` advertises matching `pattern`; GitError when git cannot list them."""
    args = ["ls-remote", "--refs", url]
    if pattern:
        args.append(pattern)
    return parse_ls_remote(run(args, key_file=key_file, timeout=timeout), exclude)


def changed_refs(old: Mapping[str, str], new: Mapping[str, GitRef]) -> list[tuple[str, GitRef]]:
    """Refs that are new or moved since `old` (ref -> hash); deleted ones are not changes."""
    return [(ref, r) for ref, r in sorted(new.items()) if old.get(ref) != r.hash]


# ---- clones ------------------------------------------------------------------------------


def looks_like_hash(rev: str) -> bool:
    return bool(_HEX.match(rev))


# What git's check-ref-format refuses anywhere in a name: control characters, space and
# `~ ^ : ? * [ \`; and the sequences `..`, `@{`, `//`, `/.`.
_REF_BAD_CHAR = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.")


def ref_problem(name: str) -> str:
    """Why `name` is not a ref name git accepts, or "" when it is one. Stricter than git in
    one way: a name may never start with `-`, so it can never be read as an option."""
    if not name:
        return "is empty"
    if name.startswith("-"):
        return "starts with '-'"
    if name == "@" or _REF_BAD_CHAR.search(name):
        return "is not a valid git ref name"
    if name.startswith(("/", ".")) or name.endswith(("/", ".", ".lock")) or any(
            part.endswith(".lock") for part in name.split("/")):
        return "is not a valid git ref name"
    return ""


def check_revision(kind: str, rev: str) -> None:
    """A revision a task was given (a pushed value, a poll-git ref) as what it claims to be:
    a commit hash in hex, or a branch or tag name git accepts. GitError says what is wrong."""
    if kind == "hash":
        if not looks_like_hash(rev):
            raise GitError(f"hash {rev!r} is not a commit hash")
        return
    problem = ref_problem(rev)
    if problem:
        raise GitError(f"{kind or 'ref'} {rev!r} {problem}: refused")


def clone(url: str, dest: Path, rev: str = "", *, key_file: str = "",
          depth: int | None = 1, checkout: bool = True) -> Path:
    """`url` cloned into `dest` at `rev` (branch, tag or commit), as shallow as git allows.

    A branch or tag clones with `--depth 1 --branch`; a commit is fetched alone when the
    server allows it and otherwise by a full clone.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    shallow = ["--depth", str(depth)] if depth else []
    if not rev or not looks_like_hash(rev):
        branch = ["--branch", rev] if rev else []
        no_checkout = [] if checkout else ["--no-checkout"]
        run(["clone", "--quiet", *no_checkout, *shallow, *branch, url, str(dest)],
            key_file=key_file)
        return dest
    run(["init", "--quiet", str(dest)])
    run(["remote", "add", "origin", url], cwd=dest)
    try:
        run(["fetch", "--quiet", *shallow, "origin", rev], cwd=dest, key_file=key_file)
    except GitError:
        # Servers refuse to serve a commit that no ref names unless configured to.
        run(["fetch", "--quiet", "origin"], cwd=dest, key_file=key_file)
    # Detached at the commit; without a work tree only HEAD moves.
    run(["checkout", "--quiet", rev] if checkout else ["update-ref", "--no-deref", "HEAD", rev],
        cwd=dest)
    return dest


def read_file(url: str, path: str, rev: str = "", *, key_file: str = "") -> str:
    """The text of `path` in `url` at `rev`: a depth-1 clone without a work tree, read with
    `git show`, then removed."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="floe-flow-file-"))
    try:
        repo = tmp / "repo"
        dest = clone(url, repo, rev, key_file=key_file, checkout=False)
        return run(["show", f"HEAD:{path}"], cwd=dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- references to a file inside a repository --------------------------------------------


@dataclass(frozen=True)
class RepoFile:
    """`git@host:org/repo.git/path/FLOE.yaml` split into the repository and the file in it."""

    url: str
    path: str


def split_repo_path(ref: str) -> RepoFile | None:
    """The repository URL (ending `.git`) and the path after it, or None when `ref` does
    not name a file inside a `.git` repository."""
    marker = ".git/"
    i = ref.find(marker)
    if i < 0:
        return None
    url, path = ref[: i + len(".git")], ref[i + len(marker):].strip("/")
    return RepoFile(url, path) if path else None
