"""The poll-git trigger against real repositories, over file:// and git daemon (§3.8, §8.9)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import flows
import pytest
from flows import flow, one_task, task, trigger_node
from gitrepo import Repo, git_daemon, git_http

from floecli.engine.git import GitRef, changed_refs, parse_ls_remote

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "server"))
from servertest import launch, wait_until

H = [f"{i:040x}" for i in range(1, 22)]
LS_REMOTE = "\n".join([
    f"{H[0]}\tHEAD",
    f"{H[1]}\trefs/heads/master",
    f"{H[2]}\trefs/heads/hoom-nag-message",
    f"{H[3]}\trefs/heads/poll-git-changes",
    f"{H[4]}\trefs/heads/feature/x",
    f"{H[5]}\trefs/pull-requests/6650/from",
    f"{H[6]}\trefs/pull-requests/6650/merge",
    f"{H[7]}\trefs/tags/ver_4.6.92",
    f"{H[8]}\trefs/tags/v_4.6.92^{{}}",
    f"{H[9]}\trefs/tags/v_4.6.92",
    f"{H[10]}\trefs/pull/2/head",
    f"{H[11]}\trefs/pull/2/merge",
    f"{H[12]}\trefs/tags/v0.1",
    f"{H[13]}\trefs/heads/develop",
    f"{H[14]}\trefs/heads/release/1.0",
    f"{H[15]}\trefs/pull/3/head",
    f"{H[16]}\trefs/tags/v0.2",
    f"{H[17]}\trefs/tags/v0.2^{{}}",
    f"{H[18]}\trefs/heads/fix-bug",
    f"{H[19]}    refs/notes/commits",
    " \t",
])


def test_parse_table():
    """floe-reference §8.9 TestParse: 21 lines, exclude poll.* → 18 refs."""
    assert len(LS_REMOTE.splitlines()) == 21
    refs = parse_ls_remote(LS_REMOTE, exclude="poll.*")
    assert len(refs) == 18
    assert "refs/heads/poll-git-changes" not in refs
    assert refs["refs/heads/hoom-nag-message"] == GitRef("hoom-nag-message", "branch", H[2])
    assert refs["refs/pull-requests/6650/from"] == GitRef("6650", "pull", H[5])
    assert refs["refs/tags/ver_4.6.92"].type == "tag"
    assert refs["refs/heads/master"] == GitRef("master", "branch", H[1])
    assert refs["refs/pull/2/head"] == GitRef("2", "pull", H[10])
    assert refs["refs/tags/v0.1"].type == "tag"
    assert refs["refs/tags/v_4.6.92^{}"] == GitRef("v_4.6.92", "tag", H[8])
    # unlike the reference, branch names keep every segment
    assert refs["refs/heads/feature/x"].name == "feature/x"
    assert refs["refs/heads/release/1.0"].name == "release/1.0"


def test_changed_refs():
    """floe-reference §8.11 TestDiffRefs (the repo-URL rule lives in the trigger)."""
    def refs(**hashes: str) -> dict[str, GitRef]:
        return {k: GitRef(k, "branch", v) for k, v in hashes.items()}

    assert changed_refs({"a": "aa", "b": "bb"}, {}) == []
    assert len(changed_refs({}, refs(a="aa", b="bb"))) == 2
    assert [r for r, _ in changed_refs({"a": "aa", "b": "bb"}, refs(a="aa", b="bb", c="cc"))] \
        == ["c"]
    changed = changed_refs({"a": "aa", "b": "bb"}, refs(a="aa", b="bbc", c="cc"))
    assert [(r, g.hash) for r, g in changed] == [("b", "bbc"), ("c", "cc")]


def app(url: str, store: str = "memory") -> str:
    """Flow p polling `url` (refs/heads/skip* left out), and flow d started by data."""
    poll = trigger_node("poll", "poll-git", url=url, period=0.2, exclude_refs="^refs/heads/skip")
    return flows.app(flow("p", task("show", "echo $FLOEWS"), triggers=[poll]),
                     one_task("d", "true", task_id="t"), store_type=store)


def runs_started(h, flow="p"):
    return [e for e in h.events if e.tag == "trigger.good" and e.run_ref.flow_ref.id == flow]


@pytest.fixture(params=["file", "daemon", "http"])
def served(request, tmp_path):
    repo = Repo(tmp_path)
    repo.commit({"README": "one"})
    if request.param == "file":
        yield repo, repo.url
        return
    serve = git_daemon if request.param == "daemon" else git_http
    with serve(tmp_path) as base:
        yield repo, f"{base}/repo.git"


async def test_baseline_then_one_run_per_change(engine_factory, served):
    repo, url = served
    h = await engine_factory(app(url))
    await h.next_poll("p", "poll")
    await h.next_poll("p", "poll")
    assert runs_started(h) == []  # the first poll only records a baseline

    new = repo.commit({"README": "two"})
    started = await h.wait_for(lambda e: e.tag == "trigger.good" and e.opts.get("hash") == new)
    assert started.opts["branch"] == "master" and started.opts["url"] == url
    await h.wait_tag("sys.end.all", started.run_ref.run_id)

    feature = repo.commit({"f": "x"}, branch="feature/x")
    repo.commit({"s": "x"}, branch="skip-me")  # excluded by exclude-refs
    second = await h.wait_for(lambda e: e.tag == "trigger.good" and e.opts.get("hash") == feature)
    assert second.opts["branch"] == "feature/x"
    await h.next_poll("p", "poll")
    await h.next_poll("p", "poll")
    assert len(runs_started(h)) == 2


async def test_restart_does_not_fire_again(engine_factory, tmp_path):
    repo = Repo(tmp_path)
    repo.commit({"README": "one"})
    first = await engine_factory(app(repo.url, store="local"))
    await first.next_poll("p", "poll")
    repo.commit({"README": "two"})
    await first.wait_for(lambda e: e.tag == "sys.end.all" and e.run_ref.flow_ref.id == "p")
    await first.engine.stop()

    moved = repo.commit({"README": "three"})  # while the engine is down
    second = await engine_factory(app(repo.url, store="local"))
    started = await second.wait_for(lambda e: e.tag == "trigger.good")
    assert started.opts["hash"] == moved
    for _ in range(3):
        await second.next_poll("p", "poll")
    assert len(runs_started(second)) == 1


async def test_deleted_repository_keeps_the_engine_alive(engine_factory, tmp_path):
    repo = Repo(tmp_path)
    repo.commit({"README": "one"})
    h = await engine_factory(app(repo.url))
    await h.next_poll("p", "poll")
    shutil.rmtree(repo.bare)
    ctx = h.trigger("p", "poll")
    await h.wait_until(lambda: ctx.last_error, what="the poll to fail")
    assert "does not appear to be a git repository" in ctx.last_error
    assert ctx.status()["Failures"] >= 1 and ctx.status()["LastErrorTime"]
    end = await h.run_to_end("d")  # the engine still runs everything else
    assert end.good
    assert runs_started(h) == []


def test_failing_poll_is_shown_in_the_api(tmp_path):
    missing = (tmp_path / "gone.git").as_uri()
    engine = launch(tmp_path, app(missing))
    try:
        with engine.client() as client:
            def status():
                r = client.get("/flows/p/triggers")
                assert r.status_code == 200, r.text
                [poll] = r.json()["Payload"]["Triggers"]
                return poll if poll["LastError"] else None

            poll = wait_until(status, what="the trigger's error in the API")
            assert poll["ID"] == "poll" and poll["Type"] == "poll-git"
            assert "gone.git" in poll["LastError"] and poll["LastErrorTime"]
            assert client.get("/flows/nope/triggers").status_code == 404
        assert "git ls-remote" in engine.stderr
    finally:
        assert engine.stop() == 0


async def test_a_branch_name_is_data_never_a_command(engine_factory, tmp_path):
    # Anyone who can push to the watched repository names branches: no login needed.
    marker = tmp_path / "m"
    repo = Repo(tmp_path)
    repo.commit({"README": "one"})
    h = await engine_factory(flows.app(flow(
        "p", task("show", shell="echo building $FLOE_IN_BRANCH"),
        triggers=[trigger_node("poll", "poll-git", url=repo.url, period=0.2)])))
    await h.next_poll("p", "poll")
    evil = "x;touch${IFS}" + str(marker)
    pushed = repo.commit({"f": "x"}, branch=evil)
    started = await h.wait_for(lambda e: e.tag == "trigger.good" and e.opts.get("hash") == pushed)
    end = await h.wait_tag("sys.end.all", started.run_ref.run_id)
    assert end.good
    assert not marker.exists()
    assert h.lines(started.run_ref.run_id, "show")[-1] == f"building {evil}"
