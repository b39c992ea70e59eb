"""git-checkout and git-merge on real repositories made in tmp_path (§7.3, §7.4)."""

from __future__ import annotations

import os

import flows
import pytest
from gitrepo import Repo, git, git_http


def app(task: str, opts: dict, *, trigger: flows.Node | None = None,
        reuse: bool = False) -> str:
    """Flow g of one task t of type `task`, started by `trigger` (else a data trigger)."""
    return flows.app(flows.flow("g", flows.task("t", type=task, opts=opts), reuse_space=reuse,
                                triggers=[trigger or flows.data_trigger()]))


def result(h, run):
    return next(e for e in h.events if e.run_ref.run_id == run and e.tag.startswith("task.t."))


@pytest.fixture
def repo(tmp_path):
    r = Repo(tmp_path)
    r.first = r.commit({"README": "one\n"})
    r.tag("v1")
    r.second = r.commit({"README": "two\n"})
    r.feature = r.commit({"f.txt": "feature\n"}, branch="feature/x")
    return r


@pytest.mark.parametrize(("opts", "readme", "which"), [
    ({"branch": "master"}, "two\n", "second"),
    ({"branch": "feature/x"}, "two\n", "feature"),
    ({"tag": "v1"}, "one\n", "first"),
    ({"hash": "FIRST"}, "one\n", "first"),
])
async def test_checkout(engine_factory, repo, opts, readme, which):
    opts = {k: (repo.first if v == "FIRST" else v) for k, v in opts.items()}
    h = await engine_factory(app("git-checkout", {"url": repo.url, "sub-dir": "src", **opts}))
    end = await h.run_to_end("g")
    run = end.run_ref.run_id
    out = "\n".join(h.lines(run, "t"))
    assert end.good, out
    clone = h.hub.workspace_root / "spaces" / "g" / "ws" / run / "src" / "repo"
    assert (clone / "README").read_text() == readme
    assert result(h, run).opts["hash"] == getattr(repo, which)
    assert "git clone" in out or "git fetch" in out
    if "hash" not in opts:  # a shallow clone: one commit
        assert git("rev-list", "--count", "HEAD", cwd=clone) == "1"


async def test_checkout_of_a_reused_workspace_fetches(engine_factory, repo):
    h = await engine_factory(app("git-checkout", {"url": repo.url}, reuse=True))
    first = await h.run_to_end("g", {"branch": "master"})
    assert first.good
    second = await h.run_to_end("g", {"branch": "feature/x"})
    run = second.run_ref.run_id
    out = "\n".join(h.lines(run, "t"))
    assert second.good, out
    assert "reusing the clone" in out
    assert result(h, run).opts["hash"] == repo.feature


async def test_checkout_bad_url_is_a_bad_task(engine_factory, tmp_path):
    h = await engine_factory(app("git-checkout", {"url": (tmp_path / "nope.git").as_uri(),
                                                  "branch": "master"}))
    end = await h.run_to_end("g")
    out = "\n".join(h.lines(end.run_ref.run_id, "t"))
    assert not end.good
    assert "does not appear to be a git repository" in out and "exited with status: 128" in out


async def test_checkout_over_http(engine_factory, repo, tmp_path):
    with git_http(tmp_path) as base:
        h = await engine_factory(app("git-checkout", {"url": f"{base}/repo.git",
                                                      "branch": "feature/x"}))
        end = await h.run_to_end("g")
    run = end.run_ref.run_id
    assert end.good, h.lines(run, "t")
    clone = h.hub.workspace_root / "spaces" / "g" / "ws" / run / "repo"
    assert (clone / "f.txt").read_text() == "feature\n"
    assert result(h, run).opts["hash"] == repo.feature


async def test_checkout_from_a_remote_asking_for_a_password_fails_at_once(engine_factory,
                                                                          repo, tmp_path):
    # Nobody can type a password into an engine: git is told never to prompt, so the task is
    # bad with git's reason instead of waiting on a terminal forever.
    with git_http(tmp_path, password="secret") as base:
        h = await engine_factory(app("git-checkout", {"url": f"{base}/repo.git",
                                                      "branch": "master"}))
        end = await h.run_to_end("g")
    out = "\n".join(h.lines(end.run_ref.run_id, "t"))
    assert not end.good
    assert "Authentication failed" in out and "exited with status: 128" in out


