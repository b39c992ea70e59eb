"""Re-running a run with its inputs, or from a node with what came before carried over."""

from __future__ import annotations

import shutil
from pathlib import Path

import flows
import pytest
from flows import flow, merge, task

from floecli.engine.events import SYS_END_ALL
from floecli.engine.hub.rerun import RerunRefused
from floecli.engine.hub.workspace import workspace_path

# test's verdict waits (bounded) for lint's: a failing test ends the run, and a lint it
# outran would be killed unfinished, so not carried by a re-run from test.
AFTER_LINT = "for i in $(seq 1000); do [ -e lint.done ] && break; sleep 0.01; done; "


def app(tmp_path: Path, test: str = "") -> str:
    """build, then lint and test (good once tmp_path/gate is there), then deploy."""
    count, gate = tmp_path / "count", tmp_path / "gate"
    test = test or f"{AFTER_LINT}echo ran >> test.txt; cat build.txt && test -e {gate}"
    return flows.app(flow(
        "pipe",
        task("build", shell=f"echo built >> {count}; echo out > build.txt; echo ref=$FLOE_IN_REF"),
        task("lint", shell="echo lint; touch lint.done", listen="task.build.good"),
        task("test", shell=test, listen="task.build.good"),
        merge("join", "task.lint.good", "task.test.good"),
        task("deploy", shell="echo deployed", listen="merge.join.good")))


async def test_rerun_from_a_failed_node_carries_what_came_before(engine_factory, tmp_path):
    h = await engine_factory(app(tmp_path))
    first = await h.start_run("pipe", {"ref": "main"})
    end = await h.wait_tag(SYS_END_ALL, first)
    assert not end.good
    original = await h.hub.find_run("pipe", first)
    assert original.why == "test failed (exit 1)" and original.state == "bad"
    assert original.inputs == {"ref": "main"}

    (tmp_path / "gate").touch()
    pend = await h.hub.rerun("pipe", first, "test", user="ann")
    end = await h.wait_tag(SYS_END_ALL, pend.run_id)
    assert end.good
    again = await h.hub.find_run("pipe", pend.run_id)
    assert (tmp_path / "count").read_text() == "built\n"  # build ran once, in the first run
    assert again.exec_nodes["build"].carried == first
    assert again.exec_nodes["lint"].carried == first
    assert not again.exec_nodes["test"].carried and again.exec_nodes["test"].good
    assert again.merge_nodes["join"].waits == {"task.lint.good": True, "task.test.good": True}
    assert again.rerun == {"Of": first, "From": "test", "User": "ann"}
    assert h.lines(pend.run_id, "deploy")[-1] == "deployed"
    assert h.count("sys.node.start", pend.run_id) == 2  # test and deploy only
    # the workspace was copied: the original's file is there, the original's is untouched
    ws = workspace_path(h.hub.workspace_root, again.flow, pend.run_id)
    assert (ws / "build.txt").read_text() == "out\n"
    assert (ws / "test.txt").read_text() == "ran\nran\n"  # the copy, written to again
    was = workspace_path(h.hub.workspace_root, original.flow, first)
    assert (was / "test.txt").read_text() == "ran\n"


async def test_rerun_with_the_same_inputs(engine_factory, tmp_path):
    h = await engine_factory(app(tmp_path))
    (tmp_path / "gate").touch()
    first = await h.start_run("pipe", {"ref": "v1"})
    assert (await h.wait_tag(SYS_END_ALL, first)).good
    pend = await h.hub.rerun("pipe", first)
    assert (await h.wait_tag(SYS_END_ALL, pend.run_id)).good
    again = await h.hub.find_run("pipe", pend.run_id)
    assert again.inputs == {"ref": "v1"} and again.rerun["Of"] == first
    assert h.lines(pend.run_id, "build")[-1] == "ref=v1"
    assert (tmp_path / "count").read_text() == "built\nbuilt\n"


async def test_rerun_from_the_node_after_a_merge(engine_factory, tmp_path):
    # The merge before the chosen node is carried as it was, satisfied; nothing runs but
    # the chosen node.
    h = await engine_factory(app(tmp_path))
    (tmp_path / "gate").touch()
    first = await h.start_run("pipe", {"ref": "main"})
    assert (await h.wait_tag(SYS_END_ALL, first)).good
    pend = await h.hub.rerun("pipe", first, "deploy")
    assert (await h.wait_tag(SYS_END_ALL, pend.run_id)).good
    again = await h.hub.find_run("pipe", pend.run_id)
    assert {k for k, v in again.exec_nodes.items() if v.carried == first} == {
        "build", "lint", "test"}
    assert again.merge_nodes["join"].waits == {"task.lint.good": True, "task.test.good": True}
    assert h.count("sys.node.start", pend.run_id) == 1  # deploy alone
    assert h.lines(pend.run_id, "deploy")[-1] == "deployed"
    assert (tmp_path / "count").read_text() == "built\n"


async def test_rerun_refused_when_the_workspace_is_gone(engine_factory, tmp_path):
    h = await engine_factory(app(tmp_path))
    first = await h.start_run("pipe", {"ref": "main"})
    await h.wait_tag(SYS_END_ALL, first)
    record = await h.hub.find_run("pipe", first)
    shutil.rmtree(workspace_path(h.hub.workspace_root, record.flow, first))
    with pytest.raises(RerunRefused, match="its workspace is gone"):
        await h.hub.rerun("pipe", first, "test")
    with pytest.raises(RerunRefused, match="did not run"):
        await h.hub.rerun("pipe", first, "deploy")
    # from the first node nothing is carried: no workspace needed
    pend = await h.hub.rerun("pipe", first, "build")
    await h.wait_tag(SYS_END_ALL, pend.run_id)


async def test_stop_records_who(engine_factory, tmp_path):
    h = await engine_factory(app(tmp_path, test=f"sleep 30; test -e {tmp_path / 'gate'}"))
    run = await h.start_run("pipe", {"ref": "main"})
    await h.wait_for(lambda e: e.tag == "sys.node.start" and e.source_node.id == "test")
    await h.hub.stop_run("pipe", run, "ann")
    record = await h.hub.find_run("pipe", run)
    assert (record.state, record.why, record.reason) == ("stopped", "stopped by ann", "stopped")


def reused(gate: Path) -> str:
    return flows.app(flow("same",
                          task("make", shell="echo $$ > made.txt"),
                          task("use", shell=f"cat made.txt; test -e {gate}",
                               listen="task.make.good"),
                          reuse_space=True))


async def test_rerun_of_a_reuse_space_flow_uses_its_one_workspace(engine_factory, tmp_path):
    h = await engine_factory(reused(tmp_path / "gate"))
    first = await h.start_run("same")
    assert not (await h.wait_tag(SYS_END_ALL, first)).good
    record = await h.hub.find_run("same", first)
    made = (workspace_path(h.hub.workspace_root, record.flow, first) / "made.txt").read_text()
    (tmp_path / "gate").touch()
    pend = await h.hub.rerun("same", first, "use")
    assert (await h.wait_tag(SYS_END_ALL, pend.run_id)).good
    assert h.lines(pend.run_id, "use")[-1] == made.strip()  # the same file, not made again
