"""A flow's body from a flow-file: local, http (through the download cache) and git (file://
and git daemon), at the polled revision; an unloadable one starts nothing, visibly (§1.8)."""

from __future__ import annotations

import logging

import pytest
from fileserver import serve_files
from gitrepo import Repo, git_daemon

BODY = """\
name: from-file
tasks:
  - {name: say, listen: trigger.good, type: exec, opts: {cmd: "echo WORD"}}
  - {name: never, listen: task.nobody.good, type: exec, opts: {cmd: "true"}}
"""


def body(word: str) -> str:
    return BODY.replace("WORD", word)


def app(ref: str, trigger: str = "{name: start, type: data}") -> str:
    return f"""
    flows:
      - id: ff
        ver: 1
        flow-file: "{ref}"
        triggers: [{trigger}]
    """


async def said(h, end) -> list[str]:
    assert end.good, h.lines(end.run_ref.run_id, "say")
    return h.lines(end.run_ref.run_id, "say")[3:]


async def test_local_file(engine_factory, tmp_path):
    (tmp_path / "flow.yml").write_text(body("local"))
    h = await engine_factory(app("flow.yml"))  # relative to the app document
    assert await said(h, await h.run_to_end("ff")) == ["local"]


async def test_http_file_through_the_download_cache(engine_factory):
    with serve_files({"/flows/flow.yml": body("web").encode()}) as srv:
        h = await engine_factory(app(srv.url("/flows/flow.yml")))
        assert await said(h, await h.run_to_end("ff")) == ["web"]
        srv.files["/flows/flow.yml"] = body("new").encode()  # same size, new text
        assert await said(h, await h.run_to_end("ff")) == ["new"]
    assert list(h.hub.cache_dir.rglob("flow.yml"))


@pytest.mark.parametrize("transport", ["file", "daemon"])
async def test_git_file(engine_factory, tmp_path, transport):
    repo = Repo(tmp_path)
    repo.commit({"ci/FLOE.yaml": body("git")})
    if transport == "file":
        h = await engine_factory(app(f"{repo.url}/ci/FLOE.yaml"))
        assert await said(h, await h.run_to_end("ff")) == ["git"]
        return
    with git_daemon(tmp_path) as base:
        h = await engine_factory(app(f"{base}/repo.git/ci/FLOE.yaml"))
        assert await said(h, await h.run_to_end("ff")) == ["git"]


async def test_git_file_at_the_polled_revision(engine_factory, tmp_path):
    repo = Repo(tmp_path)
    repo.commit({"FLOE.yaml": body("master")})
    poll = f'{{name: poll, type: poll-git, opts: {{url: "{repo.url}", period: 0.2}}}}'
    h = await engine_factory(app(f"{repo.url}/FLOE.yaml", trigger=poll))
    await h.next_poll("ff", "poll")
    new = repo.commit({"FLOE.yaml": body("feature")}, branch="feature/z")
    end = await h.wait_for(lambda e: e.tag == "sys.end.all" and e.run_ref.flow_ref.id == "ff")
    assert await said(h, end) == ["feature"]
    started = next(e for e in h.events if e.tag == "trigger.good")
    assert started.opts["hash"] == new


async def test_git_file_at_the_triggers_branch(engine_factory, tmp_path):
    repo = Repo(tmp_path)
    repo.commit({"FLOE.yaml": body("master")})
    repo.commit({"FLOE.yaml": body("release")}, branch="release")
    h = await engine_factory(app(f"{repo.url}/FLOE.yaml",
                                 trigger="{name: start, type: data, opts: {branch: release}}"))
    assert await said(h, await h.run_to_end("ff")) == ["release"]


def broken_refs(tmp_path, srv, repo):
    return {
        "local": ("missing.yml", "No such file or directory"),
        "web": (srv.url("/gone.yml"), "404 Not Found"),
        "git": (f"{repo.url}/no/such.yml", "does not exist"),
        "invalid": ("bad.yml", "id and name can not both be empty"),
    }


@pytest.mark.parametrize("kind", ["local", "web", "git", "invalid"])
async def test_unloadable_flow_file_starts_nothing(engine_factory, tmp_path, caplog, kind):
    (tmp_path / "bad.yml").write_text("tasks:\n  - {listen: trigger.good}\n")
    repo = Repo(tmp_path)
    repo.commit({"FLOE.yaml": body("x")})
    with serve_files({}) as srv:
        ref, problem = broken_refs(tmp_path, srv, repo)[kind]
        h = await engine_factory(app(ref) + """
      - id: other
        ver: 1
        triggers: [{name: start, type: data}]
        tasks: [{name: t, listen: trigger.good, type: exec, opts: {cmd: "true"}}]
    """)
        with caplog.at_level(logging.ERROR, logger="floecli.engine.hub.hub"):
            assert await h.hub.submit(h.hub.config.latest_flow("ff").ref, "start") == []
            failed = await h.wait_tag("sys.trigger.error")
    assert failed.source_node.id == "start" and failed.run_ref.flow_ref.id == "ff"
    assert ref in failed.opts["error"] and problem in failed.opts["error"]
    assert failed.opts["flow-file"] == ref
    assert any(ref in r.getMessage() and problem in r.getMessage() for r in caplog.records)
    assert h.count("sys.state") == 0  # no pend
    status = h.trigger("ff", "start").status()
    assert problem in status["LastError"]
    assert (await h.run_to_end("other")).good  # the engine carries on