async def test_checkout_from_a_poll_git_trigger(engine_factory, repo):
    h = await engine_factory(app(
        "git-checkout", {"url": repo.url},
        trigger=flows.trigger_node("poll", "poll-git", url=repo.url, period=0.2)))
    await h.next_poll("g", "poll")
    new = repo.commit({"new.txt": "x\n"}, branch="feature/y")
    started = await h.wait_for(lambda e: e.tag == "trigger.good")
    assert started.opts["branch"] == "feature/y"
    end = await h.wait_tag("sys.end.all", started.run_ref.run_id)
    run = end.run_ref.run_id
    assert end.good, h.lines(run, "t")
    assert result(h, run).opts["hash"] == new
    clone = h.hub.workspace_root / "spaces" / "g" / "ws" / run / "repo"
    assert (clone / "new.txt").is_file()


async def test_merge_clean(engine_factory, repo):
    h = await engine_factory(app("git-merge", {"url": repo.url, "to": "master",
                                               "from": "feature/x"}))
    end = await h.run_to_end("g")
    run = end.run_ref.run_id
    assert end.good, h.lines(run, "t")
    clone = h.hub.workspace_root / "spaces" / "g" / "ws" / run / "repo"
    assert (clone / "f.txt").read_text() == "feature\n"
    assert (clone / "README").read_text() == "two\n"
    assert git("rev-parse", "HEAD", cwd=clone) == result(h, run).opts["hash"]


async def test_merge_conflict_lists_the_paths(engine_factory, repo):
    repo.commit({"README": "master side\n", "other.txt": "a\n"}, branch="master")
    repo.commit({"README": "feature side\n", "other.txt": "b\n"}, branch="feature/x")
    h = await engine_factory(app("git-merge", {"url": repo.url, "branch": "master",
                                               "from-branch": "feature/x"}))
    end = await h.run_to_end("g")
    lines = h.lines(end.run_ref.run_id, "t")
    assert not end.good
    assert "merging feature/x into master conflicts in 2 paths:" in lines
    assert "  README" in lines and "  other.txt" in lines


async def test_merge_without_refs_is_a_bad_task(engine_factory, repo):
    h = await engine_factory(app("git-merge", {"url": repo.url, "to": "master"}))
    end = await h.run_to_end("g")
    assert not end.good
    assert "problem getting from ref option" in "\n".join(h.lines(end.run_ref.run_id, "t"))


# ---- pushed data is never an option, a path outside the workspace never a target ----------

@pytest.mark.parametrize("remote", ["file-url", "local-path"])
async def test_a_pushed_branch_is_never_read_as_an_option(engine_factory, repo, tmp_path,
                                                          remote):
    marker = tmp_path / "M"
    url = repo.url if remote == "file-url" else str(repo.bare)
    h = await engine_factory(app("git-checkout", {"url": url}, reuse=True))
    first = await h.run_to_end("g", {"branch": "master"})
    assert first.good  # the clone a second run reuses: `git fetch` would see the option
    evil = f"--upload-pack=touch {marker};git-upload-pack"
    second = await h.run_to_end("g", {"branch": evil})
    assert not second.good
    assert not marker.exists()
    assert h.lines(second.run_ref.run_id, "t")[-1] == (
        f"refused: branch {evil!r} starts with '-': refused")


@pytest.mark.parametrize(("kind", "why"), [("tag", "starts with '-': refused"),
                                           ("hash", "is not a commit hash")])
async def test_a_pushed_tag_or_hash_is_never_read_as_an_option(engine_factory, repo, tmp_path,
                                                                kind, why):
    marker = tmp_path / "M"
    h = await engine_factory(app("git-checkout", {"url": repo.url}, reuse=True))
    assert (await h.run_to_end("g", {"branch": "master"})).good  # a clone to fetch into
    evil = f"--upload-pack=touch {marker};git-upload-pack"
    end = await h.run_to_end("g", {kind: evil})
    assert not end.good
    assert not marker.exists()
    assert h.lines(end.run_ref.run_id, "t")[-1] == f"refused: {kind} {evil!r} {why}"


