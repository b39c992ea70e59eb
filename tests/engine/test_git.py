"""The shared git module: the env that carries common.git-key, clones and repo-file refs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from gitrepo import Repo

from floecli.engine import git
from floecli.engine.errors import GitError


def test_git_env_never_prompts_and_uses_the_key():
    env = git.git_env("/keys/id floe")
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert "-i '/keys/id floe'" in env["GIT_SSH_COMMAND"]
    assert "BatchMode=yes" in env["GIT_SSH_COMMAND"]
    assert "-i" not in git.git_env("")["GIT_SSH_COMMAND"]


def test_ls_remote_passes_the_key_to_ssh(tmp_path, monkeypatch):
    """git runs GIT_SSH_COMMAND for ssh URLs: a stand-in `ssh` records what it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "ssh-args"}\nexit 255\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(GitError) as e:
        git.ls_remote("git@example.invalid:org/repo.git", key_file=str(tmp_path / "key"))
    assert "ls-remote" in e.value.message
    args = (tmp_path / "ssh-args").read_text()
    assert f"-i {tmp_path / 'key'}" in args and "example.invalid" in args


def test_clone_at_branch_tag_and_commit(tmp_path):
    repo = Repo(tmp_path)
    first = repo.commit({"a": "1"})
    repo.tag("v1")
    repo.commit({"a": "2"})
    repo.commit({"a": "3"}, branch="dev")
    for rev, want in (("", "2"), ("dev", "3"), ("v1", "1"), (first, "1")):
        dest = git.clone(repo.url, tmp_path / f"c-{rev or 'default'}", rev)
        assert (dest / "a").read_text() == want
    assert git.read_file(repo.url, "a", "dev") == "3"
    with pytest.raises(GitError, match="nosuch"):
        git.clone(repo.url, tmp_path / "c-bad", "nosuch")


@pytest.mark.parametrize(("ref", "url", "path"), [
    ("git@github.com:floeit/floe.git/build/FLOE.yaml", "git@github.com:floeit/floe.git",
     "build/FLOE.yaml"),
    ("https://host/org/repo.git/ci/file.yml", "https://host/org/repo.git", "ci/file.yml"),
    ("file:///srv/repo.git/floe.yml", "file:///srv/repo.git", "floe.yml"),
])
def test_split_repo_path(ref, url, path):
    assert git.split_repo_path(ref) == git.RepoFile(url, path)


def test_split_repo_path_needs_a_file():
    assert git.split_repo_path("https://host/org/repo.git") is None
    assert git.split_repo_path("/local/flow.yml") is None
    assert git.repo_name("git@github.com:floeit/floe.git") == "floe"
    assert git.repo_name(Path("/x/y.git").as_uri()) == "y"


def test_works_without_gitpython(tmp_path, monkeypatch):
    """Built binaries carry no GitPython: the module drives the git binary itself."""
    import sys

    monkeypatch.setitem(sys.modules, "git", None)  # `import git` now raises ImportError
    repo = Repo(tmp_path)
    head = repo.commit({"a": "1"})
    assert git.ls_remote(repo.url)["refs/heads/master"].hash == head
    with pytest.raises(GitError, match="does not appear to be a git repository"):
        git.ls_remote((tmp_path / "nope.git").as_uri())
