"""git for contributions (git-checkout, git-merge, poll-git): floecli.engine.git."""

from ..errors import GitError
from ..git import (
    DEFAULT_REFS,
    GitRef,
    changed_refs,
    check_revision,
    clone_place,
    git_env,
    looks_like_hash,
    ls_remote,
    parse_ls_remote,
    repo_name,
    run,
    stream,
)

__all__ = ["DEFAULT_REFS", "GitError", "GitRef", "changed_refs", "check_revision",
           "clone_place", "git_env",
           "looks_like_hash", "ls_remote", "parse_ls_remote", "repo_name", "run", "stream"]