@pytest.mark.parametrize("rev", ["a..b", "x y", "x~1", "refs/heads/x.lock", "@{-1}"])
async def test_a_pushed_branch_must_be_a_ref_name(engine_factory, repo, rev):
    h = await engine_factory(app("git-checkout", {"url": repo.url}))
    end = await h.run_to_end("g", {"branch": rev})
    assert not end.good
    assert "is not a valid git ref name: refused" in h.lines(end.run_ref.run_id, "t")[-1]


async def test_merge_refs_are_never_options(engine_factory, repo, tmp_path):
    marker = tmp_path / "M"
    h = await engine_factory(app("git-merge", {"url": repo.url, "to": "master"}))
    end = await h.run_to_end("g", {"from": f"--upload-pack=touch {marker}"})
    assert not end.good
    assert not marker.exists()
    assert "starts with '-': refused" in h.lines(end.run_ref.run_id, "t")[-1]


@pytest.mark.parametrize("task", ["git-checkout", "git-merge"])
@pytest.mark.parametrize("sub_dir", ["../..", "ABSOLUTE", "a/../../x"])
async def test_a_git_sub_dir_may_not_leave_the_workspace(engine_factory, repo, task, sub_dir,
                                                         tmp_path):
    if sub_dir == "ABSOLUTE":
        sub_dir = str(tmp_path / "outside")
    opts = {"url": repo.url, "sub-dir": sub_dir, "branch": "master", "to": "master",
            "from": "feature/x"}
    h = await engine_factory(app(task, opts))
    end = await h.run_to_end("g")
    assert not end.good
    assert h.lines(end.run_ref.run_id, "t")[-1].startswith(
        f"refused: sub-dir '{sub_dir}' is outside ")
    # nothing was made where the sub-dir points, outside the workspace
    ws = h.hub.workspace_root / "spaces" / "g" / "ws" / end.run_ref.run_id
    assert not os.path.lexists(os.path.join(os.path.normpath(ws / sub_dir), "repo"))
    assert not (tmp_path / "outside").exists()


async def test_a_symlinked_sub_dir_left_by_an_earlier_task_is_refused(engine_factory, repo,
                                                                      tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    h = await engine_factory(flows.app(flows.flow(
        "g",
        flows.task("plant", shell=f"ln -s {outside} src"),
        flows.task("t", type="git-checkout", listen="task.plant.good",
                   opts={"url": repo.url, "sub-dir": "src"}))))
    end = await h.run_to_end("g")
    assert not end.good
    assert list(outside.iterdir()) == []
    assert "is outside" in h.lines(end.run_ref.run_id, "t")[-1]


@pytest.mark.parametrize("task", ["git-checkout", "git-merge"])
@pytest.mark.parametrize("outside_is", ["empty", "a-clone"])
async def test_a_symlink_where_the_clone_goes_is_not_followed_out(engine_factory, repo, task,
                                                                  outside_is, tmp_path):
    # The clone's own directory (named after the url) planted as a symlink by an earlier task
    # (or by a repository checked out before): nothing is cloned, fetched or checked out there.
    outside = tmp_path / "outside"
    if outside_is == "empty":
        outside.mkdir()
    else:
        git("clone", "--quiet", str(repo.bare), str(outside))
    before = sorted(p.name for p in outside.iterdir())
    head = git("rev-parse", "HEAD", cwd=outside) if outside_is == "a-clone" else ""
    h = await engine_factory(flows.app(flows.flow(
        "g",
        flows.task("plant", shell=f"ln -s {outside} repo"),
        flows.task("t", type=task, listen="task.plant.good",
                   opts={"url": repo.url, "branch": "feature/x", "to": "master",
                         "from": "feature/x"}))))
    end = await h.run_to_end("g")
    assert not end.good
    assert sorted(p.name for p in outside.iterdir()) == before
    if head:
        assert git("rev-parse", "HEAD", cwd=outside) == head
        assert git("status", "--porcelain", cwd=outside) == ""
    ws = h.hub.workspace_root / "spaces" / "g" / "ws" / end.run_ref.run_id
    assert h.lines(end.run_ref.run_id, "t")[-1] == (
        f"refused: clone directory '{ws.resolve() / 'repo'}' is outside {ws.resolve()}")
